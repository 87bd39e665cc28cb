// GRPO group advantages, DAPO's dynamic-sampling predicate, and what counts as a failed grade.
// Pure functions, no CAF.
//   A_i = (r_i - mean(r)) / (std(r) + eps)   (GRPO; std is the sample std, n-1, as TRL and verl)
//   A_i =  r_i - mean(r)                       (Dr. GRPO: std normalisation off)
// mean and std run over the rollouts whose grading succeeded; a failed grade is no answer's score.
// Tested by advantages.test.cpp.
#pragma once

#include <vector>

#include "protocol/messages.hpp"

namespace aha::actors {

struct advantage_config {
  bool std_normalise = true;  // divide by the group's reward std (off = Dr. GRPO)
  float eps = 1e-6f;          // added to the std
};

// True when a verdict is not a grade: a component timed out or failed (verdict_status timeout or
// error). Its total is 0 by convention, not because the answer was wrong, so the rollout is left
// out of its group's mean and std, gets advantage 0, and the trainer gives it no loss weight (nor a
// place in the token normaliser). Derived from the stored statuses, so groups stored before this
// rule are read the same way (no schema change).
bool grading_failed(const protocol::reward_verdict& verdict);
std::vector<bool> grading_failures(const std::vector<protocol::reward_verdict>& verdicts);  // [G]

// [G] advantages for [G] rewards; a group of one gets 0.
std::vector<float> group_advantages(const std::vector<float>& rewards, const advantage_config& config = {});
// The same over the rollouts not `excluded` [G]; excluded ones get 0. Fewer than two included: all 0.
std::vector<float> group_advantages_excluding(const std::vector<float>& rewards, const std::vector<bool>& excluded,
                                    const advantage_config& config);

// True when every reward in the group is equal (within `tolerance`): all advantages are zero
// and DAPO's dynamic sampling drops the group. `excluded` [G] (optional) leaves rollouts out.
bool rewards_all_equal(const std::vector<float>& rewards, float tolerance = 1e-6f);
bool rewards_all_equal_excluding(const std::vector<float>& rewards, const std::vector<bool>& excluded, float tolerance = 1e-6f);

}  // namespace aha::actors
