// The train/eval split by construction: whether a problem is held out is a pure function of its
// canonical content (task + normalised prompt text, hashed with a fixed key), so no seed, draw
// order or dataset size can put one problem on both sides. Built-in tasks redraw until a sample
// falls on the side asked for (dataset.cpp); JSONL eval sets drop records whose key also occurs
// in the train file, and duplicates. The run audits the result (controller: train_eval_overlap).
// Tested by actors/tasks/tasks.test.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "actors/tasks/task.hpp"
#include "protocol/messages.hpp"

namespace aha::actors::tasks {

// "task\n" + the prompt text trimmed, runs of white space collapsed to one space, ASCII
// letters lowered: "What is  2+2?" and "what is 2+2?" are one problem. A built-in task's
// language phrase is dropped first (phrasing.hpp): "Calcule 3+4=" and "3+4=" are one problem.
std::string problem_key(std::string_view task, std::string_view text);
inline std::string problem_key(const protocol::prompt& p) { return problem_key(p.task, p.text); }

// A keyed 64-bit hash of a problem key (FNV-1a, then splitmix64 with the split's key). The key
// is fixed: changing it would move problems between the sides of every existing run.
std::uint64_t problem_hash(std::string_view key);

// The side a problem belongs to: eval when its hash falls in the lowest `eval_fraction` of the
// range. Stable across runs, seeds and machines.
split split_of(std::string_view key, double eval_fraction);

}  // namespace aha::actors::tasks
