// Supervision settings ([supervision] in a recipe) and the restart policy they define: an actor
// that dies is replaced after a backoff that doubles with each death inside restart_window (up
// to max_backoff); one that dies more than max_restarts times inside the window is not replaced
// again, and the run stops with a clear error instead of restarting forever. The watchdog's
// settings (watchdog.hpp) and what a stall leads to (on_stall) live here too.
// Tested by actors/supervision/restart_policy.test.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>

#include "core/config.hpp"

namespace aha::actors {

enum class stall_action { log, restart, stop };

struct supervision_config {
  std::chrono::milliseconds watch_every{5000};    // watchdog probe interval
  std::chrono::seconds stall_after{600};          // holding work without progress (or silent) this long is a stall
  stall_action on_stall = stall_action::stop;     // what a stall leads to
  std::uint32_t max_restarts = 5;                 // deaths of one actor tolerated inside restart_window
  std::chrono::seconds restart_window{600};
  std::chrono::milliseconds restart_backoff{1000};  // first replacement's delay; doubles per death in the window
  std::chrono::milliseconds max_backoff{30000};
  std::chrono::seconds teardown_timeout{60};      // actors still running this long after the stop are named, and the process exits
};
template <class V>
void describe(V& v, supervision_config& c) {
  v.field("watch_every", c.watch_every, "watchdog: how often every actor is asked for its progress (duration)",
          config::range{0.01, 3600});
  v.field("stall_after", c.stall_after,
          "watchdog: an actor holding work without finishing any, or not answering, this long is stalled (duration)",
          config::range{1, 1e6});
  v.field("on_stall", c.on_stall,
          "what a stall leads to: log (a line and metrics only), restart (the stalled grader pool's workers are "
          "replaced and their tasks re-queued; a stall of any other actor stops the run), stop (the run ends "
          "with an error naming it; its last checkpoint resumes with --resume)",
          {{"log", stall_action::log}, {"restart", stall_action::restart}, {"stop", stall_action::stop}});
  v.field("max_restarts", c.max_restarts, "deaths of one actor tolerated inside restart_window; one more stops the run",
          config::range{0, 1e6});
  v.field("restart_window", c.restart_window, "the window max_restarts counts deaths in (duration)",
          config::range{1, 1e7});
  v.field("restart_backoff", c.restart_backoff, "delay before the first replacement; doubles per death in the window",
          config::range{0, 3600});
  v.field("max_backoff", c.max_backoff, "the longest delay before a replacement (duration)", config::range{0, 3600});
  v.field("teardown_timeout", c.teardown_timeout,
          "actors still running this long after the run stopped are named and the process exits (duration)",
          config::range{1, 86400});
}

class restart_policy {
 public:
  using clock_type = std::chrono::steady_clock;
  explicit restart_policy(const supervision_config& config) : config_(config) {}

  // Records a death at `now`. Returns the delay before the replacement starts, or nothing when
  // this death is one more than max_restarts inside restart_window (do not replace).
  std::optional<std::chrono::milliseconds> on_death(clock_type::time_point now);
  // Deaths inside the window ending at the last recorded death.
  std::uint32_t recent_deaths() const { return static_cast<std::uint32_t>(deaths_.size()); }

 private:
  supervision_config config_;
  std::deque<clock_type::time_point> deaths_;
};

}  // namespace aha::actors
