// The built-in arithmetic task: "(3+4)*5=" -> "35", a chain of `terms` small operands joined by
// operators, deterministic from (seed, split, index). Graded by the math verifier against `gold`.
// Short enough for the built-in character-level tiny model. Tested by tasks.test.cpp.
//
// Its SFT demonstrations come in two forms: worked ("<think>3+4=7,7*5=35</think>...") and
// direct ("<think>(3+4)*5=35</think>..."). With several operations the direct form asks the
// model to recall a whole expression's value, the worked form only one small fact per step.
// `worked_fraction` sets how many demonstrations show their steps: a cold start that rarely
// shows its work leaves GRPO something to discover — that thinking step by step pays.
#pragma once

#include <string>

#include "actors/tasks/task.hpp"
#include "core/config.hpp"

namespace aha::actors::tasks {

struct arithmetic_config {
  int terms = 2;                 // operands per expression (2 = one operation)
  int max_operand = 20;          // operands are drawn from [0, max_operand] ([1, ...] with terms > 2)
  std::string ops = "+-*";       // operators to draw from
  double worked_fraction = 1.0;  // fraction of demonstrations that show their worked steps
};
template <class V>
void describe(V& v, arithmetic_config& c) {
  v.field("terms", c.terms, "operands per expression (2 = one operation)", config::range{2, 6});
  v.field("max_operand", c.max_operand, "largest operand", config::range{1, 1e6});
  v.field("ops", c.ops, "operators drawn from (any of + - *)");
  v.field("worked_fraction", c.worked_fraction,
          "fraction of SFT demonstrations that show worked steps (the rest answer directly)", config::range{0, 1});
}

// Task name "arithmetic". With two terms a-b never goes negative (operands are ordered); with
// more, every intermediate result is positive (redrawn otherwise).
task_sample arithmetic_sample(const arithmetic_config& config, std::uint64_t seed, split s, std::uint64_t index);

}  // namespace aha::actors::tasks
