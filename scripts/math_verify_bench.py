#!/usr/bin/env python3
"""Runs the Python `math-verify` package on a JSONL file of {"gold", "pred"} records.

Used by `aha bench grade` to compare speed and verdicts with the C++ verifier on the same cases.
Bare gold answers are wrapped in $...$ first, as math-verify's documentation asks of golds
(it otherwise misreads e.g. "(x+19)^2"). Writes one line per record to OUT ("1" correct, "0" wrong, "E" exception) and prints one JSON
line {"seconds": total verify time, "checks": n}. Usage: math_verify_bench.py IN.jsonl OUT.txt
"""
import json
import sys
import time

from math_verify import parse, verify


def as_gold(text: str) -> str:
    return text if ("$" in text or "\\boxed" in text or "\\(" in text) else f"${text}$"


def main() -> None:
    source, out_path = sys.argv[1], sys.argv[2]
    records = [json.loads(line) for line in open(source, encoding="utf-8") if line.strip()]
    verdicts = []
    start = time.perf_counter()
    for record in records:
        try:
            ok = verify(parse(as_gold(record["gold"])), parse(record["pred"]))
            verdicts.append("1" if ok else "0")
        except Exception:  # math-verify raises on some inputs; count it as its own verdict
            verdicts.append("E")
    seconds = time.perf_counter() - start
    with open(out_path, "w", encoding="utf-8") as out:
        out.write("\n".join(verdicts) + "\n")
    print(json.dumps({"seconds": seconds, "checks": len(records)}))


if __name__ == "__main__":
    main()
