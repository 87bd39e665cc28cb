// tokenizer: the interface the sampling engine and the recipes use, implemented by
// char_tokenizer (built-in tasks) and bpe_tokenizer (Hugging Face tokenizer.json).
// Ids are int32. Not thread-unsafe: implementations are immutable after construction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aha::model {

class tokenizer {
 public:
  virtual ~tokenizer() = default;
  // Text -> ids. Special/added tokens written in the text (e.g. "<|im_end|>") become their ids.
  // No BOS/EOS is added: callers prepend bos_id() themselves when the model wants one.
  virtual std::vector<int32_t> encode(std::string_view text) const = 0;
  // Ids -> bytes (UTF-8 when the ids came from encode; a cut through a multi-byte character
  // gives its partial bytes). Special tokens decode to their text.
  virtual std::string decode(const int32_t* ids, size_t count) const = 0;
  std::string decode(const std::vector<int32_t>& ids) const { return decode(ids.data(), ids.size()); }
  virtual int64_t vocab_size() const = 0;
  // The id of a token given by its exact text (special tokens included), if it exists.
  virtual std::optional<int32_t> token_id(std::string_view token) const = 0;
  virtual int32_t pad_id() const = 0;
  virtual int32_t bos_id() const = 0;  // -1 when the tokenizer has none
  virtual int32_t eos_id() const = 0;  // -1 when the tokenizer has none
};

}  // namespace aha::model
