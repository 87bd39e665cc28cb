// watchdog: names the actor a run is stuck on. Every `every`, it asks each watched actor for its
// progress (interfaces.hpp, progress_report): one that holds work while its count of finished work
// stands still for `stall_after`, or that does not answer at all for that long (blocked or frozen),
// is a stall; so is a whole run in which nothing finishes for twice stall_after while no single
// actor is to blame (each waits on another), named by what each one waits on. Each stall is
// reported once, until that part progresses again, as a line that says who, what it holds and the
// oldest item, for example
//   grader pool sandbox: 8 tasks in flight, none done for 30 s; oldest: task 123 (accuracy,
//   prompt 45) on a remote worker (node 3f2a...), 31 s old
// to the listener (stalled(stall): the controller logs it and applies supervision.on_stall) and to
// the metrics as gauges (watchdog/stalls: stalls so far; watchdog/stalled: parts stalled now).
// The watchdog never blocks and never acts itself: deciding is the supervisor's job.
// Messages:
//   watch(name, actor)  -  watch `actor` under `name` (a replacement takes the same name)
//   stats               -> std::vector<stall>: the stalls reported so far
// Tested by actors/supervision/watchdog.test.cpp.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/interfaces.hpp"

namespace aha::actors {

using watch_atom = caf::atom_constant<caf::atom("watch")>;
using stalled_atom = caf::atom_constant<caf::atom("stalled")>;

struct stall {
  std::string watched;     // the watched actor's name (what a supervisor restarts or blames)
  std::string part;        // the progress report's name (the grader's pool), or `watched`
  bool answering = true;   // false: the actor did not answer its probe
  std::uint64_t seconds = 0;  // how long without progress (or without an answer)
  std::string line;        // the whole message, for the log
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stall& x) {
  return f(caf::meta::type_name("aha.stall"), x.watched, x.part, x.answering, x.seconds, x.line);
}

using watchdog_actor = caf::typed_actor<caf::reacts_to<watch_atom, std::string, caf::actor>,
                                        caf::replies_to<stats_atom>::with<std::vector<stall>>>;

struct watchdog_config {
  std::chrono::milliseconds every{5000};         // probe interval
  std::chrono::milliseconds stall_after{600000};  // no progress (or no answer) for this long is a stall
  // The clock stall ages are measured with (tests substitute one they advance by hand).
  std::function<std::chrono::steady_clock::time_point()> now = [] { return std::chrono::steady_clock::now(); };
};

// `listener` receives (stalled_atom, stall); `metrics` (may be invalid) receives the gauges.
watchdog_actor spawn_watchdog(caf::actor_system& sys, watchdog_config config, caf::actor listener,
                              metrics_actor metrics);

}  // namespace aha::actors
