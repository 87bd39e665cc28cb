// The staleness window (actors/rollout_gate.hpp).
#include "actors/rollout_gate.hpp"

#include <deque>

namespace aha::actors {
namespace {

struct gate_state {
  std::uint64_t window = 0;
  std::uint64_t learner_version = 0;
  std::uint64_t granted = 0;
  std::uint64_t retired = 0;
  struct waiter {
    std::uint32_t groups;
    caf::typed_response_promise<std::uint64_t> promise;
  };
  std::deque<waiter> waiting;  // first come, first served: a large request is never starved

  bool fits(std::uint32_t groups) const { return granted - retired + groups <= window; }
  void grant_waiting() {
    while (!waiting.empty() && fits(waiting.front().groups)) {
      granted += waiting.front().groups;
      waiting.front().promise.deliver(learner_version);
      waiting.pop_front();
    }
  }
};

rollout_gate_actor::behavior_type gate(rollout_gate_actor::stateful_pointer<gate_state> self,
                                       std::uint32_t groups_per_step, std::uint32_t max_staleness) {
  self->state.window = static_cast<std::uint64_t>(groups_per_step) * (max_staleness + 1);
  return {
      [=](acquire_atom, std::uint32_t groups) -> caf::result<std::uint64_t> {
        auto& s = self->state;
        if (groups > s.window) {
          return caf::make_error(caf::sec::invalid_argument, "acquire larger than the staleness window");
        }
        if (s.waiting.empty() && s.fits(groups)) {
          s.granted += groups;
          return s.learner_version;
        }
        auto promise = self->make_response_promise<std::uint64_t>();
        s.waiting.push_back({groups, promise});
        return promise;
      },
      [=](release_atom, std::uint32_t groups) {
        self->state.retired += groups;
        self->state.grant_waiting();
      },
      [=](advance_atom, std::uint64_t version, std::uint64_t retired) {
        self->state.learner_version = std::max(self->state.learner_version, version);
        self->state.retired += retired;
        self->state.grant_waiting();
      },
      [=](gate_stats_atom) {
        const auto& s = self->state;
        return gate_stats{s.learner_version, s.granted, s.retired, s.waiting.size(), s.window};
      },
  };
}

}  // namespace

rollout_gate_actor spawn_rollout_gate(caf::actor_system& system, std::uint32_t groups_per_step,
                                      std::uint32_t max_staleness) {
  return system.spawn(gate, groups_per_step, max_staleness);
}

}  // namespace aha::actors
