// hf_checkpoint: load and save a Hugging Face model folder — config.json, model.safetensors or
// sharded model-0000x-of-0000y.safetensors + model.safetensors.index.json, tokenizer files — so
// checkpoints from the Hub run here and aha's checkpoints are read back by transformers/vLLM.
// Not the format itself (safetensors.hpp). Tests: hf_checkpoint.test.cpp.
#pragma once

#include <string>

#include "core/result.hpp"
#include "model/model_config.hpp"
#include "model/transformer.hpp"

namespace aha::model {

// Reads <dir>/config.json.
result<model_config> read_model_config(const std::string& dir);

// Fills every parameter of `model` from <dir>'s safetensors (single file or sharded index).
// Errors name the tensor and what was expected: missing tensor, shape mismatch, bad dtype,
// corrupt file. Tensors the model does not use (e.g. a tied lm_head) are ignored.
status load_weights(transformer& model, const std::string& dir);

// read_model_config + a new model + load_weights; `dir` may also name a GGUF file (gguf_model.hpp).
result<transformer> load_pretrained(const std::string& dir);

struct save_options {
  std::string dtype = "F32";        // F32, BF16 or F16 (config.json's torch_dtype follows)
  std::string tokenizer_from;       // copy tokenizer.json, tokenizer_config.json, special_tokens_map.json,
                                    // generation_config.json from this folder when non-empty;
                                    // a GGUF file: tokenizer.json / tokenizer_config.json rebuilt from its metadata
};

// Writes <dir>/config.json and <dir>/model.safetensors (creating dir), plus tokenizer files.
status save_pretrained(transformer& model, const std::string& dir, const save_options& options = {});

}  // namespace aha::model
