#!/usr/bin/env python3
"""Peer measurement for `aha bench generate --transformers-python PY`: transformers generate()
throughput on the same random checkpoint (a Hugging Face folder aha wrote), same batch, prompt
length, new tokens, sampling at temperature 1 with no early stop. Prints one JSON line."""
import argparse
import json
import time

import torch
from transformers import AutoModelForCausalLM

ap = argparse.ArgumentParser()
ap.add_argument("--model", required=True)
ap.add_argument("--batch", type=int, required=True)
ap.add_argument("--prompt", type=int, required=True)
ap.add_argument("--new-tokens", type=int, required=True)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--device", default="cpu")
a = ap.parse_args()
torch.set_num_threads(a.threads)
model = AutoModelForCausalLM.from_pretrained(a.model, torch_dtype=torch.float32).to(a.device).eval()
ids = torch.randint(3, model.config.vocab_size, (a.batch, a.prompt), device=a.device)
kw = dict(do_sample=True, temperature=1.0, top_k=0, top_p=1.0, max_new_tokens=a.new_tokens,
          min_new_tokens=a.new_tokens, pad_token_id=0)
with torch.no_grad():
    model.generate(ids, **kw)  # warm-up
    if a.device != "cpu":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = model.generate(ids, **kw)
    if a.device != "cpu":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
tokens = a.batch * (out.shape[1] - a.prompt)
print(json.dumps({"seconds": seconds, "tokens": tokens, "tokens_per_s": tokens / seconds}))
