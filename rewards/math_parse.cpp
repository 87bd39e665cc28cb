// Grammar rules of the math parser for lists, relations and arithmetic, and the parse_math
// entry point; see math_parser.hpp for the precedence ladder. Atoms: math_parse_atoms.cpp.
#include "rewards/math_parser.hpp"

namespace aha::rewards::detail {

int parser::items(kind list_kind, char close) {
  std::vector<int> parts;
  // Top level: "p=5, q=2; p=7, q=2" (or "... and ...") may be groups; see grouped().
  std::vector<std::size_t> group_starts{0};
  bool commas = false;
  for (;;) {
    while (at_separator()) {
      bool comma = peek() == ',';
      if (!comma && !parts.empty() && group_starts.back() != parts.size()) group_starts.push_back(parts.size());
      commas = commas || comma;
      eat_separator();
    }
    char c = peek();
    if (c == '\0' || (close != '\0' && c == close) || (close == '}' && at("\\}"))) break;
    int e = relation();
    if (e < 0) return fail();
    parts.push_back(e);
    if (!at_separator()) break;
  }
  if (parts.empty()) return close == '\0' ? fail() : make(list_kind);
  if (close == '\0' && commas && group_starts.size() > 1) {
    int g = grouped(parts, group_starts);
    if (g >= 0) return g;
  }
  if (parts.size() == 1 && list_kind == kind::list) return parts[0];
  return make(list_kind, std::move(parts));
}

// Comma lists separated by ';' or "and" are tuples when they all have the same length ≥ 2:
// "p=5,q=2;p=7,q=2" = (5,2), (7,2), but "19, 46, and 82" stays a list. -1 when not groups.
int parser::grouped(const std::vector<int>& parts, std::vector<std::size_t> starts) {
  starts.push_back(parts.size());
  std::size_t size = starts[1] - starts[0];
  for (std::size_t g = 0; g + 1 < starts.size(); ++g)
    if (starts[g + 1] - starts[g] != size || size < 2) return -1;
  std::vector<int> groups;
  for (std::size_t g = 0; g + 1 < starts.size(); ++g) {
    std::vector<int> members(parts.begin() + static_cast<std::ptrdiff_t>(starts[g]),
                             parts.begin() + static_cast<std::ptrdiff_t>(starts[g + 1]));
    groups.push_back(members.size() == 1 ? members[0] : make(kind::tuple, std::move(members)));
  }
  return make(kind::list, std::move(groups));
}

const char* parser::relation_op() {
  static const std::pair<const char*, const char*> ops[] = {
      {"\\leqslant", "<="}, {"\\geqslant", ">="}, {"\\leq", "<="}, {"\\geq", ">="},
      {"\\le", "<="}, {"\\ge", ">="}, {"\\neq", "!="}, {"\\ne", "!="}, {"\\lt", "<"},
      {"\\gt", ">"}, {"\\approx", "~"}, {"\\sim", "~"}, {"\\equiv", "="}, {"\\in", "in"},
      {"<=", "<="}, {">=", ">="}, {"!=", "!="}, {"=", "="}, {"<", "<"}, {">", ">"}};
  for (auto [spelling, op] : ops) {
    if (spelling[0] == '\\' ? at_cmd(spelling) : at(spelling)) {
      pos_ += std::strlen(spelling);
      return op;
    }
  }
  return nullptr;
}

int parser::relation() {
  int first = ratio();
  if (first < 0) return -1;
  std::vector<int> kids{first};
  std::string ops;
  while (const char* op = relation_op()) {
    int next = ratio();
    if (next < 0) return fail();
    kids.push_back(next);
    if (!ops.empty()) ops += ' ';
    ops += op;
  }
  if (kids.size() == 1) return first;
  return make(kind::relation, std::move(kids), ops);
}

int parser::ratio() {
  int first = set_union();
  if (first < 0 || peek() != ':') return first;
  std::vector<int> kids{first};
  while (peek() == ':') {
    ++pos_;
    int next = set_union();
    if (next < 0) return fail();
    kids.push_back(next);
  }
  return make(kind::ratio, std::move(kids));
}

int parser::set_union() {
  int first = sum();
  if (first < 0 || !at_cmd("\\cup")) return first;
  std::vector<int> kids{first};
  while (eat_cmd("\\cup") || eat("U ")) {
    int next = sum();
    if (next < 0) return fail();
    kids.push_back(next);
  }
  return make(kind::set_union, std::move(kids));
}

int parser::sum() {
  depth_guard g(*this);
  if (depth_ > cfg_.max_depth) return fail();
  int acc = -1;
  std::vector<int> terms;
  for (bool first = true;; first = false) {
    char c = peek();
    bool pm = eat_cmd("\\pm") || eat_cmd("\\mp") || eat("+-") || eat("±");
    if (!pm && !first && c != '+' && c != '-') break;
    if (!pm && (c == '+' || c == '-')) ++pos_;
    int t = product();
    if (t < 0) return fail();
    if (pm) {
      std::vector<int> kids;
      if (!terms.empty()) kids.push_back(terms.size() == 1 ? terms[0] : make(kind::add, terms));
      kids.push_back(t);
      terms.assign(1, make(kind::pm, std::move(kids)));
      continue;
    }
    terms.push_back(c == '-' ? make(kind::neg, {t}) : t);
  }
  acc = terms.size() == 1 ? terms[0] : make(kind::add, std::move(terms));
  return acc;
}

bool parser::starts_factor() {
  char c = peek();
  if (c == '\0') return false;
  if (is_digit(c) || is_alpha(c) || c == '(' || c == '{' || c == '.') return true;
  if (c == '|') return abs_depth_ == 0;
  if (c != '\\') return false;
  static const char* const stoppers[] = {"\\cdot", "\\times", "\\div", "\\cup", "\\pm", "\\mp",
                                         "\\le", "\\ge", "\\ne", "\\lt", "\\gt", "\\in",
                                         "\\approx", "\\sim", "\\equiv", "\\end", "\\}",
                                         "\\\\", "\\text{and}", "\\text{ and }", "\\text{or}",
                                         "\\text{ or }", "\\text{ and}", "\\text{and }"};
  for (const char* st : stoppers) if (at(st)) return false;
  return true;
}

int parser::product() {
  int first = unary();
  if (first < 0) return -1;
  std::vector<int> factors{first};
  for (;;) {
    if (eat("*") || eat_cmd("\\cdot") || eat_cmd("\\times")) {
      int f = unary();
      if (f < 0) return fail();
      factors.push_back(f);
    } else if (eat("/") || eat_cmd("\\div")) {
      int f = unary();
      if (f < 0) return fail();
      int num = factors.size() == 1 ? factors[0] : make(kind::mul, factors);
      factors.assign(1, make(kind::div, {num, f}));
    } else if (starts_factor() && !at_separator()) {
      int f = power();
      if (f < 0) return fail();
      factors.push_back(f);
    } else {
      break;
    }
  }
  return factors.size() == 1 ? factors[0] : make(kind::mul, std::move(factors));
}

int parser::unary() {
  depth_guard g(*this);
  if (depth_ > cfg_.max_depth) return fail();
  if (eat("-")) { int x = unary(); return x < 0 ? -1 : make(kind::neg, {x}); }
  if (eat("+")) return unary();
  if (eat_cmd("\\pm") || eat_cmd("\\mp")) { int x = unary(); return x < 0 ? -1 : make(kind::pm, {x}); }
  return power();
}

int parser::power() {
  int base = postfix();
  if (base < 0) return -1;
  if (peek() == '^') {
    ++pos_;
    if (at_cmd("\\circ")) { pos_ += 5; return make(kind::degree, {base}); }
    int e = script();
    if (e < 0) return fail();
    if (nodes_[e].k == kind::symbol && nodes_[e].text == "\\circ") return make(kind::degree, {base});
    base = make(kind::pow, {base, e});
    return postfix_ops(base);
  }
  return base;
}

int parser::script() {
  depth_guard g(*this);
  if (depth_ > cfg_.max_depth) return fail();
  if (peek() == '{') return group();
  if (eat("-")) { int x = script(); return x < 0 ? -1 : make(kind::neg, {x}); }
  char c = peek();
  if (is_digit(c)) { ++pos_; return make(kind::number, {}, std::string(1, c)); }
  if (is_alpha(c)) { ++pos_; return make(kind::symbol, {}, std::string(1, c)); }
  return primary();
}

int parser::postfix() {
  int x = primary();
  return x < 0 ? -1 : postfix_ops(x);
}

int parser::postfix_ops(int x) {
  for (;;) {
    if (at("!") && !at("!=")) { ++pos_; x = make(kind::factorial, {x}); }
    else if (eat("%")) x = make(kind::percent, {x});
    else if (at("^\\circ") || at("^{\\circ}")) { pos_ += at("^\\circ") ? 6 : 8; x = make(kind::degree, {x}); }
    else if (eat("'")) {  // f', x'': a new name (a primed number is a name too)
      if (nodes_[x].k == kind::number) nodes_[x].k = kind::symbol;
      nodes_[x].text += "'";
    }
    else if (peek() == '_') x = subscript(x);
    else return x;
    if (x < 0) return -1;
  }
}

int parser::subscript(int x) {
  ++pos_;
  std::size_t start = pos_;
  skip();
  if (peek() == '{') {
    int depth = 0;
    do {
      if (s_[pos_] == '{') ++depth;
      if (s_[pos_] == '}') --depth;
      ++pos_;
    } while (depth > 0 && pos_ < s_.size());
    if (depth != 0) return fail();
  } else if (pos_ < s_.size()) {
    if (s_[pos_] == '\\') { ++pos_; while (pos_ < s_.size() && is_alpha(s_[pos_])) ++pos_; }
    else ++pos_;
  }
  std::string sub;
  for (char c : s_.substr(start, pos_ - start)) if (c != '{' && c != '}' && c != ' ') sub += c;
  node& n = nodes_[x];
  if (n.k == kind::number || n.k == kind::symbol || n.k == kind::constant) {
    n.text = n.text + "_" + sub;
    n.k = kind::symbol;
    return x;
  }
  return x;  // subscripts on other things (\sum_) carry no value here
}

parse_result parse_math(std::string_view normalized, const math_verifier_config& config) {
  if (normalized.size() > config.max_answer_bytes) return {};
  return parser(normalized, config).run();
}

}  // namespace aha::rewards::detail
