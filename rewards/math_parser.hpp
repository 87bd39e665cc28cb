// The recursive-descent parser behind parse_math (internal to rewards/): the class and its small
// cursor helpers. Grammar rules live in math_parse.cpp (lists, relations, arithmetic) and
// math_parse_atoms.cpp (numbers, brackets, commands, environments). Precedence, loosest first:
// list (, ; and or) → relation chain → ratio (:) → union (\cup) → sum (+ - \pm) → product
// (* / \cdot, juxtaposition) → unary → power (^) → postfix (! % ° ' _).
#pragma once

#include <cctype>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>

#include "rewards/ascii.hpp"
#include "rewards/math_expr.hpp"

namespace aha::rewards::detail {


inline bool is_alpha(char c) { return ascii::is_alpha(c); }
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }

inline const char* const kFunctions[] = {"sin", "cos", "tan", "sec", "csc", "cot", "arcsin", "arccos",
                                  "arctan", "sinh", "cosh", "tanh", "ln", "log", "exp", "lg",
                                  "arcsec", "arccsc", "arccot", "sqrt", "det", "gcd", "lcm",
                                  "max", "min", "floor", "ceil", "abs"};
inline bool is_function(std::string_view w) {
  for (const char* f : kFunctions) if (w == f) return true;
  return false;
}
inline const char* const kGreek[] = {"alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta",
                              "eta", "theta", "vartheta", "iota", "kappa", "lambda", "mu", "nu",
                              "xi", "rho", "sigma", "tau", "upsilon", "phi", "varphi", "chi",
                              "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Sigma",
                              "Phi", "Psi", "Omega"};
inline bool is_greek(std::string_view w) {
  for (const char* g : kGreek) if (w == g) return true;
  return false;
}
// User functions written f(x): a single letter that names a function by convention.
inline bool is_user_function(std::string_view w) {
  return w.size() == 1 && std::strchr("fghFGHWPQ", w[0]) != nullptr;
}

// One parse of one string. Depth is bounded by config.max_depth; anything unexpected makes the
// whole parse fail (run() returns ok == false).
class parser {
 public:
  parser(std::string_view s, const math_verifier_config& c) : s_(s), cfg_(c) {}

  parse_result run() {
    parse_result r;
    int root = items(kind::list, '\0');
    skip();
    if (failed_ || root < 0 || pos_ != s_.size()) return r;
    r.ok = true;
    r.t.nodes = std::move(nodes_);
    r.t.root = root;
    return r;
  }

 private:
  std::string_view s_;
  const math_verifier_config& cfg_;
  std::deque<node> nodes_;
  std::size_t pos_ = 0;
  int depth_ = 0;
  int abs_depth_ = 0;
  int bracket_depth_ = 0;  // > 0 inside ( [ \{ and environments: no thousands separators there
  bool failed_ = false;

  int fail() { failed_ = true; return -1; }
  void skip() { while (pos_ < s_.size() && ascii::is_space(s_[pos_])) ++pos_; }
  char peek() { skip(); return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool at(std::string_view p) { skip(); return s_.substr(pos_, p.size()) == p; }
  // A command is matched only as a whole word: "\in" does not match "\infty".
  bool at_cmd(std::string_view p) {
    if (!at(p)) return false;
    std::size_t e = pos_ + p.size();
    return e >= s_.size() || !is_alpha(s_[e]) || !is_alpha(p.back());
  }
  bool eat(std::string_view p) { if (!at(p)) return false; pos_ += p.size(); return true; }
  bool eat_cmd(std::string_view p) { if (!at_cmd(p)) return false; pos_ += p.size(); return true; }

  int make(kind k, std::vector<int> kids = {}, std::string text = {}) {
    node n;
    n.k = k;
    n.kids = std::move(kids);
    n.text = std::move(text);
    nodes_.push_back(std::move(n));
    return static_cast<int>(nodes_.size()) - 1;
  }

  struct depth_guard {
    parser& p;
    explicit depth_guard(parser& q) : p(q) { ++p.depth_; }
    ~depth_guard() { --p.depth_; }
  };

  // ---- lists and relations -------------------------------------------------------------
  bool at_separator() {
    if (at(",") || at(";")) return true;
    return at_word("and") || at_word("or") || at("\\text{and}") || at("\\text{ and }") ||
           at("\\text{or}") || at("\\text{ or }") || at("\\text{ and}") || at("\\text{and }");
  }
  bool at_word(std::string_view w) {
    if (!at(w)) return false;
    std::size_t e = pos_ + w.size();
    bool before_ok = pos_ == 0 || !is_alpha(s_[pos_ - 1]);
    return before_ok && (e >= s_.size() || !is_alpha(s_[e]));
  }
  void eat_separator() {
    if (eat(",") || eat(";")) return;
    if (eat("\\text{")) { while (pos_ < s_.size() && s_[pos_] != '}') ++pos_; ++pos_; return; }
    while (pos_ < s_.size() && is_alpha(s_[pos_])) ++pos_;
  }

  // Items separated by , ; "and" "or" until `close` (or the end). One item → that item.
  int items(kind list_kind, char close);
  int grouped(const std::vector<int>& parts, std::vector<std::size_t> starts);
  const char* relation_op();

  // a = b = c, 1 < x <= 2. A single operand is returned as is.
  int relation();
  int ratio();
  int set_union();

  // ---- arithmetic ------------------------------------------------------------------------
  int sum();
  bool starts_factor();
  int product();
  int unary();
  int power();

  // The argument of ^ or _: a braced group, or a single character / command.
  int script();
  int postfix();
  int postfix_ops(int x);

  // x_1, a_{n+1}, 204_5: the subscript becomes part of the name (a symbol, or a based number).
  int subscript(int x);

  // ---- primaries -------------------------------------------------------------------------
  int group() {  // { ... } as grouping; a comma inside makes a bare list
    eat("{");
    int x = items(kind::list, '}');
    if (x < 0 || !eat("}")) return fail();
    return x;
  }

  int number();
  int repeating_decimal(const std::string& lit, int decimals, bool dot);

  // "7,425,000": a comma followed by exactly three digits, outside brackets, and the number so
  // far looks like a grouped integer.
  bool thousands_group_at(std::size_t comma, std::size_t digits_so_far);

  // 918\frac{1}{2} and "1 1/2" are mixed numbers: 918 + 1/2.
  int mixed_fraction(int whole);
  int primary();
  int command();
  int function(std::string name);
  int environment();
  int text_command();
  int brackets(char open);
  int word();
};

}  // namespace aha::rewards::detail
