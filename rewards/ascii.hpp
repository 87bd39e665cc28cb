// ASCII character classes for the rewards parsers: inline, locale-free (std::isalpha depends on
// the process locale and can call bytes of UTF-8 text letters), and cheap on megabyte inputs.
#pragma once

namespace aha::rewards::ascii {

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
inline bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }
inline bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }
inline char to_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace aha::rewards::ascii
