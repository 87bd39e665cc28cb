// The comparer behind answers_equal (internal to rewards/): one gold/prediction comparison
// with its rules per answer family. Dispatch, containers and scalars: math_compare.cpp;
// relations and intervals: math_relations.cpp.
#pragma once

#include <complex>
#include <optional>
#include <string>
#include <vector>

#include "rewards/math_compare.hpp"

namespace aha::rewards::detail {

// A subtree of one of the two trees, with the ± sign choices it is read under.
struct ref {
  tree* t;
  int i;
  unsigned mask = 0;  // ± sign choices for this item
  const node& n() const { return t->at(i); }
  ref kid(std::size_t k) const { return {t, n().kids[k], mask}; }
};

int pm_count(const tree& t, int i);          // ± nodes in the subtree
bool is_assignable(const tree& t, int i);    // "x", "f(x)", "(p, q)", "|AB|", "A:B"
int inf_sign(const tree& t, int i);          // +1 for ∞, -1 for -∞, else 0
bool is_inequality(const node& n);
bool interval_like(const node& n);           // interval, union, or an open pair (a, b)

// Compares two answers under the config's rules, charging every step to one budget. May append
// derived nodes (intervals from inequalities) to either tree; references stay valid (deque).
class comparer {
 public:
  comparer(const math_verifier_config& c, budget& b) : cfg_(c), steps_(b) {}

  bool equal(ref g, ref p, bool top);
  std::string why;

 private:
  const math_verifier_config& cfg_;
  budget& steps_;

  bool relation_sides_equal(ref g, ref p, bool top);
  bool containers_equal(ref g, ref p);
  bool unions_equal(ref g, ref p);
  bool matrices_equal(ref g, ref p);
  bool sequences_equal(ref g, ref p);
  bool relations_equal(ref g, ref p);
  bool items_equal(ref g, ref p, bool ordered);
  bool intervals_equal(ref g, ref p);
  bool scalars_equal(ref g, ref p);
  std::optional<bool> decimal_vs_irrational(ref g, ref p, unit_mode mode);
  bool exact_equal(ref g, ref p, unit_mode mode, bool& decided);
  bool numeric_equal(ref g, ref p, unit_mode mode);
  int to_interval(ref r);
  std::vector<ref> flatten(ref r);
  bool equation_proportional(ref g, ref p, int sign);
};

}  // namespace aha::rewards::detail
