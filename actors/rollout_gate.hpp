// rollout_gate: admission by weight version, the generators' half of the staleness bound (the
// replay buffer's filter is the other half). The learner at version v consumes B groups per
// version, oldest first, so the last of k groups in flight is consumed at version
// v + ceil(k / B) - 1. A batch of n is granted only while that version, for k = in_flight + n, is
// at most v + eta: every group of the batch can be consumed before it is too stale. Every group in
// flight leaves exactly one way, and each way gives its slot back: consumed or dropped stale
// (advance, from the learner), never produced (release, from a generator or the controller).
// Counts are signed and checked: a retirement beyond what is in flight is counted in `unmatched`
// (a bookkeeping bug elsewhere, reported), never wraps the window.
//
// The bound holds only if groups are consumed in version order. Grading finishes out of order, so
// the gate also books groups in flight by weight version (granted at the learner's version, moved
// by `restamp` to the weights a generator actually sampled with), and answers `expiring`: how many
// groups of the version that ages out after the learner's next step are not yet consumed. The
// learner asks, and the replay buffer holds its batch until they are there (learner.hpp,
// `expiring_wait`), instead of training newer groups and dropping the late one. Messages:
//   acquire(n)                                  -> learner version; deferred (FIFO) until the n groups fit
//   acquire(n, version)                         -> the same for groups sampled with weights `version`
//                                                  (a replica on another host may lag the learner): they
//                                                  are booked at that version, fit only while they can be
//                                                  consumed within its eta; groups of weights older than
//                                                  the learner's that do not fit are refused (an error),
//                                                  not queued: waiting cannot help them, newer weights can
//   restamp(n, from, to)                        -  n groups granted at `from` are sampled with weights `to`
//   release(n, version)                         -  n groups of `version` will never be produced
//   advance(version, consumed_versions, dropped)-  the learner reached `version`; groups consumed
//                                                  (one weight version each) or dropped retire
//   expiring(version)                           -> groups of weight version `version - eta` in flight
//   stats                                       -> gate_stats
//   progress                                    -> progress_list: acquires waiting, groups granted
// A retirement of `any_version` (a drop, a dead generator's batch) takes the oldest group booked.
// A waiting acquire from an actor that dies is forgotten. Tested by actors/rollout_gate.test.cpp.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include <caf/all.hpp>

#include "actors/interfaces.hpp"

namespace aha::actors {

using acquire_atom = caf::atom_constant<caf::atom("acquire")>;
using release_atom = caf::atom_constant<caf::atom("release")>;
using advance_atom = caf::atom_constant<caf::atom("advance")>;
using restamp_atom = caf::atom_constant<caf::atom("restamp")>;
using expiring_atom = caf::atom_constant<caf::atom("expiring")>;

// A retirement whose weight version is not known: it takes the oldest group booked.
constexpr std::uint64_t any_version = std::numeric_limits<std::uint64_t>::max();

struct gate_stats {
  std::uint64_t learner_version = 0;
  std::uint64_t preexisting = 0;  // unconsumed groups already stored when the gate started (resume)
  std::uint64_t granted = 0;      // groups granted since start
  std::uint64_t consumed = 0;     // retired: consumed by the learner
  std::uint64_t dropped = 0;      // retired: dropped as stale by the replay buffer (never trained)
  std::uint64_t released = 0;     // retired: granted but never produced (generator failed, stopped, died)
  std::uint64_t in_flight = 0;    // preexisting + granted - consumed - dropped - released (never below 0)
  std::uint64_t unmatched = 0;    // retirements that found nothing in flight (0 unless a bug)
  std::uint64_t waiting = 0;      // acquire requests deferred now
  std::uint64_t window = 0;       // (eta + 1) x B: groups allowed in flight
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, gate_stats& x) {
  return f(caf::meta::type_name("aha.gate_stats"), x.learner_version, x.preexisting, x.granted, x.consumed, x.dropped,
           x.released, x.in_flight, x.unmatched, x.waiting, x.window);
}

using gate_stats_atom = caf::atom_constant<caf::atom("gstats")>;

using rollout_gate_actor =
    caf::typed_actor<caf::replies_to<acquire_atom, std::uint32_t>::with<std::uint64_t>,
                     caf::replies_to<acquire_atom, std::uint32_t, std::uint64_t>::with<std::uint64_t>,
                     caf::reacts_to<restamp_atom, std::uint32_t, std::uint64_t, std::uint64_t>,
                     caf::reacts_to<release_atom, std::uint32_t, std::uint64_t>,
                     caf::reacts_to<advance_atom, std::uint64_t, std::vector<std::uint64_t>, std::uint64_t>,
                     caf::replies_to<expiring_atom, std::uint64_t>::with<std::uint64_t>,
                     caf::replies_to<gate_stats_atom>::with<gate_stats>,
                     caf::replies_to<progress_atom>::with<progress_list>>;

struct rollout_gate_config {
  std::uint32_t groups_per_step = 1;  // B: groups the learner consumes per version
  std::uint32_t max_staleness = 0;    // eta
  std::uint64_t learner_version = 0;  // the learner's version at start (the checkpoint's on resume)
  std::uint64_t preexisting = 0;      // unconsumed groups already in the replay buffer (resume): in flight
};

rollout_gate_actor spawn_rollout_gate(caf::actor_system& system, const rollout_gate_config& config);

}  // namespace aha::actors
