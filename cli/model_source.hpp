// model_source: what `aha generate`, `aha score` and `aha convert` open from a --model PATH — a
// GGUF file (model/gguf_model.hpp), a Hugging Face folder, or an aha checkpoint (a Hugging Face
// folder whose aha_tokenizer.json names the built-in character vocabulary) — as one transformer,
// its tokenizer and the tokenizer_config.json text that carries the chat template.
// Tested by scripts/test_model_cli.sh (CTest cli.model_commands).
#pragma once

#include <memory>
#include <string>

#include "core/result.hpp"
#include "model/tokenizer.hpp"
#include "model/transformer.hpp"

namespace aha::cli {

struct model_source {
  std::string kind;  // "gguf" or "folder"
  model::transformer model{nullptr};
  std::shared_ptr<const model::tokenizer> tokenizer;
  std::string tokenizer_config_json;  // "" when the source has none
  bool add_bos = false;               // prepend the tokenizer's BOS (GGUF add_bos_token / tokenizer_config add_bos_token)
};

result<model_source> open_model_source(const std::string& path);

}  // namespace aha::cli
