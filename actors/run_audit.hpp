// The split audit of a run: what the run trained on, read back from its own artifacts (the SFT
// stage's sft_examples.jsonl and the replay store's consumed groups), checked against the
// held-out prompts. The split is disjoint by construction (tasks/split.hpp); this measures it,
// so report.json's train_eval_overlap is an observation, not a promise. Tested by
// tests/audit.test.cpp.
#pragma once

#include <cstdint>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "protocol/messages.hpp"

namespace aha::actors {

// Appends one line per SFT example: {"step","task","prompt","gold"} (the audit's SFT half).
void write_sft_example(std::ostream& out, std::uint64_t step, const protocol::prompt& prompt);

struct trained_problems {
  std::set<std::string> keys;       // problem keys (tasks::problem_key) trained on, SFT or GRPO
  std::uint64_t sft_examples = 0;   // lines of sft_examples.jsonl
  std::uint64_t grpo_groups = 0;    // consumed groups in the replay store
};
// Reads `sft_file` (absent: no SFT) and the consumed groups of the replay store at `replay_dir`
// (opened read-only: the run's buffer may still hold it; absent: no GRPO).
result<trained_problems> read_trained_problems(const std::string& sft_file, const std::string& replay_dir);

// How many of `held_out` were trained on.
std::uint64_t count_overlap(const std::vector<protocol::prompt>& held_out, const trained_problems& trained);

}  // namespace aha::actors
