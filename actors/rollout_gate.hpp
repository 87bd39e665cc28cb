// rollout_gate: the staleness bound, enforced by construction. Generators ask for permission
// before sampling groups; the gate grants at most (max_staleness + 1) x groups_per_step groups
// beyond what the learner has retired (consumed or dropped), so no group can be more than
// max_staleness versions behind the learner that consumes it. With max_staleness = 0 this is
// strict alternation (mode = "sync"). Messages:
//   acquire(groups)            -> learner version, deferred until the groups fit in the window
//   release(groups)            -  groups granted but never produced (a generator failed or stopped)
//   advance(version, retired)  -  the learner reached `version`, retiring `retired` more groups
//   stats                      -> gate_stats
// Tested deterministically by actors/rollout_gate.test.cpp.
#pragma once

#include <cstdint>

#include <caf/all.hpp>

namespace aha::actors {

using acquire_atom = caf::atom_constant<caf::atom("acquire")>;
using release_atom = caf::atom_constant<caf::atom("release")>;
using advance_atom = caf::atom_constant<caf::atom("advance")>;

struct gate_stats {
  std::uint64_t learner_version = 0;
  std::uint64_t granted = 0;   // groups granted since start
  std::uint64_t retired = 0;   // groups consumed, dropped or released since start
  std::uint64_t waiting = 0;   // acquire requests deferred now
  std::uint64_t window = 0;    // groups allowed in flight
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, gate_stats& x) {
  return f(caf::meta::type_name("aha.gate_stats"), x.learner_version, x.granted, x.retired, x.waiting, x.window);
}

using gate_stats_atom = caf::atom_constant<caf::atom("gstats")>;

using rollout_gate_actor =
    caf::typed_actor<caf::replies_to<acquire_atom, std::uint32_t>::with<std::uint64_t>,
                     caf::reacts_to<release_atom, std::uint32_t>,
                     caf::reacts_to<advance_atom, std::uint64_t, std::uint64_t>,
                     caf::replies_to<gate_stats_atom>::with<gate_stats>>;

// groups_per_step: groups the learner consumes per step; max_staleness: eta.
rollout_gate_actor spawn_rollout_gate(caf::actor_system& system, std::uint32_t groups_per_step,
                                      std::uint32_t max_staleness);

}  // namespace aha::actors
