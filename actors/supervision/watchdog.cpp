// The watchdog (actors/supervision/watchdog.hpp): periodic progress probes, stall detection.
#include "actors/supervision/watchdog.hpp"

#include <map>

namespace aha::actors {
namespace {

using clock_type = std::chrono::steady_clock;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using watchdog_impl = watchdog_actor::extend<caf::reacts_to<tick_atom>>;

// One reported part (a pool, a generator): when its count last moved.
struct part_track {
  std::uint64_t done = 0;
  clock_type::time_point since;  // last progress, or when it began to hold work
  bool reported = false;         // this stall was reported already
};

struct watched_entry {
  caf::actor handle;
  bool probing = false;             // a probe is out; no second one until it returns
  clock_type::time_point probe_sent;
  bool silent_reported = false;     // "does not answer" was reported already
  std::map<std::string, part_track> parts;
};

struct watchdog_state {
  watchdog_config config;
  clock_type::time_point last_progress;  // when any part's count last moved
  bool run_stall_reported = false;
  std::map<std::string, std::string> waiting;  // part -> what it waits on or holds (its `oldest`), latest answer
  caf::actor listener;
  metrics_actor metrics;
  std::map<std::string, watched_entry> watched;
  std::vector<stall> reported;
  static inline const char* name = "watchdog";
};

using self_ptr = watchdog_impl::stateful_pointer<watchdog_state>;

std::uint64_t whole_seconds(clock_type::duration d) {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(d).count());
}

void publish_gauges(self_ptr self) {
  auto& st = self->state;
  if (!st.metrics) return;
  double stalled_now = 0;
  for (const auto& [name, entry] : st.watched) {
    stalled_now += entry.silent_reported ? 1 : 0;
    for (const auto& [part, track] : entry.parts) stalled_now += track.reported ? 1 : 0;
  }
  self->send(st.metrics, gauge_atom::value,
             metric_map{{"watchdog/stalls", static_cast<double>(st.reported.size())}, {"watchdog/stalled", stalled_now}});
}

void report(self_ptr self, stall s) {
  auto& st = self->state;
  st.reported.push_back(s);
  if (st.listener) caf::anon_send(st.listener, stalled_atom::value, std::move(s));
}

// Compares one answer with the last: a count that moved, or nothing held, is progress.
void on_answer(self_ptr self, const std::string& name, const progress_list& parts) {
  auto& st = self->state;
  auto it = st.watched.find(name);
  if (it == st.watched.end()) return;
  auto& entry = it->second;
  const auto now = st.config.now();
  entry.probing = false;
  entry.silent_reported = false;
  for (const auto& part : parts) {
    if (part.oldest.empty()) {
      st.waiting.erase(part.name);
    } else {
      st.waiting[part.name] = part.oldest;
    }
    auto [track, fresh] = entry.parts.try_emplace(part.name, part_track{part.done, now, false});
    auto& t = track->second;
    if (fresh) continue;
    if (part.done != t.done) {
      st.last_progress = now;
      st.run_stall_reported = false;
    }
    if (part.held == 0 || part.done != t.done) {
      t = part_track{part.done, now, false};
      continue;
    }
    const auto quiet = now - t.since;
    if (t.reported || quiet < st.config.stall_after) continue;
    t.reported = true;
    stall s{name, part.name, true, whole_seconds(quiet), ""};
    s.line = part.name + ": " + std::to_string(part.held) + " " + part.unit + " in flight, none done for " +
             std::to_string(s.seconds) + " s" + (part.oldest.empty() ? "" : "; oldest: " + part.oldest);
    report(self, std::move(s));
  }
  publish_gauges(self);
}

void probe(self_ptr self, const std::string& name) {
  auto& st = self->state;
  auto& entry = st.watched.at(name);
  const auto now = st.config.now();
  if (entry.probing) {
    // Still no answer: a blocked or frozen actor (a dead one is its supervisor's down message).
    const auto quiet = now - entry.probe_sent;
    if (!entry.silent_reported && quiet >= st.config.stall_after) {
      entry.silent_reported = true;
      stall s{name, name, false, whole_seconds(quiet), ""};
      s.line = name + ": has not answered for " + std::to_string(s.seconds) +
               " s (blocked in a call, or its process or host is frozen)";
      report(self, std::move(s));
      publish_gauges(self);
    }
    return;
  }
  entry.probing = true;
  entry.probe_sent = now;
  auto handle = entry.handle;
  // No timeout of its own: the age check above decides, on the watchdog's clock. The request is
  // bounded anyway (a dead receiver answers with an error at once, and one that never answers is
  // dropped when the watchdog quits).
  self->request(handle, caf::infinite, progress_atom::value)
      .then([self, name, handle](const progress_list& parts) {
              auto it = self->state.watched.find(name);
              if (it != self->state.watched.end() && it->second.handle == handle) on_answer(self, name, parts);
            },
            [self, name, handle](const caf::error&) {
              // Gone (its supervisor hears of that): probe a replacement afresh.
              auto it = self->state.watched.find(name);
              if (it != self->state.watched.end() && it->second.handle == handle) it->second.probing = false;
            });
}

// Nothing finished anywhere for twice stall_after, and no single actor was named: a stall of the
// whole run (every actor waiting on another: a lost slot, a deadlock), named by what each waits on.
void check_run_wide(self_ptr self) {
  auto& st = self->state;
  if (st.watched.empty() || st.run_stall_reported) return;
  const auto quiet = st.config.now() - st.last_progress;
  if (quiet < 2 * st.config.stall_after) return;
  for (const auto& [name, entry] : st.watched) {
    if (entry.silent_reported) return;
    for (const auto& [part, track] : entry.parts) {
      if (track.reported) return;
    }
  }
  st.run_stall_reported = true;
  stall s{"run", "run", true, whole_seconds(quiet), ""};
  s.line = "no actor finished any work for " + std::to_string(s.seconds) + " s";
  for (const auto& [part, what] : st.waiting) s.line += "; " + part + ": " + what;
  report(self, std::move(s));
  publish_gauges(self);
}

watchdog_impl::behavior_type watchdog(self_ptr self, watchdog_config config, caf::actor listener,
                                      metrics_actor metrics) {
  auto& st = self->state;
  st.config = std::move(config);
  st.last_progress = st.config.now();
  st.listener = std::move(listener);
  st.metrics = std::move(metrics);
  self->send(self, tick_atom::value);
  return {
      [self](watch_atom, const std::string& name, caf::actor handle) {
        self->state.watched[name] = watched_entry{std::move(handle), false, {}, false, {}};
      },
      [self](stats_atom) { return self->state.reported; },
      [self](tick_atom) {
        std::vector<std::string> names;
        for (const auto& [name, entry] : self->state.watched) names.push_back(name);
        for (const auto& name : names) probe(self, name);
        check_run_wide(self);
        self->delayed_send(self, self->state.config.every, tick_atom::value);
      },
  };
}

}  // namespace

watchdog_actor spawn_watchdog(caf::actor_system& sys, watchdog_config config, caf::actor listener,
                              metrics_actor metrics) {
  return sys.spawn(watchdog, std::move(config), std::move(listener), std::move(metrics));
}

}  // namespace aha::actors
