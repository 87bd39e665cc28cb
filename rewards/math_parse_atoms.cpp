// Atoms of the math parser: numbers (thousands separators, scientific notation, mixed
// numbers), brackets (tuples, intervals), words and letters, LaTeX commands (\frac, \sqrt,
// functions, \text) and environments (matrices, cases). See math_parser.hpp.
#include "rewards/math_parser.hpp"

namespace aha::rewards::detail {

// 0.\overline{3} = 1/3, 1.2\overline{45} = 1.2 + 45/9900: exact, so not an approximation.
// Returns -2 when no \overline follows the digits read so far.
int parser::repeating_decimal(const std::string& lit, int decimals, bool dot) {
  std::string_view rest = s_.substr(pos_);
  std::size_t skip_dot = !dot && !rest.empty() && rest[0] == '.' ? 1 : 0;
  if (rest.substr(skip_dot, 10) != "\\overline{") return -2;
  std::size_t b = pos_ + skip_dot + 10, e = b;
  while (e < s_.size() && is_digit(s_[e])) ++e;
  if (e == b || e >= s_.size() || s_[e] != '}' || e - b > 64) return fail();
  pos_ = e + 1;
  std::string period(s_.substr(b, e - b));
  std::string denominator = std::string(period.size(), '9') + std::string(static_cast<std::size_t>(decimals), '0');
  int head = make(kind::number, {}, lit.back() == '.' ? lit + "0" : lit);
  return make(kind::add, {head, make(kind::div, {make(kind::number, {}, period), make(kind::number, {}, denominator)})});
}

int parser::number() {
  std::size_t start = pos_;
  std::string lit;
  int decimals = 0;
  bool dot = false;
  while (pos_ < s_.size()) {
    char c = s_[pos_];
    if (is_digit(c)) { lit += c; if (dot) ++decimals; ++pos_; }
    else if (c == '.' && !dot && pos_ + 1 < s_.size() && is_digit(s_[pos_ + 1])) { dot = true; lit += c; ++pos_; }
    else if (c == ',' && !dot && thousands_group_at(pos_, lit.size())) { ++pos_; }
    else break;
  }
  if (lit.empty()) return fail();
  if (int r = repeating_decimal(lit, decimals, dot); r != -2) return r;
  int n = make(kind::number, {}, lit);
  nodes_[n].decimals = static_cast<std::int16_t>(decimals);
  // 1e-5 / 2.5E3: scientific notation in plain text.
  if (pos_ + 1 < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
    std::size_t q = pos_ + 1;
    if (q < s_.size() && (s_[q] == '-' || s_[q] == '+')) ++q;
    if (q < s_.size() && is_digit(s_[q])) {
      bool negative = s_[pos_ + 1] == '-';
      pos_ = q;
      std::string e;
      while (pos_ < s_.size() && is_digit(s_[pos_])) e += s_[pos_++];
      int ex = make(kind::number, {}, e);
      if (negative) ex = make(kind::neg, {ex});
      int ten = make(kind::number, {}, "10");
      n = make(kind::mul, {n, make(kind::pow, {ten, ex})});
    }
  }
  (void)start;
  return mixed_fraction(n);
}

bool parser::thousands_group_at(std::size_t comma, std::size_t digits_so_far) {
  if (digits_so_far == 0 || bracket_depth_ > 0) return false;
  for (int k = 1; k <= 3; ++k)
    if (comma + k >= s_.size() || !is_digit(s_[comma + k])) return false;
  if (comma + 4 < s_.size() && (is_digit(s_[comma + 4]) || s_[comma + 4] == '.')) {
    return s_[comma + 4] == '.' || (comma + 4 < s_.size() && s_[comma + 4] == ',');
  }
  std::size_t b = comma;
  while (b > 0 && is_digit(s_[b - 1])) --b;
  if (comma - b > 3) return false;
  bool first_group = b == 0 || s_[b - 1] != ',';
  return !first_group || s_[b] != '0';
}

int parser::mixed_fraction(int whole) {
  if (nodes_[whole].k != kind::number || nodes_[whole].decimals != 0) return whole;
  std::size_t save = pos_;
  if (s_.substr(pos_, 5) == "\\frac") {
    std::size_t q = pos_ + 5;
    if (q < s_.size() && (s_[q] == '{' || is_digit(s_[q]))) {
      int f = primary();
      if (f >= 0 && nodes_[f].k == kind::div && nodes_[nodes_[f].kids[0]].k == kind::number &&
          nodes_[nodes_[f].kids[1]].k == kind::number)
        return make(kind::add, {whole, f});
      if (f >= 0) return make(kind::mul, {whole, f});
      return -1;
    }
  }
  if (pos_ + 3 < s_.size() && s_[pos_] == ' ' && is_digit(s_[pos_ + 1])) {
    std::size_t q = pos_ + 1, slash;
    while (q < s_.size() && is_digit(s_[q])) ++q;
    slash = q;
    if (slash < s_.size() && s_[slash] == '/' && slash + 1 < s_.size() && is_digit(s_[slash + 1])) {
      ++q;
      while (q < s_.size() && is_digit(s_[q])) ++q;
      if (q == s_.size() || !(is_alpha(s_[q]) || s_[q] == '.' || s_[q] == '^')) {
        int num = make(kind::number, {}, std::string(s_.substr(pos_ + 1, slash - pos_ - 1)));
        int den = make(kind::number, {}, std::string(s_.substr(slash + 1, q - slash - 1)));
        pos_ = q;
        return make(kind::add, {whole, make(kind::div, {num, den})});
      }
    }
  }
  pos_ = save;
  return whole;
}

int parser::brackets(char open) {
  ++pos_;
  ++bracket_depth_;
  int saved_abs = abs_depth_;
  abs_depth_ = 0;
  std::vector<int> parts;
  for (;;) {
    if (peek() == ')' || peek() == ']' || peek() == '\0') break;
    int e = relation();
    if (e < 0) { --bracket_depth_; return fail(); }
    parts.push_back(e);
    if (!eat(",") && !eat(";")) break;
  }
  abs_depth_ = saved_abs;
  --bracket_depth_;
  char close = peek();
  if (close != ')' && close != ']') return fail();
  ++pos_;
  if (parts.size() == 1 && open == '(' && close == ')') return parts[0];
  if (parts.size() == 2 && (open != '(' || close != ')')) {
    int iv = make(kind::interval, std::move(parts));
    nodes_[iv].lo_closed = open == '[';
    nodes_[iv].hi_closed = close == ']';
    return iv;
  }
  if (parts.size() == 1) return parts[0];
  int t = make(kind::tuple, std::move(parts));
  nodes_[t].lo_closed = open == '[';  // [1,2,3] vs (1,2,3): both ordered
  return t;
}

int parser::word() {
  std::size_t start = pos_;
  while (pos_ < s_.size() && is_alpha(s_[pos_])) ++pos_;
  std::string w(s_.substr(start, pos_ - start));
  if (is_function(w)) return function(w);
  if (w == "pi") return make(kind::constant, {}, "pi");
  if (w == "infty" || w == "inf" || w == "oo" || w == "infinity") return make(kind::constant, {}, "inf");
  if (w == "pct" || w == "percent" || w == "percentage") return make(kind::text, {}, "%");
  if (w.size() >= 3 && !is_greek(w)) return make(kind::text, {}, w);  // a word: units or a text answer
  // "10 cm^2": two letters set apart after a number are a unit; "10cm" stays 10·c·m.
  bool spaced_after_number = start >= 2 && s_[start - 1] == ' ' && is_digit(s_[start - 2]);
  bool ends_word = pos_ == s_.size() || s_[pos_] == ' ' || s_[pos_] == '^';
  if (w.size() == 2 && spaced_after_number && ends_word) return make(kind::text, {}, w);
  // Short runs are products of single-letter symbols: "xy" = x*y; "f(" may be a call.
  std::vector<int> letters;
  for (std::size_t k = 0; k < w.size(); ++k) {
    std::string name(1, w[k]);
    bool last = k + 1 == w.size();
    if (last && is_user_function(name) && pos_ < s_.size() && s_[pos_] == '(') {
      int arg = brackets('(');
      if (arg < 0) return -1;
      letters.push_back(make(kind::call, {arg}, name));
      continue;
    }
    if (cfg_.imaginary_i && (name == "i" || name == "I")) letters.push_back(make(kind::constant, {}, "i"));
    else if (name == "e") letters.push_back(make(kind::constant, {}, "e"));
    else letters.push_back(make(kind::symbol, {}, name));
  }
  return letters.size() == 1 ? letters[0] : make(kind::mul, std::move(letters));
}

int parser::primary() {
  depth_guard g(*this);
  if (depth_ > cfg_.max_depth) return fail();
  char c = peek();
  if (is_digit(c) || (c == '.' && pos_ + 1 < s_.size() && is_digit(s_[pos_ + 1]))) return number();
  if (is_alpha(c)) return word();
  if (c == '(' || c == '[') return brackets(c);
  if (c == '{') return group();
  if (c == '|' && abs_depth_ == 0) {
    ++pos_;
    ++abs_depth_;
    int x = sum();
    --abs_depth_;
    if (x < 0 || !eat("|")) return fail();
    return make(kind::func, {x}, "abs");
  }
  if (c == '\\') return command();
  return fail();
}

int parser::function(std::string name) {
  int exponent = -1, base = -1;
  if (peek() == '^') { ++pos_; exponent = script(); if (exponent < 0) return -1; }
  if (peek() == '_') { ++pos_; base = script(); if (base < 0) return -1; }
  int arg;
  char c = peek();
  if (c == '(') arg = brackets('(');
  else if (c == '{') arg = group();
  else {
    // \sin 2x: the argument runs over numbers and letters, up to the next command or operator.
    arg = power();
    while (arg >= 0 && (is_alpha(peek()) || is_digit(peek())) && !at_separator()) {
      int f = power();
      if (f < 0) return -1;
      arg = make(kind::mul, {arg, f});
    }
  }
  if (arg < 0) return fail();
  std::vector<int> kids{arg};
  if (base >= 0) kids.push_back(base);
  int f = make(kind::func, std::move(kids), name);
  if (exponent >= 0) {
    // sin^{-1} x is arcsin x; sin^2 x is (sin x)^2.
    node& e = nodes_[exponent];
    if (e.k == kind::neg && nodes_[e.kids[0]].text == "1") { nodes_[f].text = "arc" + name; return f; }
    return make(kind::pow, {f, exponent});
  }
  return f;
}

int parser::command() {
  std::size_t start = pos_++;
  while (pos_ < s_.size() && is_alpha(s_[pos_])) ++pos_;
  std::string name(s_.substr(start + 1, pos_ - start - 1));
  if (name.empty()) {
    if (pos_ < s_.size() && s_[pos_] == '{') {  // \{ a, b \}
      ++pos_;
      ++bracket_depth_;
      int x = items(kind::set, '}');
      --bracket_depth_;
      if (x < 0 || !eat("\\}")) return fail();
      if (nodes_[x].k != kind::set) x = make(kind::set, {x});
      return x;
    }
    return fail();
  }
  if (name == "frac" || name == "over") {
    int a = script(), b = a < 0 ? -1 : script();
    return b < 0 ? fail() : make(kind::div, {a, b});
  }
  if (name == "binom" || name == "dbinom" || name == "tbinom" || name == "choose") {
    int a = script(), b = a < 0 ? -1 : script();
    return b < 0 ? fail() : make(kind::func, {a, b}, "binom");
  }
  if (name == "sqrt") {
    int index = -1;
    if (peek() == '[') {
      ++pos_;
      index = sum();
      if (index < 0 || !eat("]")) return fail();
    }
    if (peek() == '(' ) return fail();  // \sqrt(2) is not LaTeX; do not guess
    int x = script();
    if (x < 0) return -1;
    return index < 0 ? make(kind::func, {x}, "sqrt") : make(kind::pow, {x, make(kind::div, {make(kind::number, {}, "1"), index})});
  }
  if (name == "pi") return make(kind::constant, {}, "pi");
  if (name == "infty" || name == "infin") return make(kind::constant, {}, "inf");
  if (name == "ldots" || name == "cdots" || name == "dots" || name == "dotsc" || name == "vdots") return make(kind::ellipsis);
  if (name == "circ") return make(kind::symbol, {}, "\\circ");
  if (name == "begin") return environment();
  if (name == "text" || name == "textbf" || name == "mbox" || name == "textnormal" || name == "textit" ||
      name == "textrm" || name == "texttt" || name == "emph") return text_command();
  if (name == "mathit" || name == "mathsf" || name == "mathbb" || name == "mathcal" || name == "operatorname" ||
      name == "boxed" || name == "fbox" || name == "overline" || name == "hat" || name == "vec" ||
      name == "bar" || name == "overrightarrow" || name == "widehat" || name == "tilde" || name == "mathbf") {
    if (name == "operatorname" && peek() == '{') {
      std::size_t q = pos_ + 1, e = s_.find('}', q);
      if (e != std::string_view::npos && is_function(s_.substr(q, e - q))) {
        pos_ = e + 1;
        return function(std::string(s_.substr(q, e - q)));
      }
    }
    return script();
  }
  if (is_function(name)) return function(name == "lg" ? "log" : name);
  if (name == "exp") return function("exp");
  if (is_greek(name)) return make(kind::symbol, {}, "\\" + name);
  if (name == "end" || name == "right" || name == "left") return fail();
  return make(kind::symbol, {}, "\\" + name);  // \angle, \triangle, unknown macros: opaque names
}

// \text{...}: a unit, a word answer, or a connective. Inner text is kept verbatim (trimmed).
int parser::text_command() {
  skip();
  if (peek() != '{') return fail();
  std::size_t q = pos_ + 1;
  int depth = 1;
  while (q < s_.size() && depth > 0) {
    if (s_[q] == '{') ++depth;
    if (s_[q] == '}') --depth;
    ++q;
  }
  if (depth != 0) return fail();
  std::string inner(s_.substr(pos_ + 1, q - pos_ - 2));
  pos_ = q;
  std::size_t b = inner.find_first_not_of(" "), e = inner.find_last_not_of(" ");
  inner = b == std::string::npos ? "" : inner.substr(b, e - b + 1);
  if (inner.empty()) return make(kind::text, {}, "");
  // \text{(C)} / \text{13}: parse the inside when it is math.
  if (!inner.empty() && (is_digit(inner[0]) || inner[0] == '(')) {
    parse_result r = parse_math(inner, cfg_);
    if (r.ok && r.t.nodes.size() < 64) {
      int offset = static_cast<int>(nodes_.size());
      for (node n : r.t.nodes) {
        for (int& k : n.kids) k += offset;
        nodes_.push_back(std::move(n));
      }
      return r.t.root + offset;
    }
  }
  return make(kind::text, {}, inner);
}

// \begin{pmatrix} a & b \\ c & d \end{pmatrix}, also bmatrix, matrix, array, cases.
int parser::environment() {
  if (!eat("{")) return fail();
  std::size_t e = s_.find('}', pos_);
  if (e == std::string_view::npos) return fail();
  std::string env(s_.substr(pos_, e - pos_));
  pos_ = e + 1;
  if (env == "array" && peek() == '{') {  // column spec
    std::size_t c = s_.find('}', pos_);
    if (c == std::string_view::npos) return fail();
    pos_ = c + 1;
  }
  std::vector<int> cells;
  int rows = 0, cols = -1, in_row = 0;
  ++bracket_depth_;
  for (;;) {
    skip();
    if (eat("\\end")) {
      std::string close = "{" + env + "}";
      if (!eat(close)) { --bracket_depth_; return fail(); }
      break;
    }
    if (pos_ >= s_.size()) { --bracket_depth_; return fail(); }
    int x = relation();
    if (x < 0) { --bracket_depth_; return fail(); }
    cells.push_back(x);
    ++in_row;
    if (eat("&")) continue;
    bool row_end = eat("\\\\");
    skip();
    if (row_end || at("\\end")) {
      if (cols >= 0 && cols != in_row) { --bracket_depth_; return fail(); }
      cols = in_row;
      in_row = 0;
      ++rows;
      if (!row_end) continue;
      if (at("\\end")) continue;
    } else {
      --bracket_depth_;
      return fail();
    }
  }
  --bracket_depth_;
  if (env == "cases") return make(kind::list, std::move(cells));
  int m = make(kind::matrix, std::move(cells));
  nodes_[m].rows = rows;
  nodes_[m].cols = cols < 0 ? 0 : cols;
  return m;
}

}  // namespace aha::rewards::detail
