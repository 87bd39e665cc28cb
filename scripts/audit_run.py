#!/usr/bin/env python3
"""Audits a finished `aha train` run from its artifacts alone, trusting none of aha's own figures.

  python3 scripts/audit_run.py RUN_DIR [--aha build/aha]

1. What was trained on: every SFT example (RUN_DIR/sft_examples.jsonl) and every consumed GRPO
   group (`aha replay inspect RUN_DIR/replay --json --all`, read-only RocksDB dump).
2. What was evaluated: every eval sample (RUN_DIR/eval_<stage>.jsonl).
3. The overlap of the two, with a normalisation written here independently of aha's C++ (task,
   trimmed text, runs of white space collapsed, ASCII lowered), and the held-out accuracy
   re-graded here: addition/arithmetic by integer comparison of the <answer> text with the
   prompt's own arithmetic, countdown by exact rational evaluation of the answer expression.
Prints one table and a final JSON line; exits 1 when any held-out prompt was trained on.
"""
import argparse
import ast
import json
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path


def key(task, text):
    return task + "\n" + re.sub(r"[ \t\n\r\f\v]+", " ", text).strip(" ").translate(
        str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"))


def answer_of(completion):
    m = list(re.finditer(r"<answer>(.*?)</answer>", completion, re.S))
    return m[-1].group(1).strip() if m else None


def exact(node):
    """Exact value of an expression of integers and + - * / ( ), or None."""
    if isinstance(node, ast.Expression):
        return exact(node.body)
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return Fraction(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in (ast.Add, ast.Sub, ast.Mult, ast.Div):
        a, b = exact(node.left), exact(node.right)
        if a is None or b is None or (type(node.op) is ast.Div and b == 0):
            return None
        return {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b, ast.Div: a / b if b else None}[type(node.op)]
    return None


def numbers_used(node):
    return sorted(n.value for n in ast.walk(node) if isinstance(n, ast.Constant))


def regrade(task, prompt, completion):
    answer = answer_of(completion)
    if answer is None:
        return False
    if task in ("addition", "arithmetic"):
        expression = prompt.rstrip("=").strip()
        if not re.fullmatch(r"[0-9+\-*() ]+", expression) or not re.fullmatch(r"-?[0-9]+", answer):
            return False
        expression = re.sub(r"\b0+(\d)", r"\1", expression)  # padded operands ("07+85"); Python rejects 07
        return int(answer) == exact(ast.parse(expression, mode="eval"))
    if task == "countdown":
        m = re.fullmatch(r"([0-9,]+)->([0-9]+):", prompt.strip())
        if not m or not re.fullmatch(r"[0-9+\-*/() ]+", answer) or len(answer) > 64:
            return False
        try:
            tree = ast.parse(answer, mode="eval")
        except SyntaxError:
            return False
        offered = sorted(int(n) for n in m.group(1).split(","))
        used = numbers_used(tree)
        pool = list(offered)
        for n in used:
            if n not in pool:
                return False
            pool.remove(n)
        return exact(tree) == Fraction(int(m.group(2)))
    return None  # a task this script cannot grade


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--aha", default=str(Path(__file__).resolve().parent.parent / "build" / "aha"))
    args = parser.parse_args()
    run = Path(args.run_dir)

    trained = set()
    sft_file = run / "sft_examples.jsonl"
    sft_lines = 0
    if sft_file.exists():
        for line in sft_file.open():
            record = json.loads(line)
            trained.add(key(record["task"], record["prompt"]))
            sft_lines += 1
    grpo_groups = 0
    if (run / "replay").exists():
        dump = subprocess.run([args.aha, "replay", "inspect", str(run / "replay"), "--json", "--all"],
                              check=True, capture_output=True, text=True).stdout
        for group in json.loads(dump)["groups"]:
            if group.get("consumed"):
                trained.add(key(group["task"], group["prompt"]))
                grpo_groups += 1

    result = {"run_dir": str(run), "sft_examples": sft_lines, "grpo_groups": grpo_groups,
              "trained_problems_unique": len(trained), "stages": {}}
    overlap_total = 0
    for eval_file in sorted(run.glob("eval_*.jsonl")):
        stage = eval_file.stem[len("eval_"):]
        prompts, correct, samples, regraded_disagree = set(), 0, 0, 0
        for line in eval_file.open():
            s = json.loads(line)
            prompts.add(key(s["task"], s["prompt"]))
            verdict = regrade(s["task"], s["prompt"], s["completion"])
            if verdict is None:
                verdict = s["correct"]
            correct += verdict
            samples += 1
            regraded_disagree += verdict != s["correct"]
        overlap = len(prompts & trained)
        overlap_total = max(overlap_total, overlap)
        result["stages"][stage] = {"prompts_unique": len(prompts), "train_eval_overlap": overlap,
                                   "pass_at_1_regraded": correct / samples if samples else 0.0,
                                   "disagreements_with_aha": regraded_disagree}
        print(f"{stage:>12}: {len(prompts)} distinct held-out prompts, {overlap} trained on; "
              f"re-graded pass@1 {correct / max(samples, 1):.3f} ({regraded_disagree} disagreements with aha)")
    print(f"trained on {len(trained)} distinct problems ({sft_lines} SFT examples, {grpo_groups} consumed groups)")
    result["train_eval_overlap"] = overlap_total
    print(json.dumps(result))
    return 1 if overlap_total else 0


if __name__ == "__main__":
    sys.exit(main())
