// unicode_text: the Unicode pieces of byte-level BPE, on ICU (Debian libicu-dev): regex splitting
// with \p{L}/\p{N} classes on UTF-8 (byte offsets), NFC normalisation, and GPT-2's reversible
// byte <-> printable-code-point mapping. Not tokenization itself (bpe_tokenizer.hpp).
#pragma once

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace aha::model {

// A compiled ICU regex, shareable between threads (each split makes its own matcher).
class unicode_regex {
 public:
  static result<unicode_regex> compile(const std::string& pattern);
  // "Isolated" split: the matches and the gaps between them, in order, empty pieces dropped.
  std::vector<std::string_view> split_isolated(std::string_view utf8) const;

 private:
  std::shared_ptr<const void> pattern_;  // icu::RegexPattern, type-erased to keep ICU out of this header
};

// NFC normal form of UTF-8 text.
std::string nfc(std::string_view utf8);

// GPT-2's byte-level alphabet: byte b -> one printable code point (as UTF-8), and back.
struct byte_level_map {
  byte_level_map();
  std::string encode(std::string_view bytes) const;   // raw bytes -> mapped UTF-8
  std::string decode(std::string_view mapped) const;  // mapped UTF-8 -> raw bytes (other code points kept)
  std::array<std::string, 256> byte_to_text;
  std::array<int, 512> code_point_to_byte;  // -1 when the code point is not a mapped byte
};

// Splits UTF-8 text into its code points (each as a UTF-8 substring). Invalid bytes stand alone.
std::vector<std::string> utf8_characters(std::string_view utf8);

}  // namespace aha::model
