// verify_math: extract → quick textual checks → multiple-choice letters → parse both answers →
// structural/numeric comparison (math_compare). Each step is bounded; see math_verifier.hpp.
#include "rewards/ascii.hpp"
#include "rewards/math_verifier.hpp"

#include <cctype>
#include <optional>

#include "rewards/math_compare.hpp"
#include "rewards/math_extract.hpp"

namespace aha::rewards {
namespace {

using detail::extract_role;

bool blank(std::string_view s) {
  for (char c : s) if (!ascii::is_space(c)) return false;
  return true;
}

bool upper_letter(char c) { return c >= 'A' && c <= 'Z'; }
bool ascii_alpha(char c) { return ascii::is_alpha(c); }

// Removes \text{..}/\textbf{..}/\mathrm{..} wrappers, braces, parentheses, $ and spaces, so
// that "\textbf{(C)}" reads "C".
std::string bare_letters(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\') { while (i + 1 < s.size() && ascii_alpha(s[i + 1])) ++i; continue; }
    if (c == '{' || c == '}' || c == '(' || c == ')' || c == '$' || c == '.' || ascii::is_space(c)) continue;
    out += c;
  }
  return out;
}

// A standalone capital letter at i: not part of a longer word.
bool standalone(std::string_view s, std::size_t i) {
  return upper_letter(s[i]) && (i == 0 || !ascii_alpha(s[i - 1])) && (i + 1 >= s.size() || !ascii_alpha(s[i + 1]));
}

// The option letter a text commits to: after "answer is"/"answer:", else a leading "C." / "(C)",
// else (when allowed) the last standalone capital. '\0' when none.
char option_letter(std::string_view s, bool allow_last) {
  static const char* const keys[] = {"answer is", "answer:", "Answer:", "Answer is", "réponse est", "答案"};
  std::size_t best = std::string_view::npos, len = 0;
  for (const char* k : keys) {
    std::size_t at = s.rfind(k);
    if (at != std::string_view::npos && (best == std::string_view::npos || at > best)) { best = at; len = std::string_view(k).size(); }
  }
  if (best != std::string_view::npos)
    for (std::size_t i = best + len; i < s.size() && i < best + len + 24; ++i)
      if (standalone(s, i)) return s[i];
  std::size_t i = 0;
  while (i < s.size() && (ascii::is_space(s[i]) || s[i] == '(')) ++i;
  if (i < s.size() && upper_letter(s[i]) && (i + 1 == s.size() || !ascii_alpha(s[i + 1]))) return s[i];
  if (!allow_last) return '\0';
  for (std::size_t k = s.size(); k-- > 0;) if (standalone(s, k)) return s[k];
  return '\0';
}

// A gold that names an option: "C", "\text{(C)}", "(D) Alina", "C. x = 42".
char gold_option(std::string_view gold) {
  std::string bare = bare_letters(gold);
  if (bare.size() == 1 && upper_letter(bare[0])) return bare[0];
  std::size_t i = 0;
  while (i < gold.size() && ascii::is_space(gold[i])) ++i;
  bool paren = i < gold.size() && gold[i] == '(';
  if (paren) ++i;
  if (i + 1 < gold.size() && upper_letter(gold[i]) && gold[i] <= 'J') {
    char next = gold[i + 1];
    if ((paren && next == ')') || next == '.' || next == ' ' || next == '\n') return gold[i];
  }
  std::size_t at = gold.find("answer is");
  if (at != std::string_view::npos) return option_letter(gold.substr(at), false);
  return '\0';
}

std::string strip_spaces(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) if (!ascii::is_space(c)) out += c;
  return out;
}

// A text answer's words, lower case, without \text{}-like wrappers, braces, $ and blanks:
// "\text{No solution}" and "no solution" read the same. Every other character (and command)
// is kept, so "1.5 cups" and "15 cups" or "\sqrt{2} cups" and "2 cups" still differ.
std::string text_key(std::string_view s) {
  static const std::string_view wrappers[] = {"text", "textbf", "textit", "textnormal", "mbox", "mathrm", "mathbf", "quad", "qquad"};
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\') {
      std::size_t j = i + 1;
      while (j < s.size() && ascii_alpha(s[j])) ++j;
      std::string_view name = s.substr(i + 1, j - i - 1);
      bool wrapper = false;
      for (std::string_view w : wrappers) wrapper = wrapper || name == w;
      if (!wrapper) out.append(s.substr(i, j - i));
      i = j - 1;
      continue;
    }
    if (c == '{' || c == '}' || c == '$' || ascii::is_space(c)) continue;
    out += ascii::to_lower(c);
  }
  while (!out.empty() && out.back() == '.') out.pop_back();
  return out;
}

// Has a run of three letters: a word, so the answer is (partly) text.
bool is_wordy(std::string_view key) {
  int run = 0;
  for (char c : key) if ((run = ascii_alpha(c) ? run + 1 : 0) >= 3) return true;
  return false;
}

math_verdict verdict(bool ok, std::string extracted, std::string reason) {
  return math_verdict{ok, std::move(extracted), std::move(reason)};
}

bool has_text(const detail::tree& t) {
  for (const auto& n : t.nodes) if (n.k == detail::kind::text) return true;
  return false;
}

// The gold names an option letter. A prediction that is itself math ("E*2") is judged as math;
// otherwise the option it commits to decides.
std::optional<math_verdict> option_verdict(char letter, const std::string& pred, std::string_view completion,
                                           const math_verifier_config& config) {
  std::string bare = bare_letters(pred);
  if (bare.size() != 1) {
    detail::parse_result p = detail::parse_math(detail::normalize_latex(pred, config), config);
    if (p.ok && !has_text(p.t) && !pred.empty()) return std::nullopt;
  }
  char got = bare.size() == 1 ? bare[0] : option_letter(completion, true);
  if (got == '\0') return verdict(false, "", "no option letter found");
  return verdict(got == letter, std::string(1, got), got == letter ? "same option" : "different option");
}

}  // namespace

std::string extract_answer(std::string_view completion, const math_verifier_config& config) {
  if (completion.size() > config.max_input_bytes) return {};
  return detail::extract_from(completion, config, extract_role::prediction);
}

math_verdict verify_math(std::string_view gold, std::string_view completion, const math_verifier_config& config) {
  if (completion.size() > config.max_input_bytes || gold.size() > config.max_input_bytes)
    return verdict(false, "", "input too long");
  std::string pred = detail::extract_from(completion, config, extract_role::prediction);
  std::string want = detail::extract_from(gold, config, extract_role::gold);
  if (blank(want)) return verdict(false, pred, "empty gold answer");
  if (char letter = gold_option(want.empty() ? gold : std::string_view(want)); letter != '\0') {
    if (auto v = option_verdict(letter, pred, completion, config)) return *v;
  }
  if (blank(pred)) return verdict(false, pred, "no answer found");
  if (strip_spaces(pred) == strip_spaces(want)) return verdict(true, pred, "identical answers");
  if (pred.size() > config.max_answer_bytes || want.size() > config.max_answer_bytes)
    return verdict(false, pred, "answer too long to parse");
  std::string g_norm = detail::normalize_latex(want, config);
  std::string p_norm = detail::normalize_latex(pred, config);
  if (!g_norm.empty() && strip_spaces(g_norm) == strip_spaces(p_norm)) return verdict(true, pred, "identical after normalization");
  if (is_wordy(text_key(want)) && text_key(want) == text_key(pred)) return verdict(true, pred, "same words");
  detail::parse_result g = detail::parse_math(g_norm, config);
  detail::parse_result p = detail::parse_math(p_norm, config);
  if (!p.ok && config.fallback_last_number && detail::looks_like_prose(pred)) {  // prose: its last number
    pred = detail::extract_from(completion, config, extract_role::last_number);
    p = detail::parse_math(detail::normalize_latex(pred, config), config);
  }
  if (!g.ok || !p.ok) return verdict(false, pred, g.ok ? "answer is not parseable math" : "gold is not parseable math");
  detail::budget steps(config.max_steps, config.deadline_ms);
  std::string why;
  bool eq = detail::answers_equal(g.t, p.t, config, steps, why);
  return verdict(eq, pred, why);
}

}  // namespace aha::rewards
