// GRPO advantages (see advantages.hpp).
#include "actors/advantages.hpp"

#include <cmath>

namespace aha::actors {

std::vector<float> group_advantages(const std::vector<float>& rewards, const advantage_config& config) {
  std::vector<float> out(rewards.size(), 0.0f);
  if (rewards.size() < 2) return out;
  double mean = 0;
  for (float r : rewards) mean += r;
  mean /= static_cast<double>(rewards.size());
  double squares = 0;
  for (float r : rewards) squares += (r - mean) * (r - mean);
  double std_dev = std::sqrt(squares / static_cast<double>(rewards.size() - 1));
  double scale = config.std_normalise ? 1.0 / (std_dev + config.eps) : 1.0;
  for (std::size_t i = 0; i < rewards.size(); ++i) out[i] = static_cast<float>((rewards[i] - mean) * scale);
  return out;
}

bool rewards_all_equal(const std::vector<float>& rewards, float tolerance) {
  for (float r : rewards) {
    if (std::fabs(r - rewards.front()) > tolerance) return false;
  }
  return true;
}

}  // namespace aha::actors
