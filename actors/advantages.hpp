// GRPO group advantages and DAPO's dynamic-sampling predicate. Pure functions, no CAF.
//   A_i = (r_i - mean(r)) / (std(r) + eps)   (GRPO; std is the sample std, n-1, as TRL and verl)
//   A_i =  r_i - mean(r)                       (Dr. GRPO: std normalisation off)
// Tested by advantages.test.cpp.
#pragma once

#include <vector>

namespace aha::actors {

struct advantage_config {
  bool std_normalise = true;  // divide by the group's reward std (off = Dr. GRPO)
  float eps = 1e-6f;          // added to the std
};

// [G] advantages for [G] rewards; a group of one gets 0.
std::vector<float> group_advantages(const std::vector<float>& rewards, const advantage_config& config = {});

// True when every reward in the group is equal (within `tolerance`): all advantages are zero
// and DAPO's dynamic sampling drops the group.
bool rewards_all_equal(const std::vector<float>& rewards, float tolerance = 1e-6f);

}  // namespace aha::actors
