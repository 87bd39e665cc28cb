// Language consistency by Unicode script detection over UTF-8; see format_reward.hpp.
// Invalid UTF-8 bytes are skipped, never read past the end.
#include <cstdint>
#include <string>

#include "rewards/format_reward.hpp"

namespace aha::rewards {
namespace {

enum class script : std::uint8_t {
  none, latin, greek, cyrillic, armenian, hebrew, arabic, devanagari, bengali, thai, hangul, kana, han
};

script script_of(char32_t c) {
  if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')) return script::latin;
  if ((c >= 0xC0 && c <= 0x24F && c != 0xD7 && c != 0xF7) || (c >= 0x1E00 && c <= 0x1EFF)) return script::latin;
  if (c >= 0x370 && c <= 0x3FF) return script::greek;
  if (c >= 0x400 && c <= 0x52F) return script::cyrillic;
  if (c >= 0x530 && c <= 0x58F) return script::armenian;
  if (c >= 0x590 && c <= 0x5FF) return script::hebrew;
  if ((c >= 0x600 && c <= 0x6FF) || (c >= 0x750 && c <= 0x77F) || (c >= 0x8A0 && c <= 0x8FF) ||
      (c >= 0xFB50 && c <= 0xFDFF) || (c >= 0xFE70 && c <= 0xFEFF)) {
    bool arabic_digit = (c >= 0x660 && c <= 0x669) || (c >= 0x6F0 && c <= 0x6F9);
    bool punctuation = c == 0x60C || c == 0x61B || c == 0x61F || c == 0x6D4;
    return arabic_digit || punctuation ? script::none : script::arabic;
  }
  if (c >= 0x900 && c <= 0x97F) return script::devanagari;
  if (c >= 0x980 && c <= 0x9FF) return script::bengali;
  if (c >= 0xE00 && c <= 0xE7F) return script::thai;
  if ((c >= 0x1100 && c <= 0x11FF) || (c >= 0x3130 && c <= 0x318F) || (c >= 0xAC00 && c <= 0xD7AF)) return script::hangul;
  if ((c >= 0x3040 && c <= 0x30FF && c != 0x30FB && c != 0x30FC) || (c >= 0x31F0 && c <= 0x31FF)) return script::kana;
  if ((c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0xF900 && c <= 0xFAFF) ||
      (c >= 0x20000 && c <= 0x2A6DF))
    return script::han;
  return script::none;
}

// Decodes one UTF-8 code point at s[i], advancing i; invalid bytes decode to U+FFFD.
char32_t next_code_point(std::string_view s, std::size_t& i) {
  unsigned char b = static_cast<unsigned char>(s[i++]);
  if (b < 0x80) return b;
  int extra = b >= 0xF0 && b < 0xF8 ? 3 : b >= 0xE0 ? 2 : b >= 0xC0 ? 1 : -1;
  if (extra < 0 || i + static_cast<std::size_t>(extra) > s.size()) return 0xFFFD;
  char32_t c = b & (0x3F >> extra);
  for (int k = 0; k < extra; ++k) {
    unsigned char cont = static_cast<unsigned char>(s[i]);
    if ((cont & 0xC0) != 0x80) return 0xFFFD;
    c = (c << 6) | (cont & 0x3F);
    ++i;
  }
  return c;
}

// The scripts a language is written in, as a bit set over `script`.
std::uint32_t bit(script s) { return 1u << static_cast<unsigned>(s); }

std::uint32_t scripts_of(std::string_view lang) {
  std::string l;
  for (char c : lang) l += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (l == "zh" || l == "cjk" || l == "han" || l == "chinese") return bit(script::han);
  if (l == "ja" || l == "japanese") return bit(script::han) | bit(script::kana);
  if (l == "ko" || l == "hangul" || l == "korean") return bit(script::hangul) | bit(script::han);
  if (l == "ru" || l == "uk" || l == "bg" || l == "sr" || l == "cyrillic" || l == "russian") return bit(script::cyrillic);
  if (l == "ar" || l == "fa" || l == "ur" || l == "arabic") return bit(script::arabic);
  if (l == "he" || l == "hebrew") return bit(script::hebrew);
  if (l == "hi" || l == "mr" || l == "ne" || l == "devanagari" || l == "hindi") return bit(script::devanagari);
  if (l == "bn" || l == "bengali") return bit(script::bengali);
  if (l == "th" || l == "thai") return bit(script::thai);
  if (l == "el" || l == "greek") return bit(script::greek);
  if (l == "hy" || l == "armenian") return bit(script::armenian);
  static const char* const latin[] = {"en", "fr", "de", "es", "it", "pt", "nl", "sv", "da", "no", "fi", "pl",
                                      "cs", "ro", "hu", "tr", "vi", "id", "ms", "sw", "latin", "english"};
  for (const char* code : latin) if (l == code) return bit(script::latin);
  return 0;
}

}  // namespace

float language_consistency(std::string_view text, std::string_view language) {
  std::uint32_t wanted = scripts_of(language);
  if (wanted == 0) return 0.0f;
  std::size_t words = 0, in_language = 0;
  script run = script::none;
  std::size_t run_length = 0;
  auto close_run = [&] {
    // A lone ASCII letter is a math variable, not a word.
    if (run != script::none && !(run == script::latin && run_length == 1)) {
      ++words;
      if (wanted & bit(run)) ++in_language;
    }
    run = script::none;
    run_length = 0;
  };
  for (std::size_t i = 0; i < text.size();) {
    if (text[i] == '\\') {  // LaTeX command: skip its name
      close_run();
      ++i;
      while (i < text.size() && ((text[i] >= 'a' && text[i] <= 'z') || (text[i] >= 'A' && text[i] <= 'Z'))) ++i;
      continue;
    }
    script s = script_of(next_code_point(text, i));
    if (s != run || s == script::han || s == script::kana) close_run();
    run = s;
    ++run_length;
  }
  close_run();
  return words == 0 ? 1.0f : static_cast<float>(in_language) / static_cast<float>(words);
}

}  // namespace aha::rewards
