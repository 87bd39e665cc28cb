// The expression tree the math verifier works on, and the parser that builds it from LaTeX or
// plain math ("\frac{1}{2}", "1/2", "x \in [0, \infty)", "\begin{pmatrix}..."). Internal to
// rewards/; the public entry point is rewards/math_verifier.hpp.
// A tree lives in one arena of nodes; children are indices into it.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "rewards/math_verifier.hpp"

namespace aha::rewards::detail {

enum class kind : std::uint8_t {
  number,    // text = decimal literal ("12.5"); decimals = fraction digits written
  symbol,    // text = name ("x", "\alpha", "a_1")
  constant,  // text = "pi" | "e" | "i" | "inf"
  text,      // text = words (\text{...}, "odd")
  add,       // kids: terms
  mul,       // kids: factors
  div,       // kids: [numerator, denominator]
  neg,       // kids: [x]
  pow,       // kids: [base, exponent]
  pm,        // kids: [a, b] = a ± b (b alone when a is missing: kids [b])
  func,      // text = function name; kids = args (log: [x, base])
  call,      // text = user function name ("f"); kids = args
  factorial, percent, degree,  // kids: [x]
  tuple,     // ( a, b, ... ) — ordered
  list,      // a, b, c at top level or inside bare braces — unordered by default
  set,       // \{ a, b \}
  interval,  // kids: [lo, hi]; lo_closed / hi_closed
  set_union, // kids: intervals or sets
  matrix,    // rows x cols, kids row-major
  relation,  // text = "=", "<", "<=", ">", ">=", "!=", "in"; kids: [lhs, rhs] (chains: several)
  ratio,     // a : b : c
  ellipsis,
};

struct node {
  kind k = kind::number;
  bool lo_closed = false, hi_closed = false;
  std::int16_t decimals = 0;
  std::int32_t rows = 0, cols = 0;
  std::string text;
  std::vector<int> kids;
};

// A deque, so that references to nodes stay valid while comparison appends derived nodes.
struct tree {
  std::deque<node> nodes;
  int root = -1;
  const node& at(int i) const { return nodes[static_cast<std::size_t>(i)]; }
};

// Cleans LaTeX noise (spacing, \left, \dfrac, $, double-escaped commands) before parsing.
std::string normalize_latex(std::string_view answer, const math_verifier_config& config);

// Parses a normalized answer. ok == false when the text is not a math expression.
struct parse_result {
  bool ok = false;
  tree t;
};
parse_result parse_math(std::string_view normalized, const math_verifier_config& config);

}  // namespace aha::rewards::detail
