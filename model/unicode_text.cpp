// unicode_text implementation. ICU's UText over UTF-8 makes match offsets byte offsets, so no
// UTF-16 round trip is needed for splitting.
#include "model/unicode_text.hpp"

#include <unicode/normalizer2.h>
#include <unicode/regex.h>
#include <unicode/unistr.h>
#include <unicode/utext.h>

namespace aha::model {

result<unicode_regex> unicode_regex::compile(const std::string& pattern) {
  UErrorCode status = U_ZERO_ERROR;
  UParseError parse_error{};
  std::shared_ptr<icu::RegexPattern> compiled(
      icu::RegexPattern::compile(icu::UnicodeString::fromUTF8(pattern), 0, parse_error, status));
  if (U_FAILURE(status) || !compiled)
    return make_error(errc::invalid_argument, "regex \"" + pattern + "\" does not compile (ICU: " + u_errorName(status) +
                                                  " at offset " + std::to_string(parse_error.offset) + ")");
  unicode_regex r;
  r.pattern_ = std::move(compiled);
  return r;
}

std::vector<std::string_view> unicode_regex::split_isolated(std::string_view utf8) const {
  std::vector<std::string_view> pieces;
  UErrorCode status = U_ZERO_ERROR;
  UText* text = utext_openUTF8(nullptr, utf8.data(), static_cast<int64_t>(utf8.size()), &status);
  auto* pattern = static_cast<const icu::RegexPattern*>(pattern_.get());
  std::unique_ptr<icu::RegexMatcher> matcher(pattern->matcher(status));
  matcher->reset(text);
  size_t last = 0;
  while (matcher->find(status) && U_SUCCESS(status)) {
    const auto begin = static_cast<size_t>(matcher->start64(status));
    const auto end = static_cast<size_t>(matcher->end64(status));
    if (end == begin) continue;
    if (begin > last) pieces.push_back(utf8.substr(last, begin - last));
    pieces.push_back(utf8.substr(begin, end - begin));
    last = end;
  }
  if (last < utf8.size()) pieces.push_back(utf8.substr(last));
  matcher.reset();
  utext_close(text);
  return pieces;
}

std::string nfc(std::string_view utf8) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* normalizer = icu::Normalizer2::getNFCInstance(status);
  auto input = icu::UnicodeString::fromUTF8(icu::StringPiece(utf8.data(), static_cast<int32_t>(utf8.size())));
  if (U_FAILURE(status) || normalizer->isNormalized(input, status)) return std::string(utf8);
  std::string out;
  normalizer->normalize(input, status).toUTF8String(out);
  return out;
}

namespace {
std::string code_point_utf8(int cp) {
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}
}  // namespace

byte_level_map::byte_level_map() {
  code_point_to_byte.fill(-1);
  int next = 256;  // bytes without a printable code point of their own get 256, 257, ...
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    const int cp = printable ? b : next++;
    byte_to_text[b] = code_point_utf8(cp);
    code_point_to_byte[cp] = b;
  }
}

std::string byte_level_map::encode(std::string_view bytes) const {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) out += byte_to_text[b];
  return out;
}

std::string byte_level_map::decode(std::string_view mapped) const {
  std::string out;
  for (const auto& ch : utf8_characters(mapped)) {
    int cp = -1;
    const auto c0 = static_cast<unsigned char>(ch[0]);
    if (ch.size() == 1) cp = c0;
    if (ch.size() == 2) cp = ((c0 & 0x1F) << 6) | (static_cast<unsigned char>(ch[1]) & 0x3F);
    if (cp >= 0 && cp < 512 && code_point_to_byte[cp] >= 0) out += static_cast<char>(code_point_to_byte[cp]);
    else out += ch;
  }
  return out;
}

std::vector<std::string> utf8_characters(std::string_view s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 1;
    if (i + n > s.size()) n = 1;
    out.emplace_back(s.substr(i, n));
    i += n;
  }
  return out;
}

}  // namespace aha::model
