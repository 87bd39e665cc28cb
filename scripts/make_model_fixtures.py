#!/usr/bin/env python3
"""Creates the cross-implementation fixtures under model/testdata/ (developer-time only).

Needs PyPI `torch`, `transformers`, `tokenizers`, `safetensors` (e.g. python3 -m venv /tmp/v &&
/tmp/v/bin/pip install torch transformers tokenizers safetensors). Writes:
  tokenizers/{qwen2,llama3,gpt2}.tokenizer.json  a small byte-level BPE trained here, in three
                                                 pre-tokenizer styles; cases.json: texts -> ids
  qwen2/  random tiny Qwen2 (bf16 safetensors, untied head) + reference.safetensors (ids, logits)
  llama/  random tiny Llama (f32, sharded + index.json, tied head, llama3 rope scaling) + reference
Run: python3 scripts/make_model_fixtures.py [output dir, default model/testdata]
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

QWEN2_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
LLAMA3_PATTERN = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>", "<answer>", "</answer>"]

CORPUS = [
    "The quick brown fox jumps over the lazy dog. It's 12:45 and we've got 3 apples; they'll last.",
    "What is 17 * 23? Let me think: 17 * 20 = 340 and 17 * 3 = 51, so the answer is 391.",
    "def add(a, b):\n    return a + b\n\nprint(add(2, 3))  # 5\n",
    "你好，世界！今天天气很好。我们一起学习机器学习。",
    "こんにちは世界。日本語のテキストです。",
    "Привет, мир! Как дела? Всё хорошо.",
    "مرحبا بالعالم. كيف حالك؟",
    "Café, naïve, résumé, coöperate, Ångström, façade.",
    "Emoji: 😀 👋🏽 🇺🇳 👨‍👩‍👧 🚀✨",
    "   indented    text\twith\ttabs\n\n\nand   runs   of   spaces   ",
    "<think>2 + 2 = 4</think> <answer>4</answer>",
] * 20

CASES = [
    "Hello world",
    "It's DON'T we'll I'M you've",
    "What is 123456789 + 42? The answer is 123456831.",
    "你好，世界！机器学习",
    "こんにちは、世界",
    "Привет, мир!",
    "مرحبا بالعالم",
    "Cafe\u0301 vs Café (decomposed vs composed)",
    "😀👋🏽 🇺🇳 👨‍👩‍👧 emoji🚀",
    "a   b\n\n\t  c   ",
    "    leading and trailing    ",
    "\n\n\n",
    " ",
    "",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<think>2+2 is 4</think> <answer>4</answer><|endoftext|>",
    "tab\tnew\r\nline\rcarriage",
    "ÿþ\u00a0non-breaking\u2003em-space\u3000ideographic",
    "zero\u200bwidth and \U0001F9EC dna, \u00bd half, \u2163 roman four, \u0663 arabic three",
    "x" * 40 + " " + "ab" * 30,
]


def train_tokenizer():
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=700, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    return json.loads(tok.to_str())


def variants(base):
    qwen2 = json.loads(json.dumps(base))
    llama3 = json.loads(json.dumps(base))
    llama3["normalizer"] = None
    llama3["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {"Regex": LLAMA3_PATTERN}
    llama3["model"]["ignore_merges"] = True
    gpt2 = json.loads(json.dumps(base))
    gpt2["normalizer"] = None
    gpt2["pre_tokenizer"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
    return {"qwen2": qwen2, "llama3": llama3, "gpt2": gpt2}


def write_tokenizers(out):
    d = os.path.join(out, "tokenizers")
    os.makedirs(d, exist_ok=True)
    cases = {"texts": CASES}
    for name, spec in variants(train_tokenizer()).items():
        text = json.dumps(spec, ensure_ascii=False)
        with open(os.path.join(d, f"{name}.tokenizer.json"), "w", encoding="utf-8") as f:
            f.write(text)
        tok = Tokenizer.from_str(text)
        cases[name] = [tok.encode(t, add_special_tokens=False).ids for t in CASES]
    with open(os.path.join(d, "cases.json"), "w", encoding="utf-8") as f:
        json.dump(cases, f, ensure_ascii=False)
    return Tokenizer.from_file(os.path.join(d, "qwen2.tokenizer.json")).get_vocab_size()


def reference(model, vocab, path):
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(0, vocab, (3, 13), generator=g)
    with torch.no_grad():
        logits = model(input_ids=ids).logits.float()
    save_file({"input_ids": ids.to(torch.int64), "logits": logits.contiguous()}, path)


def write_models(out, vocab):
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM
    torch.manual_seed(0)
    qcfg = Qwen2Config(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                       rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=False)
    q = Qwen2ForCausalLM(qcfg).eval()
    with torch.no_grad():  # random biases (zero by default) so the bias path is exercised
        for layer in q.model.layers:
            for p in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                p.bias.normal_(0, 0.5)
    q = q.to(torch.bfloat16).to(torch.float32)  # stored as bf16: reference from the rounded weights
    qdir = os.path.join(out, "qwen2")
    q.to(torch.bfloat16).save_pretrained(qdir, safe_serialization=True)
    reference(q.to(torch.float32), vocab, os.path.join(qdir, "reference.safetensors"))

    torch.manual_seed(1)
    lcfg = LlamaConfig(vocab_size=vocab, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                       num_attention_heads=6, num_key_value_heads=2, head_dim=8, max_position_embeddings=128,
                       rope_theta=500000.0, rms_norm_eps=1e-5, tie_word_embeddings=True,
                       rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                     "high_freq_factor": 4.0, "original_max_position_embeddings": 16})
    m = LlamaForCausalLM(lcfg).eval()
    ldir = os.path.join(out, "llama")
    m.save_pretrained(ldir, safe_serialization=True, max_shard_size="60KB")
    reference(m, vocab, os.path.join(ldir, "reference.safetensors"))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "model", "testdata")
    vocab = write_tokenizers(out)
    write_models(out, vocab)
    print("fixtures written to", os.path.abspath(out))


if __name__ == "__main__":
    main()
