// The built-in column-arithmetic task: multi-digit addition and subtraction worked digit by
// digit, right to left, with carries and borrows ("47+85=" -> "<think>7+5=12,4+8+1=13</think>
// <answer>132</answer>"). Its problem space is large (15,000 problems at two digits, a million
// at three), so held-out problems are new problems; its skill is a procedure over a hundred
// digit facts that every problem shares, so it transfers between them, unlike the recall of
// whole-problem facts. With `pad` operands are written at a fixed width ("07+85="): a column's
// digits then sit at the same place in every prompt. Graded by the math verifier.
// Tested by actors/tasks/tasks.test.cpp.
#pragma once

#include <string>

#include "actors/tasks/task.hpp"
#include "core/config.hpp"

namespace aha::actors::tasks {

struct addition_config {
  int min_digits = 1;      // fewest digits of an operand
  int max_digits = 3;      // most digits of an operand
  std::string ops = "+-";  // operators drawn from (+ and -)
  bool pad = false;        // zero-pad operands to max_digits ("07+85=")
};
template <class V>
void describe(V& v, addition_config& c) {
  v.field("min_digits", c.min_digits, "fewest digits of an operand", config::range{1, 9});
  v.field("max_digits", c.max_digits, "most digits of an operand", config::range{1, 9});
  v.field("ops", c.ops, "operators drawn from (any of + -)");
  v.field("pad", c.pad, "zero-pad operands to max_digits, so that columns line up (\"07+85=\")");
}

// Task name "addition". Each operand's digit count is drawn uniformly from [min_digits,
// max_digits]; a subtraction has its larger operand first (results are never negative).
task_sample addition_sample(const addition_config& config, std::uint64_t seed, split s, std::uint64_t index);

// The worked column steps of a+b or a-b (a >= b), right to left, joined by ',': one step per
// column of the longer operand (at least `columns`), "top+bottom=value" with "+1" when a carry
// comes in; for a subtraction "top-bottom=value" with "-1" when a borrow comes in, the top
// digit lifted by ten when its column borrows ("14-8=6").
std::string column_steps(long long a, long long b, char op, int columns = 1);

}  // namespace aha::actors::tasks
