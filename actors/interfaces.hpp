// The vocabulary between aha's actors: atoms, the small value types they exchange besides the
// protocol messages, and the typed actor interfaces (a wrong message fails to compile).
// Spawn functions and their config structs live next to each actor (replay_buffer.hpp,
// prompt_source.hpp, grader.hpp, metrics.hpp); this header only names what crosses mailboxes.
// Every request must carry a finite timeout (STACK.md: a request to a dead peer never completes).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/caf_types.hpp"
#include "protocol/messages.hpp"

namespace aha::actors {

// ---- atoms (text <= 10 characters). CAF already has put_atom, get_atom, ok_atom, flush_atom.
using fetch_atom = caf::atom_constant<caf::atom("fetch")>;
using consume_atom = caf::atom_constant<caf::atom("consume")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using next_atom = caf::atom_constant<caf::atom("next")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using grade_atom = caf::atom_constant<caf::atom("grade")>;
using score_atom = caf::atom_constant<caf::atom("score")>;
using record_atom = caf::atom_constant<caf::atom("record")>;
using gauge_atom = caf::atom_constant<caf::atom("gauge")>;
using work_atom = caf::atom_constant<caf::atom("work")>;
using result_atom = caf::atom_constant<caf::atom("result")>;
using deadline_atom = caf::atom_constant<caf::atom("deadline")>;
using wake_atom = caf::atom_constant<caf::atom("wake")>;
using requeue_atom = caf::atom_constant<caf::atom("requeue")>;
using stored_atom = caf::atom_constant<caf::atom("stored")>;
using handover_atom = caf::atom_constant<caf::atom("handover")>;
using offer_atom = caf::atom_constant<caf::atom("offer")>;
using probe_atom = caf::atom_constant<caf::atom("probe")>;
using progress_atom = caf::atom_constant<caf::atom("progress")>;
using restart_atom = caf::atom_constant<caf::atom("restart")>;

// Where an actor that does blocking I/O runs: on its own thread (the default, STYLE.md: no
// blocking in event-based actors), or on the scheduler (only for deterministic tests under
// CAF's test coordinator, where the blocking calls are fast local ones).
enum class threading { detached, scheduled };

// ---- value types ------------------------------------------------------------------------------

// The learner asks the replay buffer for the groups of one optimizer step.
struct fetch_request {
  std::uint64_t step = 0;             // learner step the batch is for (leases are per step)
  std::uint64_t learner_version = 0;  // learner's weight version now
  std::uint32_t batch_groups = 1;     // groups wanted
  std::uint32_t max_staleness = 0;    // eta: serve only groups with min_weight_version >= version - eta
  std::uint32_t max_wait_ms = 0;      // reply at once when 0; else wait up to this for a full batch
  // Groups of version learner_version - eta (their last step) not yet consumed, up to a batch: a
  // full batch must hold this many of them, else it is answered empty (the learner asks again).
  std::uint32_t expiring_groups = 0;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, fetch_request& x) {
  return f(caf::meta::type_name("aha.fetch_request"), x.step, x.learner_version, x.batch_groups, x.max_staleness,
           x.max_wait_ms, x.expiring_groups);
}

// Replay buffer counters (the store's view plus in-memory leases).
struct replay_stats {
  std::uint64_t stored_groups = 0;      // groups on disk (any state)
  std::uint64_t ready_groups = 0;       // unconsumed, not stale, not leased
  std::uint64_t leased_groups = 0;      // handed to the learner, not yet consumed
  std::uint64_t consumed_groups = 0;    // consumed and still stored
  std::uint64_t stale_groups = 0;       // unconsumed but too old for the learner: never served
  std::uint64_t stored_bytes = 0;       // sum of value sizes on disk
  std::uint64_t puts = 0;               // groups acknowledged since open
  std::uint64_t commits = 0;            // synced writes since open (puts / commits = group-commit size)
  std::uint64_t dropped_stale = 0;      // groups found stale since open
  std::uint64_t evicted = 0;            // groups deleted by the size bound since open
  std::uint64_t fetches = 0;            // fetch requests answered since open
  std::uint64_t short_fetches = 0;      // answered with fewer groups than asked
  std::uint64_t last_learner_step = 0;  // from the last consume (persisted)
  std::uint64_t max_weight_version = 0; // newest min_weight_version seen
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replay_stats& x) {
  return f(caf::meta::type_name("aha.replay_stats"), x.stored_groups, x.ready_groups, x.leased_groups,
           x.consumed_groups, x.stale_groups, x.stored_bytes, x.puts, x.commits, x.dropped_stale, x.evicted, x.fetches,
           x.short_fetches, x.last_learner_step, x.max_weight_version);
}

struct prompt_source_stats {
  std::uint64_t epoch = 0;        // current epoch (0-based)
  std::uint64_t issued = 0;       // prompts handed out since start (re-issues included)
  std::uint64_t done = 0;         // prompts marked done since start
  std::uint64_t outstanding = 0;  // handed out, not yet done
  std::uint64_t dataset_size = 0; // prompts per epoch (0 = unbounded generator)
  std::uint64_t stored = 0;       // outstanding whose group is durable in the replay buffer
  std::uint64_t requeued = 0;     // prompts put back for re-issue since start (dead holder, stale group)
  std::uint64_t reissued = 0;     // prompts handed out again since start (after a requeue or a restart)
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, prompt_source_stats& x) {
  return f(caf::meta::type_name("aha.prompt_source_stats"), x.epoch, x.issued, x.done, x.outstanding,
           x.dataset_size, x.stored, x.requeued, x.reissued);
}

struct grader_stats {
  std::uint64_t groups = 0;            // groups graded (stored or scored)
  std::uint64_t rollouts = 0;          // rollouts graded
  std::uint64_t reward_timeouts = 0;   // components that missed their deadline (verdict: timeout)
  std::uint64_t reward_errors = 0;     // components whose function failed (verdict: error)
  std::uint64_t worker_restarts = 0;   // reward workers that died and were replaced
  std::uint64_t requeued = 0;          // tasks re-queued because their worker died
  std::uint64_t queued_tasks = 0;      // tasks waiting for a worker now
  std::uint64_t in_flight_tasks = 0;   // tasks on workers now
  std::uint64_t pending_groups = 0;    // groups accepted, not yet replied
  double grading_ms_mean = 0;          // mean wall time from grade() to reply
  std::uint64_t remote_workers = 0;         // offered (remote) workers in the pools now
  std::uint64_t remote_in_flight_tasks = 0; // tasks on remote workers now
  std::uint64_t remote_tasks = 0;           // tasks finished by remote workers since start
  std::uint64_t remote_workers_lost = 0;    // remote workers dropped: died, node gone, or past a deadline
  std::uint64_t grading_failures_masked = 0;  // stored rollouts whose grade failed (timeout/error): masked, not trained as wrong
  std::uint64_t requeued_unreachable = 0;     // remote tasks past their deadline whose node did not answer: re-queued
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, grader_stats& x) {
  return f(caf::meta::type_name("aha.grader_stats"), x.groups, x.rollouts, x.reward_timeouts, x.reward_errors,
           x.worker_restarts, x.requeued, x.queued_tasks, x.in_flight_tasks, x.pending_groups, x.grading_ms_mean,
           x.remote_workers, x.remote_in_flight_tasks, x.remote_tasks, x.remote_workers_lost, x.grading_failures_masked,
           x.requeued_unreachable);
}

// What a watched actor is doing, for the watchdog (actors/supervision/watchdog.hpp): the work it
// holds now and a count of the work it has finished. Work held while the count stands still is a
// stall; an actor that does not answer at all is blocked or frozen. One actor may report several
// parts (the grader: one per pool). Every actor the controller spawns answers
// progress -> std::vector<progress_report>.
struct progress_report {
  std::string name;        // who: "grader pool sandbox", "generator/0", "learner"
  std::string unit;        // what `held` counts: "tasks", "groups", "acquires"
  std::uint64_t held = 0;  // held now; 0 = idle or waiting on others (never a stall of its own)
  std::uint64_t done = 0;  // finished since start (only grows)
  std::string oldest;      // the oldest work held, in words ("task 123 on a remote worker"); may be empty
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, progress_report& x) {
  return f(caf::meta::type_name("aha.progress_report"), x.name, x.unit, x.held, x.done, x.oldest);
}
using progress_list = std::vector<progress_report>;

// Named numbers: one metrics line, or a set of gauges.
using metric_map = std::map<std::string, double>;

// ---- interfaces --------------------------------------------------------------------------------

// replay_buffer (replay_buffer.hpp, spawn_replay_buffer):
//  put(group)            -> group_id, once the group is durable (synced group commit).
//  fetch(request)        -> learner_batch with 0..batch_groups groups. Serves only groups with
//                           min_weight_version >= learner_version - max_staleness, oldest first;
//                           staler groups are marked stale and counted (never served). Waits up to
//                           max_wait_ms for a full batch, then replies with what it has (possibly
//                           empty). Served groups are leased to request.step; a fetch for step s
//                           first releases every lease of steps >= s (so a retry is idempotent).
//  consume(step, ids)    -> ok once the consumption marks and the learner step are durable, in
//                           one WriteBatch. Unknown or already-consumed ids are an error.
//  stats                 -> replay_stats.
//  progress              -> progress_list: a waiting fetch held, fetches answered.
using replay_buffer_actor = caf::typed_actor<
    caf::replies_to<caf::put_atom, protocol::scored_group>::with<std::uint64_t>,
    caf::replies_to<fetch_atom, fetch_request>::with<protocol::learner_batch>,
    caf::replies_to<consume_atom, std::uint64_t, std::vector<std::uint64_t>>::with<caf::ok_atom>,
    caf::replies_to<stats_atom>::with<replay_stats>, caf::replies_to<progress_atom>::with<progress_list>>;

// prompt_source (prompt_source.hpp, spawn_prompt_source). A prompt handed out is outstanding
// until done; while outstanding it is held (by the actor that asked for it, then by the grader:
// its group is not durable yet) or stored (its group is in the replay buffer).
//  next(n)          -> up to n prompts (fewer, or none, only when a finite dataset ran out of
//                      epochs); the sender holds them. Re-queued prompts, and prompts held when
//                      the source last stopped, are re-issued first. prompt.tokens is empty.
//  handover(ids)    -  the sender gave these prompts' groups to the grader (its death no longer
//                      loses them).
//  stored(ids)      -  these prompts' groups are durable (sent by the replay buffer).
//  requeue(ids)     -  re-issue these outstanding prompts: their group is lost or was dropped
//                      untrained (grading failed; too stale for the learner).
//  requeue(holder)  -> how many prompts `holder` held; all of them are re-issued (the
//                      controller sends this when a generator dies).
//  done(ids)        -> ok once persisted: these prompts' groups were consumed (or deliberately dropped).
//  stats            -> prompt_source_stats.
//  progress         -> progress_list: outstanding prompts held, prompts done.
using prompt_source_actor = caf::typed_actor<
    caf::replies_to<next_atom, std::uint32_t>::with<std::vector<protocol::prompt>>,
    caf::reacts_to<handover_atom, std::vector<std::uint64_t>>,
    caf::reacts_to<stored_atom, std::vector<std::uint64_t>>,
    caf::reacts_to<requeue_atom, std::vector<std::uint64_t>>,
    caf::replies_to<requeue_atom, caf::actor_addr>::with<std::uint64_t>,
    caf::replies_to<done_atom, std::vector<std::uint64_t>>::with<caf::ok_atom>,
    caf::replies_to<stats_atom>::with<prompt_source_stats>, caf::replies_to<progress_atom>::with<progress_list>>;

// grader (grader.hpp, spawn_grader):
//  grade(prompt, rollouts) -> the scored_group (rewards, verdicts, advantages, group_id) once the
//                             replay buffer acknowledged it as durable; a generator paces itself
//                             by bounding its outstanding grade requests. A reward that misses its
//                             deadline is a verdict_status::timeout component (value 0), counted.
//  score(prompt, rollouts) -> the verdicts only, nothing stored (evaluation).
//  offer(pool, worker, contact) -> ok: a reward worker from outside (a node's; reward_worker_actor's
//                             protocol) joins the pool like a local one; when it dies, its task is
//                             re-queued and its slot dropped (the grader respawns only its own).
//                             `contact` (may be invalid) answers probe -> ok while its node is
//                             reachable: a remote task past its deadline whose node does not answer
//                             is re-queued (the node is unreachable), not stored as a timeout.
//  stats                   -> grader_stats.
//  progress                -> progress_list: per pool, tasks queued or running, tasks finished, the oldest.
//  restart(pool)           -> how many workers: every busy worker of the pool is abandoned (killed)
//                             and replaced like a lost one, its task re-queued (the watchdog's
//                             on_stall = restart).
using grader_actor = caf::typed_actor<
    caf::replies_to<grade_atom, protocol::prompt, std::vector<protocol::rollout>>::with<protocol::scored_group>,
    caf::replies_to<score_atom, protocol::prompt, std::vector<protocol::rollout>>::with<
        std::vector<protocol::reward_verdict>>,
    caf::replies_to<offer_atom, std::string, caf::actor, caf::actor>::with<caf::ok_atom>,
    caf::replies_to<stats_atom>::with<grader_stats>, caf::replies_to<progress_atom>::with<progress_list>,
    caf::replies_to<restart_atom, std::string>::with<std::uint32_t>>;

// metrics (metrics.hpp, spawn_metrics):
//  record(step, values) -> appends one JSONL line {"step", "time", values..., latest gauges...}
//                          to <run_dir>/metrics.jsonl and refreshes the progress line.
//  gauge(values)        -> remembers the latest values (queue depths, counters) for later lines.
//  flush                -> ok once everything recorded is written.
//  progress             -> progress_list: lines written.
using metrics_actor = caf::typed_actor<caf::reacts_to<record_atom, std::uint64_t, metric_map>,
                                       caf::reacts_to<gauge_atom, metric_map>,
                                       caf::replies_to<caf::flush_atom>::with<caf::ok_atom>,
                                       caf::replies_to<progress_atom>::with<progress_list>>;

// Registers every aha message type with CAF (needed across processes; call on both sides).
void add_message_types(caf::actor_system_config& cfg);

}  // namespace aha::actors
