// char_tokenizer: the character vocabulary of the built-in tiny model. One id per printable
// ASCII character plus '\n' and '\t'; specials <pad>=0 <bos>=1 <eos>=2 <unk>=3; and the R1
// template tags <think> </think> <answer> </answer> as single tokens (ids 4..7) so the tiny model
// spends no capacity spelling them. Any other byte sequence (non-ASCII) encodes as one <unk> per
// code point, so decode(encode(s)) == s holds for ASCII text only. Tests: char_tokenizer.test.cpp.
#pragma once

#include <array>

#include "model/tokenizer.hpp"

namespace aha::model {

class char_tokenizer final : public tokenizer {
 public:
  char_tokenizer();
  std::vector<int32_t> encode(std::string_view text) const override;
  using tokenizer::decode;
  std::string decode(const int32_t* ids, size_t count) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(pieces_.size()); }
  std::optional<int32_t> token_id(std::string_view token) const override;
  int32_t pad_id() const override { return 0; }
  int32_t bos_id() const override { return 1; }
  int32_t eos_id() const override { return 2; }
  int32_t unk_id() const { return 3; }

 private:
  std::vector<std::string> pieces_;  // id -> text
  std::array<int32_t, 128> ascii_;   // byte -> id, -1 when the byte has no id
};

}  // namespace aha::model
