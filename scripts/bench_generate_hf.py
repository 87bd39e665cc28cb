#!/usr/bin/env python3
"""The transformers side of `aha bench generate`: times transformers' generate() on a Hugging Face
folder (the checkpoint aha benches, written by save_pretrained / `aha convert`) for GRPO-style
groups: --groups random prompts of --prompt tokens, each sampled --group-size times
(num_return_sequences, as TRL asks for groups), --new-tokens each (min_new_tokens forces the full
length: no early stop), temperature 1, no top-k/top-p, float32, --threads intra-op threads.

Modes:
  --serve   after loading, reads one line per run from stdin ("run" or "quit") and answers each
            with one JSON line {"seconds", "tokens", "tokens_per_s"}; `aha bench generate` drives
            it so that the two sides run alternately in one process lifetime each.
  default   one warm-up and --repeats timed runs, one JSON line each.
A developer-time reference: needs torch and transformers, e.g.
  python3 -m venv build/hf-venv && build/hf-venv/bin/pip install torch transformers
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # stdout/stderr stay one JSON line per run
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch
from transformers import AutoModelForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--groups", type=int, default=2)
    ap.add_argument("--group-size", type=int, default=8)
    ap.add_argument("--prompt", type=int, default=64)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--serve", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32).to(a.device).eval()
    gen = torch.Generator().manual_seed(7)
    ids = torch.randint(3, model.config.vocab_size, (a.groups, a.prompt), generator=gen).to(a.device)
    kw = dict(do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=a.new_tokens,
              min_new_tokens=a.new_tokens, num_return_sequences=a.group_size, pad_token_id=0,
              attention_mask=torch.ones_like(ids))

    def run():
        if a.device != "cpu":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.no_grad():
            out = model.generate(ids, **kw)
        if a.device != "cpu":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        tokens = out.shape[0] * (out.shape[1] - a.prompt)
        return {"seconds": seconds, "tokens": tokens, "tokens_per_s": tokens / seconds}

    run()  # warm-up
    if a.serve:
        print(json.dumps({"ready": True, "torch": torch.__version__,
                          "transformers": __import__("transformers").__version__}), flush=True)
        for line in sys.stdin:
            if line.strip() != "run":
                break
            print(json.dumps(run()), flush=True)
        return
    for _ in range(a.repeats):
        print(json.dumps(run()), flush=True)


if __name__ == "__main__":
    main()
