// model_config: the architecture of a decoder-only transformer, read from / written to a Hugging
// Face config.json (model_type "llama" or "qwen2"), plus the built-in tiny character model.
// Not the model itself (transformer.hpp) nor training settings. Tested in model_config.test.cpp.
#pragma once

#include <cstdint>
#include <string>

#include "core/result.hpp"

namespace aha::model {

// rope_scaling from config.json. kind "none" when absent; "linear" divides positions by factor;
// "llama3" rescales low frequencies (Llama 3.1+). Other kinds (yarn, dynamic) are rejected.
struct rope_scaling {
  std::string kind = "none";
  double factor = 1.0;
  double low_freq_factor = 1.0;                    // llama3 only
  double high_freq_factor = 4.0;                   // llama3 only
  int64_t original_max_position_embeddings = 8192;  // llama3 only
};

struct model_config {
  std::string model_type = "llama";  // "llama" or "qwen2" (only changes the defaults below)
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;          // d
  int64_t intermediate_size = 0;    // SwiGLU inner width
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;  // H
  int64_t num_key_value_heads = 0;  // Hkv; H % Hkv == 0 (grouped-query attention)
  int64_t head_dim = 0;             // D; hidden_size / H unless config.json says otherwise
  int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  rope_scaling scaling;
  bool attention_bias = false;  // q/k/v bias (qwen2: always true)
  bool mlp_bias = false;
  bool tie_word_embeddings = false;
  int64_t bos_token_id = -1;  // -1: none
  int64_t eos_token_id = -1;  // first one when config.json lists several
  std::string torch_dtype = "float32";  // what the checkpoint stores; aha computes in float32 on CPU
};

// Parses config.json text. Errors name the key and what was expected.
result<model_config> parse_model_config(const std::string& json_text);
// Serialises in the form transformers reads (architectures, model_type, all fields above).
std::string to_config_json(const model_config& config);
// Checks internal consistency (positive sizes, H % Hkv == 0, supported model_type/rope kind).
status validate(const model_config& config);

// Parameter count of a model built from this config (embedding + layers + head if untied).
int64_t parameter_count(const model_config& config);

// The built-in tiny model for the character tokenizer (char_tokenizer.hpp): d=128, 4 layers,
// 4 heads (2 KV heads), SwiGLU 384, tied head; about 0.8M parameters.
model_config tiny_config(int64_t vocab_size);
// A ~100M-parameter Llama-shaped config for benchmarks (random weights).
model_config bench_100m_config(int64_t vocab_size);

}  // namespace aha::model
