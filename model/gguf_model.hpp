// gguf_model: a GGUF file (gguf.hpp) as an aha model — the llama/qwen2 architecture metadata as a
// model_config, llama.cpp's tensor names (token_embd, blk.N.attn_q, ...) mapped onto the
// transformer's Hugging Face names with every tensor dequantized to float32 (llama's Q/K rows
// un-permuted from llama.cpp's rope layout), and the tokenizer rebuilt from the metadata
// (tokenizer.ggml.tokens/merges/token_type, special ids, chat template) as the tokenizer.json and
// tokenizer_config.json a Hugging Face folder carries, so `aha convert` can write them out.
// Byte-level BPE ("gpt2" tokenizer model) only; SentencePiece GGUFs are rejected by name.
// Tests: gguf.test.cpp (hand-built files), tests/gguf_parity.test.cpp (SmolLM2 vs transformers).
#pragma once

#include <string>

#include "core/result.hpp"
#include "model/bpe_tokenizer.hpp"
#include "model/gguf.hpp"
#include "model/model_config.hpp"
#include "model/transformer.hpp"

namespace aha::model {

// True when `path` is a regular file starting with the GGUF magic.
bool is_gguf_file(const std::string& path);

// general.architecture "llama" or "qwen2" -> the transformer's config. Errors name the key.
result<model_config> gguf_model_config(const gguf_file& file);
// The Hugging Face parameter name of a llama.cpp tensor name ("" when it has none).
std::string gguf_to_hf_name(const std::string& gguf_name);
// Fills every parameter of `model` (built from gguf_model_config) from the file.
status load_gguf_weights(transformer& model, const gguf_file& file);
// open + config + a new model + weights.
result<transformer> load_gguf_model(const std::string& path);

// The tokenizer files a Hugging Face folder would carry for this model.
struct gguf_tokenizer_files {
  std::string tokenizer_json;
  std::string tokenizer_config_json;  // bos/eos/pad/unk tokens, chat_template, add_bos_token
  bool add_bos = false;               // tokenizer.ggml.add_bos_token
};
result<gguf_tokenizer_files> gguf_tokenizer(const gguf_file& file);
// gguf_tokenizer, then bpe_tokenizer::from_json on it.
result<bpe_tokenizer> load_gguf_tokenizer(const std::string& path);

}  // namespace aha::model
