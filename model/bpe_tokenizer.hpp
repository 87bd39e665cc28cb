// bpe_tokenizer: byte-level BPE from a Hugging Face tokenizer.json (GPT-2, Llama 3, Qwen2 style),
// matching the `tokenizers` library's ids: added/special tokens split first (leftmost-longest),
// then the normalizer (none or NFC), the pre-tokenizer (ByteLevel with its GPT-2 regex, or
// Split(regex, Isolated) + ByteLevel, Digits), rank-ordered merges (ignore_merges honoured), and the
// ByteLevel decoder. Unsupported components are rejected by name; added tokens' lstrip/rstrip/
// single_word flags are not applied. Tests: bpe_tokenizer.test.cpp.
#pragma once

#include <memory>
#include <string>

#include "core/result.hpp"
#include "model/tokenizer.hpp"

namespace aha::model {

class bpe_tokenizer final : public tokenizer {
 public:
  // Parses tokenizer.json text. special_tokens: optional tokenizer_config.json text naming
  // bos_token / eos_token / pad_token (else they are guessed from common names).
  static result<bpe_tokenizer> from_json(const std::string& tokenizer_json, const std::string& tokenizer_config_json = "");
  // Reads <dir>/tokenizer.json and, when present, <dir>/tokenizer_config.json.
  static result<bpe_tokenizer> from_folder(const std::string& dir);

  std::vector<int32_t> encode(std::string_view text) const override;
  using tokenizer::decode;
  std::string decode(const int32_t* ids, size_t count) const override;
  int64_t vocab_size() const override;
  std::optional<int32_t> token_id(std::string_view token) const override;
  int32_t pad_id() const override;
  int32_t bos_id() const override;
  int32_t eos_id() const override;

  struct impl;

 private:
  std::shared_ptr<const impl> impl_;  // immutable: copies share it, encode is thread-safe
};

}  // namespace aha::model
