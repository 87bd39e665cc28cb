// LaTeX clean-up before parsing: spacing commands, \left/\right, fraction variants, $ signs,
// double-escaped commands (\\frac), Unicode operators, number-format quirks (1 000, 1000,99).
// Pure string rewriting; knows nothing of the grammar. Tested through math_verifier.test.cpp.
#include <array>
#include <cctype>
#include <utility>

#include "rewards/ascii.hpp"
#include "rewards/math_expr.hpp"

namespace aha::rewards::detail {
namespace {

bool is_alpha(char c) { return ascii::is_alpha(c); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Commands dropped entirely (they only change spacing or size).
constexpr std::array<std::string_view, 24> kDropped = {
    "\\left", "\\right", "\\bigl", "\\bigr", "\\Bigl", "\\Bigr", "\\biggl", "\\biggr", "\\big",
    "\\Big", "\\bigg", "\\displaystyle", "\\textstyle", "\\limits", "\\qquad", "\\quad", "\\,",
    "\\;", "\\:", "\\!", "\\ ", "\\mathrm", "\\mathbf", "\\boldsymbol"};

// Unicode spellings mapped to what the parser reads.
constexpr std::array<std::pair<std::string_view, std::string_view>, 18> kUnicode = {{
    {"\xe2\x88\x92", "-"}, {"\xc3\x97", "*"}, {"\xc2\xb7", "*"}, {"\xc3\xb7", "/"},
    {"\xe2\x89\xa4", "\\le "}, {"\xe2\x89\xa5", "\\ge "}, {"\xe2\x89\xa0", "\\ne "},
    {"\xe2\x88\x9e", "\\infty "}, {"\xcf\x80", "\\pi "}, {"\xe2\x88\x9a", "\\sqrt "},
    {"\xc2\xb0", "^\\circ "}, {"\xe2\x88\xaa", "\\cup "}, {"\xe2\x88\x88", "\\in "},
    {"\xe2\x82\xac", " "}, {"\xc2\xa3", " "}, {"\xe2\x80\xa6", "\\ldots "},
    {"\xef\xbc\x8c", ","}, {"\xe3\x80\x82", " "}}};

bool starts_with_at(std::string_view s, std::size_t i, std::string_view p) {
  return s.size() - i >= p.size() && s.compare(i, p.size(), p) == 0;
}

// Rewrites the backslash sequence at in[i] into `out`; returns the bytes consumed (0: none).
std::size_t rewrite_backslash(std::string_view in, std::size_t i, std::string& out) {
  if (starts_with_at(in, i, "\\\\") && i + 2 < in.size() && is_alpha(in[i + 2])) return 1;  // "\\frac": one escape too many
  if (starts_with_at(in, i, "\\\\\\\\")) { out += "\\\\"; return 4; }  // a row break escaped twice
  if (starts_with_at(in, i, "\\\\")) { out += "\\\\"; return 2; }      // a row break stays whole
  if ((starts_with_at(in, i, "\\!") || starts_with_at(in, i, "\\,")) && !out.empty() && (out.back() == ',' || is_digit(out.back()))) {
    std::size_t j = i + 2;  // "11,\! 111" is one number: drop the thin space and the blanks after it
    while (j < in.size() && in[j] == ' ') ++j;
    return j - i;
  }
  for (std::string_view d : kDropped) {
    bool whole_word = d.size() <= 2 || d == "\\quad" || d == "\\qquad" || i + d.size() >= in.size() || !is_alpha(in[i + d.size()]);
    if (starts_with_at(in, i, d) && whole_word) { out += ' '; return d.size(); }
  }
  if (starts_with_at(in, i, "\\dfrac") || starts_with_at(in, i, "\\tfrac") || starts_with_at(in, i, "\\cfrac")) {
    out += "\\frac";
    return 6;
  }
  if (starts_with_at(in, i, "\\%")) { out += '%'; return 2; }
  if (starts_with_at(in, i, "\\$")) { out += ' '; return 2; }
  if (starts_with_at(in, i, "\\{") || starts_with_at(in, i, "\\}")) { out.append(in.substr(i, 2)); return 2; }
  return 0;
}

// One pass of token-level rewriting.
std::string rewrite(std::string_view in) {
  std::string out;
  out.reserve(in.size() + 8);
  for (std::size_t i = 0; i < in.size();) {
    char c = in[i];
    std::size_t used = c == '\\' ? rewrite_backslash(in, i, out) : 0;
    if (used == 0 && starts_with_at(in, i, "{,}")) { out += ','; used = 3; }
    if (used == 0 && (c == '$' || c == '~')) { out += ' '; used = 1; }
    for (auto [from, to] : kUnicode) {
      if (used == 0 && starts_with_at(in, i, from)) { out.append(to); used = from.size(); }
    }
    if (used == 0) { out += c; used = 1; }
    i += used;
  }
  return out;
}

std::string trim(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && ascii::is_space(s[b])) ++b;
  while (e > b && (ascii::is_space(s[e - 1]) || s[e - 1] == '.' || s[e - 1] == '\\')) --e;
  return std::string(s.substr(b, e - b));
}

// "1 000 000" → "1000000"; "1000,99" / "0,111" → decimal comma. Only for a lone number, where
// the reading is unambiguous; "2,1" stays a list.
std::string number_format(std::string s) {
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  std::size_t digits = i;
  while (digits < s.size() && is_digit(s[digits])) ++digits;
  if (digits == i) return s;
  std::string_view rest(s.data() + digits, s.size() - digits);
  bool space_groups = !rest.empty() && digits - i <= 3;
  for (std::size_t k = 0; space_groups && k < rest.size(); k += 4)
    space_groups = rest.size() - k >= 4 && rest[k] == ' ' && is_digit(rest[k + 1]) &&
                   is_digit(rest[k + 2]) && is_digit(rest[k + 3]) && (rest.size() - k == 4 || rest[k + 4] == ' ');
  if (space_groups) {
    std::string out;
    for (char c : s) if (c != ' ') out += c;
    return out;
  }
  if (rest.size() >= 2 && rest[0] == ',') {
    std::size_t n = 0;
    while (1 + n < rest.size() && is_digit(rest[1 + n])) ++n;
    bool lone = 1 + n == rest.size();
    bool leading_zero = digits - i == 1 && s[i] == '0';
    if (lone && n > 0 && (n == 2 || leading_zero)) s[digits] = '.';
  }
  return s;
}

}  // namespace

std::string normalize_latex(std::string_view answer, const math_verifier_config& config) {
  std::string s = rewrite(answer);
  (void)config;
  return number_format(trim(s));
}

}  // namespace aha::rewards::detail
