// Structural equivalence of two parsed answers (internal to rewards/): relations, assignments,
// lists, sets, tuples, intervals, matrices and scalar values, each under a rule of
// math_verifier_config. Scalars go to math_eval (exact first, then randomized numeric).
#pragma once

#include <string>

#include "rewards/math_eval.hpp"
#include "rewards/math_expr.hpp"

namespace aha::rewards::detail {

// Rewrites a tree in place into the form comparison expects (units dropped, \approx tails cut,
// equation chains reduced to their last value) and returns the new root.
int canonicalize(tree& t, int root, const math_verifier_config& config);

// True when the prediction answers the gold. `why` receives a short reason.
bool answers_equal(tree& gold, tree& pred, const math_verifier_config& config, budget& steps, std::string& why);

}  // namespace aha::rewards::detail
