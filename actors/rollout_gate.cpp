// The staleness gate (actors/rollout_gate.hpp): admission by weight version, signed accounting.
#include "actors/rollout_gate.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <set>

namespace aha::actors {
namespace {

struct gate_state {
  rollout_gate_config config;
  std::int64_t learner_version = 0;
  std::int64_t in_flight = 0;  // signed: a stray retirement can never wrap it (retire() clamps at 0)
  // The same groups by weight version (they sum to in_flight). A resumed run's leftovers are
  // stored, so never waited for: they are booked apart, versions unknown to the gate.
  std::map<std::uint64_t, std::int64_t> by_version;
  std::int64_t leftovers = 0;
  gate_stats totals;
  struct waiter {
    std::uint32_t groups;
    std::uint64_t version;  // the weights the groups will be sampled with (any_version: the learner's)
    caf::actor_addr requester;
    caf::typed_response_promise<std::uint64_t> promise;
  };
  std::deque<waiter> waiting;  // first come, first served: a large request is never starved
  std::set<caf::actor_addr> monitored;  // requesters watched for their death (once each)

  std::int64_t per_version() const { return std::max<std::int64_t>(1, config.groups_per_step); }
  std::int64_t window() const { return per_version() * (static_cast<std::int64_t>(config.max_staleness) + 1); }
  // The version at which the last of `groups` in flight is consumed when groups are consumed in
  // grant order, B per version, starting now.
  std::int64_t consumer_version_of_last(std::int64_t groups) const {
    return learner_version + (groups + per_version() - 1) / per_version() - 1;
  }
  // The version groups sampled with `version` are booked at: never newer than the learner's.
  std::int64_t booked_at(std::uint64_t version) const {
    return version == any_version ? learner_version : std::min<std::int64_t>(learner_version, static_cast<std::int64_t>(version));
  }
  // Whether a request that does not fit yet may wait: only one for groups of the learner's own
  // weights. Older weights gain nothing by waiting: each version the learner advances consumes B
  // groups ahead of them and moves their deadline no further, so at the head of the queue they
  // could block everyone for good (the learner waiting for groups, the groups for room). They are
  // refused instead; the learner has published newer weights, with which the sampler asks again.
  bool may_wait(std::uint64_t version) const { return booked_at(version) >= learner_version; }
  // Every group in flight, these included, is consumed before groups of `version` age out.
  bool fits(std::uint32_t groups, std::uint64_t version) const {
    return consumer_version_of_last(in_flight + groups) <= booked_at(version) + config.max_staleness;
  }
  void grant(std::uint32_t groups, std::uint64_t version) {
    in_flight += groups;
    by_version[static_cast<std::uint64_t>(booked_at(version))] += groups;
    totals.granted += groups;
  }
  // Takes one group booked at `version` (else a leftover, else the oldest); false if none is booked.
  bool unbook(std::uint64_t version) {
    auto at = by_version.find(version);
    if (at == by_version.end()) {
      if (leftovers > 0) {
        --leftovers;
        return true;
      }
      at = by_version.begin();
      if (at == by_version.end()) return false;
    }
    if (--at->second == 0) by_version.erase(at);
    return true;
  }
  // Retires one group of `version`; one that finds nothing in flight is counted, not subtracted.
  void retire(std::uint64_t version, std::uint64_t& counter) {
    ++counter;
    if (in_flight > 0 && unbook(version)) {
      --in_flight;
    } else {
      ++totals.unmatched;
    }
  }
  void retire(std::uint64_t groups, std::uint64_t version, std::uint64_t& counter) {
    for (std::uint64_t i = 0; i < groups; ++i) retire(version, counter);
  }
  // Moves up to `groups` booked at `from` to `to` (a hint: what is not booked there stays put).
  void restamp(std::uint32_t groups, std::uint64_t from, std::uint64_t to) {
    auto at = by_version.find(from);
    if (at == by_version.end() || from == to) return;
    const std::int64_t moved = std::min<std::int64_t>(groups, at->second);
    if ((at->second -= moved) == 0) by_version.erase(at);
    by_version[to] += moved;
  }
  // Groups in flight whose version trains for the last time in the learner's step at `version`.
  std::uint64_t expiring(std::uint64_t version) const {
    if (version < config.max_staleness) return 0;
    auto at = by_version.find(version - config.max_staleness);
    return at == by_version.end() ? 0 : static_cast<std::uint64_t>(at->second);
  }
  void grant_waiting() {
    while (!waiting.empty()) {
      auto& head = waiting.front();
      if (fits(head.groups, head.version)) {
        grant(head.groups, head.version);
        head.promise.deliver(static_cast<std::uint64_t>(learner_version));
      } else if (!may_wait(head.version)) {
        head.promise.deliver(stale_weights(head.groups, head.version));
      } else {
        return;
      }
      waiting.pop_front();
    }
  }
  caf::error stale_weights(std::uint32_t groups, std::uint64_t version) const {
    return to_caf_error(errc::timeout, std::to_string(groups) + " group(s) sampled with weights of version " +
                                           std::to_string(version) + " could not be trained within eta " +
                                           std::to_string(config.max_staleness) + " of the learner's " +
                                           std::to_string(learner_version) + ": wait for newer weights");
  }
  gate_stats stats() const {
    gate_stats s = totals;
    s.learner_version = static_cast<std::uint64_t>(learner_version);
    s.in_flight = static_cast<std::uint64_t>(in_flight);
    s.waiting = waiting.size();
    s.window = static_cast<std::uint64_t>(window());
    return s;
  }
};

using self_ptr = rollout_gate_actor::stateful_pointer<gate_state>;

// A waiter whose generator died would be granted slots nobody gives back: forget it.
void forget_waiters_of(self_ptr self, const caf::actor_addr& dead) {
  self->state.monitored.erase(dead);
  auto& w = self->state.waiting;
  w.erase(std::remove_if(w.begin(), w.end(), [&](const gate_state::waiter& x) { return x.requester == dead; }), w.end());
  self->state.grant_waiting();  // the head may have been the one blocking the others
}

// Grants `groups` sampled with weights `version` once they fit (first come, first served);
// refuses groups of older weights than the learner's that do not fit (may_wait).
caf::result<std::uint64_t> acquire(self_ptr self, std::uint32_t groups, std::uint64_t version) {
  auto& st = self->state;
  if (groups == 0 || groups > st.window()) {
    return caf::make_error(caf::sec::invalid_argument, "acquire of " + std::to_string(groups) +
                                                           " groups: the staleness window holds 1.." +
                                                           std::to_string(st.window()));
  }
  if (st.waiting.empty()) {
    if (st.fits(groups, version)) {
      st.grant(groups, version);
      return static_cast<std::uint64_t>(st.learner_version);
    }
    if (!st.may_wait(version)) return st.stale_weights(groups, version);
  }
  auto requester = caf::actor_cast<caf::actor_addr>(self->current_sender());
  if (requester && st.monitored.insert(requester).second) self->monitor(requester);
  auto promise = self->make_response_promise<std::uint64_t>();
  st.waiting.push_back({groups, version, requester, promise});
  return promise;
}

rollout_gate_actor::behavior_type gate(self_ptr self, rollout_gate_config config) {
  auto& s = self->state;
  s.config = config;
  s.learner_version = static_cast<std::int64_t>(config.learner_version);
  // Leftovers of a resumed run retire through this gate like any group it granted.
  s.in_flight = static_cast<std::int64_t>(config.preexisting);
  s.leftovers = s.in_flight;
  s.totals.preexisting = config.preexisting;
  self->set_down_handler([=](caf::down_msg& down) { forget_waiters_of(self, down.source); });
  return {
      [=](acquire_atom, std::uint32_t groups) -> caf::result<std::uint64_t> { return acquire(self, groups, any_version); },
      [=](acquire_atom, std::uint32_t groups, std::uint64_t version) -> caf::result<std::uint64_t> {
        return acquire(self, groups, version);
      },
      [=](restamp_atom, std::uint32_t groups, std::uint64_t from, std::uint64_t to) {
        self->state.restamp(groups, from, to);
      },
      [=](release_atom, std::uint32_t groups, std::uint64_t version) {
        auto& st = self->state;
        st.retire(groups, version, st.totals.released);
        st.grant_waiting();
      },
      [=](advance_atom, std::uint64_t version, const std::vector<std::uint64_t>& consumed_versions,
          std::uint64_t dropped) {
        auto& st = self->state;
        st.learner_version = std::max(st.learner_version, static_cast<std::int64_t>(version));
        for (auto v : consumed_versions) st.retire(v, st.totals.consumed);
        st.retire(dropped, any_version, st.totals.dropped);  // a dropped group is among the oldest
        st.grant_waiting();
      },
      [=](expiring_atom, std::uint64_t version) { return self->state.expiring(version); },
      [=](gate_stats_atom) { return self->state.stats(); },
      // Waiting acquires are backpressure (the learner is slower), not work of the gate's own: it
      // holds nothing, and says what waits, for the watchdog's run-wide stall line.
      [=](progress_atom) -> progress_list {
        auto& st = self->state;
        std::string oldest;
        if (!st.waiting.empty()) {
          oldest = "an acquire of " + std::to_string(st.waiting.front().groups) + " groups; learner at version " +
                   std::to_string(st.learner_version) + ", " + std::to_string(st.in_flight) + " of " +
                   std::to_string(st.window()) + " slots in flight";
        }
        return {{"rollout gate", "acquires", 0, st.totals.granted, oldest}};
      },
  };
}

}  // namespace

rollout_gate_actor spawn_rollout_gate(caf::actor_system& system, const rollout_gate_config& config) {
  return system.spawn(gate, config);
}

}  // namespace aha::actors
