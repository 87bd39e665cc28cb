// GRPO advantages (see advantages.hpp).
#include "actors/advantages.hpp"

#include <cmath>

namespace aha::actors {

bool grading_failed(const protocol::reward_verdict& verdict) {
  for (const auto& c : verdict.components) {
    if (c.status != protocol::verdict_status::ok) return true;
  }
  return false;
}

std::vector<bool> grading_failures(const std::vector<protocol::reward_verdict>& verdicts) {
  std::vector<bool> out;
  for (const auto& v : verdicts) out.push_back(grading_failed(v));
  return out;
}

std::vector<float> group_advantages_excluding(const std::vector<float>& rewards, const std::vector<bool>& excluded,
                                    const advantage_config& config) {
  auto included = [&](std::size_t i) { return i >= excluded.size() || !excluded[i]; };
  std::vector<float> out(rewards.size(), 0.0f);
  double mean = 0, n = 0;
  for (std::size_t i = 0; i < rewards.size(); ++i) {
    if (included(i)) mean += rewards[i], n += 1;
  }
  if (n < 2) return out;
  mean /= n;
  double squares = 0;
  for (std::size_t i = 0; i < rewards.size(); ++i) {
    if (included(i)) squares += (rewards[i] - mean) * (rewards[i] - mean);
  }
  double std_dev = std::sqrt(squares / (n - 1));
  double scale = config.std_normalise ? 1.0 / (std_dev + config.eps) : 1.0;
  for (std::size_t i = 0; i < rewards.size(); ++i) {
    if (included(i)) out[i] = static_cast<float>((rewards[i] - mean) * scale);
  }
  return out;
}

std::vector<float> group_advantages(const std::vector<float>& rewards, const advantage_config& config) {
  return group_advantages_excluding(rewards, {}, config);
}

bool rewards_all_equal_excluding(const std::vector<float>& rewards, const std::vector<bool>& excluded, float tolerance) {
  const float* first = nullptr;
  for (std::size_t i = 0; i < rewards.size(); ++i) {
    if (i < excluded.size() && excluded[i]) continue;
    if (!first) first = &rewards[i];
    if (std::fabs(rewards[i] - *first) > tolerance) return false;
  }
  return true;
}

bool rewards_all_equal(const std::vector<float>& rewards, float tolerance) {
  return rewards_all_equal_excluding(rewards, {}, tolerance);
}

}  // namespace aha::actors
