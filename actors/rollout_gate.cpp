// The staleness gate (actors/rollout_gate.hpp): admission by weight version, signed accounting.
#include "actors/rollout_gate.hpp"

#include <algorithm>
#include <deque>
#include <set>

namespace aha::actors {
namespace {

struct gate_state {
  rollout_gate_config config;
  std::int64_t learner_version = 0;
  std::int64_t in_flight = 0;  // signed: a stray retirement can never wrap it (retire() clamps at 0)
  gate_stats totals;
  struct waiter {
    std::uint32_t groups;
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
  bool fits(std::uint32_t groups) const {
    return consumer_version_of_last(in_flight + groups) <= learner_version + config.max_staleness;
  }
  void grant(std::uint32_t groups) {
    in_flight += groups;
    totals.granted += groups;
  }
  // Retires up to `groups`; what finds nothing in flight is counted, not subtracted.
  void retire(std::uint64_t groups, std::uint64_t& counter) {
    counter += groups;
    const auto held = static_cast<std::uint64_t>(in_flight);
    const std::uint64_t matched = std::min(groups, held);
    in_flight -= static_cast<std::int64_t>(matched);
    totals.unmatched += groups - matched;
  }
  void grant_waiting() {
    while (!waiting.empty() && fits(waiting.front().groups)) {
      grant(waiting.front().groups);
      waiting.front().promise.deliver(static_cast<std::uint64_t>(learner_version));
      waiting.pop_front();
    }
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

rollout_gate_actor::behavior_type gate(self_ptr self, rollout_gate_config config) {
  auto& s = self->state;
  s.config = config;
  s.learner_version = static_cast<std::int64_t>(config.learner_version);
  // Leftovers of a resumed run retire through this gate like any group it granted.
  s.in_flight = static_cast<std::int64_t>(config.preexisting);
  s.totals.preexisting = config.preexisting;
  self->set_down_handler([=](caf::down_msg& down) { forget_waiters_of(self, down.source); });
  return {
      [=](acquire_atom, std::uint32_t groups) -> caf::result<std::uint64_t> {
        auto& st = self->state;
        if (groups == 0 || groups > st.window()) {
          return caf::make_error(caf::sec::invalid_argument,
                                 "acquire of " + std::to_string(groups) + " groups: the staleness window holds 1.." +
                                     std::to_string(st.window()));
        }
        if (st.waiting.empty() && st.fits(groups)) {
          st.grant(groups);
          return static_cast<std::uint64_t>(st.learner_version);
        }
        auto requester = caf::actor_cast<caf::actor_addr>(self->current_sender());
        if (requester && st.monitored.insert(requester).second) self->monitor(requester);
        auto promise = self->make_response_promise<std::uint64_t>();
        st.waiting.push_back({groups, requester, promise});
        return promise;
      },
      [=](release_atom, std::uint32_t groups) {
        auto& st = self->state;
        st.retire(groups, st.totals.released);
        st.grant_waiting();
      },
      [=](advance_atom, std::uint64_t version, std::uint64_t consumed, std::uint64_t dropped) {
        auto& st = self->state;
        st.learner_version = std::max(st.learner_version, static_cast<std::int64_t>(version));
        st.retire(consumed, st.totals.consumed);
        st.retire(dropped, st.totals.dropped);
        st.grant_waiting();
      },
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
