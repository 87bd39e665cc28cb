// The restart policy (actors/supervision/restart_policy.hpp): a sliding window of deaths.
#include "actors/supervision/restart_policy.hpp"

#include <algorithm>

namespace aha::actors {

std::optional<std::chrono::milliseconds> restart_policy::on_death(clock_type::time_point now) {
  while (!deaths_.empty() && now - deaths_.front() > config_.restart_window) deaths_.pop_front();
  deaths_.push_back(now);
  if (deaths_.size() > config_.max_restarts) return std::nullopt;
  // 1, 2, 4, ... x restart_backoff for the 1st, 2nd, 3rd... death in the window, capped.
  auto delay = config_.restart_backoff;
  for (std::size_t i = 1; i < deaths_.size() && delay < config_.max_backoff; ++i) delay *= 2;
  return std::min(delay, config_.max_backoff);
}

}  // namespace aha::actors
