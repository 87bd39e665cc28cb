// Finding the answer a completion commits to: <answer> sections, the last \boxed{} (joined with
// boxes just before it), "the final answer is ..." sentences, the last LaTeX math environment,
// then (optionally) the last number. Linear scans only: safe on megabyte inputs.
// Tested in rewards/math_verifier.test.cpp.
#include <array>
#include <cctype>
#include <vector>

#include "rewards/math_extract.hpp"

namespace aha::rewards::detail {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
// ASCII-only classifiers: inline, locale-free, cheap on megabyte inputs.
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_space(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Whether the lower-case `needle` occurs at hay[i], ignoring ASCII case.
bool matches_at(std::string_view hay, std::size_t i, std::string_view needle) {
  if (hay.size() - i < needle.size()) return false;
  for (std::size_t k = 0; k < needle.size(); ++k)
    if (ascii_lower(hay[i + k]) != needle[k]) return false;
  return true;
}

// Case-insensitive search for the last occurrence of a lower-case needle.
std::size_t rfind_nocase(std::string_view hay, std::string_view needle) {
  if (needle.empty() || needle.size() > hay.size()) return std::string_view::npos;
  for (std::size_t i = hay.size() - needle.size() + 1; i-- > 0;)
    if (ascii_lower(hay[i]) == needle[0] && matches_at(hay, i, needle)) return i;
  return std::string_view::npos;
}

// The braced group starting at `open` (which must be '{'); npos when unbalanced.
std::size_t group_end(std::string_view s, std::size_t open) {
  int depth = 0;
  for (std::size_t i = open; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && (s[i + 1] == '{' || s[i + 1] == '}')) { ++i; continue; }
    if (s[i] == '{') ++depth;
    if (s[i] == '}' && --depth == 0) return i;
  }
  return std::string_view::npos;
}

struct box {
  std::size_t begin, end;  // the whole \boxed{...}
  std::string_view content;
};

std::vector<box> find_boxes(std::string_view s) {
  std::vector<box> boxes;
  int unbalanced = 0;  // each unbalanced box costs a scan to the end: a few, then stop
  constexpr int kMaxUnbalanced = 4;
  for (std::size_t i = s.find('\\'); i != std::string_view::npos; i = s.find('\\', i + 1)) {
    std::size_t name_end;
    if (s.substr(i, 6) == "\\boxed") name_end = i + 6;
    else if (s.substr(i, 5) == "\\fbox") name_end = i + 5;
    else continue;
    std::size_t j = name_end;
    while (j < s.size() && s[j] == ' ') ++j;
    if (j < s.size() && s[j] == '{') {
      std::size_t e = group_end(s, j);
      if (e == std::string_view::npos) {
        if (++unbalanced > kMaxUnbalanced) break;
        continue;
      }
      boxes.push_back({i, e + 1, s.substr(j + 1, e - j - 1)});
      i = e;
    } else if (j > name_end && j < s.size()) {  // "\boxed 5": up to the next space or '$'
      std::size_t e = j;
      while (e < s.size() && !is_space(s[e]) && s[e] != '$') ++e;
      boxes.push_back({i, e, s.substr(j, e - j)});
    }
  }
  return boxes;
}

// Words in the text between two boxes, LaTeX spacing and connectives like "\text{and}" counted
// as the words they spell.
int gap_words(std::string_view gap) {
  int words = 0;
  bool in_word = false;
  for (std::size_t i = 0; i < gap.size(); ++i) {
    char c = gap[i];
    if (c == '\\') {  // a command: \quad, \text — not a word by itself
      while (i + 1 < gap.size() && is_alpha(gap[i + 1])) ++i;
      in_word = false;
      continue;
    }
    bool word_char = !is_space(c) && c != ',' && c != '{' && c != '}' &&
                     c != '$' && c != ';' && c != '\\' && c != '(' && c != ')' && c != '.' && c != '[' && c != ']';
    if (word_char && !in_word) ++words;
    in_word = word_char;
  }
  return words;
}

std::string joined_boxes(std::string_view s, const std::vector<box>& boxes, const math_verifier_config& c) {
  std::size_t first = boxes.size() - 1;
  while (c.join_adjacent_boxes && first > 0) {
    std::string_view gap = s.substr(boxes[first - 1].end, boxes[first].begin - boxes[first - 1].end);
    if (gap_words(gap) > c.max_join_gap_words) break;
    --first;
  }
  std::string out;
  for (std::size_t k = first; k < boxes.size(); ++k) {
    if (!out.empty()) out += ", ";
    out += trim(boxes[k].content);
  }
  return out;
}

// "The final answer is X", "Answer: X": the rest of that sentence. Keys are lower case.
constexpr std::array<std::string_view, 9> kAnswerKeys = {
    "final answer is", "final answer:", "answer is", "answer:", "réponse est", "réponse :",
    "réponse:", "\xe7\xad\x94\xe6\xa1\x88", "respuesta es"};

std::string_view answer_sentence(std::string_view s) {
  // One backward pass for all keys: the rightmost key wins.
  std::size_t best = std::string_view::npos, best_len = 0;
  bool first_char[256] = {};  // a byte that can start a key: most positions are rejected here
  for (std::string_view key : kAnswerKeys) first_char[static_cast<unsigned char>(key[0])] = true;
  for (std::size_t i = s.size(); i-- > 0 && best == std::string_view::npos;) {
    char c = ascii_lower(s[i]);
    if (!first_char[static_cast<unsigned char>(c)]) continue;
    for (std::string_view key : kAnswerKeys)
      if (c == key[0] && matches_at(s, i, key)) { best = i; best_len = key.size(); break; }
  }
  if (best == std::string_view::npos) return {};
  std::string_view rest = s.substr(best + best_len);
  std::size_t end = rest.find('\n');
  for (std::size_t i = 0; i + 1 < rest.size() && i < end; ++i)
    if (rest[i] == '.' && (rest[i + 1] == ' ' || rest[i + 1] == '\n') && (i == 0 || !is_digit(rest[i - 1]) || !is_digit(rest[i + 1]))) { end = i; break; }
  rest = rest.substr(0, end);
  if (rest.size() > 400) return {};
  while (!rest.empty() && (rest.back() == '.' || is_space(rest.back()))) rest.remove_suffix(1);
  return trim(rest);
}

// The last math environment: \[...\], $$...$$, \(...\), or $...$ on one line.
std::string_view last_math_env(std::string_view s) {
  std::string_view best;
  std::size_t best_end = 0;
  // The first closer at or after a position, memoized per closer so that many openers sharing
  // one far (or missing) closer cost one scan, not one each.
  struct memo { std::size_t from = std::string_view::npos, at = std::string_view::npos; };
  memo memos[3];
  auto find_close = [&](std::string_view close, std::size_t from, memo& m) {
    if (m.from != std::string_view::npos && from >= m.from && (m.at == std::string_view::npos || from <= m.at)) return m.at;
    m.from = from;
    m.at = s.find(close, from);
    return m.at;
  };
  auto consider = [&](std::size_t open, std::size_t open_len, std::string_view close, bool one_line) {
    memo& m = memos[close == "\\]" ? 0 : close == "\\)" ? 1 : 2];
    std::size_t e = find_close(close, open + open_len, m);
    if (e == std::string_view::npos) return std::string_view::npos;
    std::string_view inner = s.substr(open + open_len, e - open - open_len);
    if (one_line && inner.find('\n') != std::string_view::npos) return open + open_len;
    if (e + close.size() >= best_end) { best = inner; best_end = e + close.size(); }
    return e + close.size();
  };
  for (std::size_t i = 0; i < s.size();) {
    std::size_t next = std::string_view::npos;
    if (s.substr(i, 2) == "\\[") next = consider(i, 2, "\\]", false);
    else if (s.substr(i, 2) == "\\(") next = consider(i, 2, "\\)", true);
    else if (s.substr(i, 2) == "$$") next = consider(i, 2, "$$", false);
    else if (s[i] == '$' && (i == 0 || s[i - 1] != '\\')) {
      std::size_t e = i + 1;
      while (e < s.size() && (s[e] != '$' || s[e - 1] == '\\')) ++e;
      if (e < s.size()) {
        std::string_view inner = s.substr(i + 1, e - i - 1);
        if (inner.find('\n') == std::string_view::npos && !trim(inner).empty()) { best = inner; best_end = e + 1; }
        next = inner.find('\n') == std::string_view::npos ? e + 1 : i + 1;
      }
    }
    i = next == std::string_view::npos ? i + 1 : next;
  }
  return trim(best);
}

// The last number in prose: -1,234.5, 3/4, .5 (thousands commas kept for the parser).
std::string_view last_number(std::string_view s) {
  std::size_t i = s.size();
  while (i > 0 && !is_digit(s[i - 1])) --i;
  if (i == 0) return {};
  std::size_t end = i;
  while (i > 0 && (is_digit(s[i - 1]) || ((s[i - 1] == '.' || s[i - 1] == ',' || s[i - 1] == '/') && i >= 2 && is_digit(s[i - 2])) ||
                   (s[i - 1] == '.' && (i < 2 || !is_digit(s[i - 2]))))) {
    if (s[i - 1] == '.' && (i < 2 || !is_digit(s[i - 2]))) { --i; break; }
    --i;
  }
  if (i > 0 && s[i - 1] == '-') --i;
  // A trailing \frac{a}{b} (or \dfrac) counts as one number: take it whole.
  std::size_t frac = s.rfind("frac{");
  if (frac != std::string_view::npos && frac > 0 && s[frac - 1] == '\\' && frac + 5 >= i) {
    std::size_t a = group_end(s, frac + 4);
    std::size_t b = a == std::string_view::npos ? a : group_end(s, a + 1);
    if (b != std::string_view::npos && b + 1 >= end) {
      std::size_t start = frac - 1;
      if (start >= 2 && (s[start - 1] == 'd' || s[start - 1] == 't') && s[start - 2] == '\\') start -= 2;
      return s.substr(start, b - start + 1);
    }
  }
  return s.substr(i, end - i);
}

// Prose: a run of three or more ASCII letters that is not a LaTeX command or inside \text{}.
bool prose_words(std::string_view s) {
  int run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\\') {
      std::size_t j = i + 1;
      while (j < s.size() && is_alpha(s[j])) ++j;
      std::string_view cmd = s.substr(i + 1, j - i - 1);
      if ((cmd == "text" || cmd == "mbox" || cmd == "textbf") && j < s.size() && s[j] == '{') {
        std::size_t e = group_end(s, j);
        if (e == std::string_view::npos) return true;
        j = e + 1;
      }
      i = j - 1;
      run = 0;
      continue;
    }
    if (is_alpha(c)) {
      if (++run >= 3) {
        std::size_t b = i + 1 - run, e = i + 1;
        while (e < s.size() && is_alpha(s[e])) ++e;
        std::string_view w = s.substr(b, e - b);
        static const char* const maths[] = {"sin", "cos", "tan", "sec", "csc", "cot", "log", "exp", "sqrt", "arcsin",
                                            "arccos", "arctan", "sinh", "cosh", "tanh", "infty", "pmatrix", "bmatrix", "matrix", "vmatrix", "cases", "array"};
        bool math_word = false;
        for (const char* m : maths) math_word = math_word || w == m;
        if (!math_word) return true;
        i = e - 1;
        run = 0;
      }
    } else {
      run = 0;
    }
  }
  return false;
}

// The text after the reasoning. An unclosed <think> means the model never finished thinking:
// nothing in it counts. require_think_close also refuses completions without any </think>.
std::string_view after_think(std::string_view s, const math_verifier_config& c, bool& refused) {
  if (!c.skip_think_block) return s;
  std::size_t close = s.rfind("</think>");
  if (close != std::string_view::npos) return s.substr(close + 8);
  if (c.require_think_close || s.find("<think>") != std::string_view::npos) refused = true;
  return s;
}

std::string_view answer_block(std::string_view s) {
  // GLM-style "<|begin_of_box|>X<|end_of_box|>" is a box too; normalize it to its content.
  constexpr std::string_view kBoxOpen = "<|begin_of_box|>", kBoxClose = "<|end_of_box|>";
  if (std::size_t b = s.rfind(kBoxOpen); b != std::string_view::npos) {
    std::size_t e = s.find(kBoxClose, b);
    return s.substr(b + kBoxOpen.size(), e == std::string_view::npos ? std::string_view::npos : e - b - kBoxOpen.size());
  }
  std::size_t open = s.rfind("<answer>");
  if (open == std::string_view::npos) return s;
  std::size_t close = s.find("</answer>", open);
  return s.substr(open + 8, close == std::string_view::npos ? std::string_view::npos : close - open - 8);
}

}  // namespace

bool looks_like_prose(std::string_view s) {
  for (char c : s) if (static_cast<unsigned char>(c) >= 0x80) return true;
  return prose_words(s);
}

bool has_prose_words(std::string_view text) { return prose_words(text); }

std::string first_number(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s.substr(i, 6) == "\\frac{") {
      std::size_t a = group_end(s, i + 5);
      std::size_t b = a == std::string_view::npos || a + 1 >= s.size() ? std::string_view::npos : group_end(s, a + 1);
      if (b != std::string_view::npos) return std::string(s.substr(i, b - i + 1));
    }
    if (is_digit(s[i])) {
      std::size_t b = i > 0 && s[i - 1] == '-' ? i - 1 : i, e = i;
      while (e < s.size() && (is_digit(s[e]) || ((s[e] == '.' || s[e] == ',' || s[e] == '/') && e + 1 < s.size() && is_digit(s[e + 1])))) ++e;
      return std::string(s.substr(b, e - b));
    }
  }
  return {};
}


// The answer inside an "answer is ..." sentence: its formula, a number after that formula, or
// for prose the first number.
std::string from_sentence(std::string_view sentence) {
  std::string_view env = last_math_env(sentence);
  if (env.empty() && looks_like_prose(sentence) && !first_number(sentence).empty()) return first_number(sentence);
  if (env.empty()) return std::string(sentence);
  // "The largest $n$ is 34": a number after the last formula is the answer.
  std::size_t env_end = static_cast<std::size_t>(env.data() + env.size() - sentence.data());
  std::string_view tail = sentence.substr(std::min(sentence.size(), env_end + 1));
  if (!last_number(tail).empty()) return std::string(last_number(tail));
  // "$12$ and $13$": formulas joined by a connective form one list, as boxes do.
  std::string joined(env);
  std::string_view before = sentence.substr(0, static_cast<std::size_t>(env.data() - sentence.data()));
  for (int k = 0; k < 8; ++k) {
    while (!before.empty() && is_space(before.back())) before.remove_suffix(1);
    std::size_t n = before.size();  // drop the opening delimiter of `env`: $, $$, \( or \[
    bool two = n >= 2 && (before.substr(n - 2) == "$$" || before.substr(n - 2) == "\\(" || before.substr(n - 2) == "\\[");
    if (!two && (n == 0 || before.back() != '$')) break;
    before.remove_suffix(two ? 2 : 1);
    std::string_view prev = last_math_env(before);
    if (prev.empty()) break;
    std::size_t prev_end = static_cast<std::size_t>(prev.data() + prev.size() - before.data());
    if (gap_words(before.substr(std::min(before.size(), prev_end + 1))) > 1) break;
    joined = std::string(prev) + ", " + joined;
    before = before.substr(0, static_cast<std::size_t>(prev.data() - before.data()));
  }
  return joined;
}

constexpr std::size_t kMaxTextAnswer = 64;  // bytes of a bare phrase taken as a text answer

std::string extract_from(std::string_view text, const math_verifier_config& c, extract_role role) {
  bool refused = false;
  std::string_view s = role != extract_role::gold ? after_think(text, c, refused) : text;
  if (refused) return {};
  s = answer_block(s);
  if (role == extract_role::last_number) return std::string(last_number(s));
  // 1. boxes, unless a "final answer is" sentence comes after them
  std::vector<box> boxes = find_boxes(s);
  std::size_t final_at = rfind_nocase(s, "final answer");
  bool final_last = final_at != std::string_view::npos && !boxes.empty() && final_at > boxes.back().end;
  if (!boxes.empty() && !final_last) return joined_boxes(s, boxes, c);
  if (role == extract_role::prediction && c.require_boxed && !final_last) return {};
  std::string_view trimmed = trim(s);
  // A short gold (or bare answer) is the answer itself.
  if (role == extract_role::gold && trimmed.size() <= 200 && trimmed.find("answer") == std::string_view::npos)
    return std::string(trimmed);
  // 2. "the answer is ..." 3. the last formula (or a number in the prose after it)
  std::string_view sentence = answer_sentence(s);
  if (!sentence.empty()) return from_sentence(sentence);
  std::string_view env = last_math_env(s);
  if (!env.empty()) {
    std::size_t env_end = static_cast<std::size_t>(env.data() + env.size() - s.data());
    std::string_view tail = s.substr(std::min(s.size(), env_end + 1));
    if (role == extract_role::prediction && c.fallback_last_number && looks_like_prose(tail) && !last_number(tail).empty())
      return std::string(last_number(tail));
    return std::string(env);
  }
  // 4. a bare answer ("odd", "2x+1"), else the last number
  bool one_token = true;
  for (char ch : trimmed) one_token = one_token && !is_space(ch);
  if (!prose_words(trimmed) || one_token || role == extract_role::gold) return std::string(trimmed);
  if (c.fallback_last_number && !last_number(s).empty()) return std::string(last_number(s));
  // A short phrase without digits ("No solution") may be a text answer.
  bool digits = false;
  for (char ch : trimmed) digits = digits || is_digit(ch);
  return trimmed.size() <= kMaxTextAnswer && !digits && gap_words(trimmed) <= 5 ? std::string(trimmed) : std::string();
}

}  // namespace aha::rewards::detail
