// controller: runs a training run from a run_config — the main job behind `aha train`, as
// numbered steps: the run directory (new or resumed), the policy, the actor system with its
// metrics (and, without [[stages]], the services every stage shares; with cluster.listen, nodes
// may add reward workers: actors/cluster.hpp), the stage pipeline (pipeline/runner.hpp: the
// stages in order, each checkpointed and evaluated), the split audit, and report.json.
// Tested by tests/pipeline.test.cpp, tests/resume.test.cpp and pipeline/stages.test.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <ostream>
#include <string>

#include "actors/evaluation.hpp"
#include "actors/rollout_gate.hpp"
#include "actors/run_config.hpp"
#include "core/result.hpp"
#include "pipeline/runner.hpp"

namespace aha::actors {

struct train_report {
  std::string run_dir;
  eval_report initial;          // before any training
  eval_report after_sft;        // after the cold-start stage (== initial when it is skipped); with
                                // [[stages]], after the last SFT stage
  eval_report after_grpo;       // after reinforcement learning; with [[stages]], after the last stage
  std::uint64_t sft_steps = 0;
  std::uint64_t grpo_steps = 0;
  double sft_seconds = 0;
  double grpo_seconds = 0;
  double wall_seconds = 0;
  double learner_idle_fraction = 0;  // GRPO stage: share of the learner's time spent waiting for batches
  double rollouts_per_second = 0;    // GRPO stage: rollouts consumed per second (counted by the learner)
  std::uint64_t rollouts_consumed = 0;   // GRPO stage: rollouts the learner consumed (this process)
  std::uint64_t stalls = 0;              // GRPO stage: stalls the watchdog reported (supervision.stall_after)
  std::uint64_t stall_restarts = 0;      // GRPO stage: grader pools restarted for a stall (on_stall = restart)
  std::uint64_t dropped_stale = 0;       // GRPO stage: groups the replay buffer dropped as too stale (prompts re-issued)
  gate_stats gate;                       // GRPO stage: the rollout gate's books at the end (no leak: in_flight
                                         // = preexisting + granted - consumed - dropped - released, unmatched = 0)
  std::uint64_t resumed_from_step = 0;   // GRPO step of the checkpoint a resumed run started from
  // The split audit (run_audit.hpp): held-out prompts, and how many of them this run trained on,
  // measured from sft_examples.jsonl and the replay store's consumed groups (0 by construction).
  std::uint64_t eval_prompts = 0;
  std::uint64_t eval_prompts_unique = 0;
  std::uint64_t train_eval_overlap = 0;
  std::uint64_t eval_duplicates_dropped = 0;     // repeats dropped from the held-out set
  std::uint64_t eval_train_overlap_dropped = 0;  // JSONL eval records also in the train file, dropped
  std::uint64_t trained_problems_unique = 0;     // distinct problems trained on (SFT and GRPO)
  std::uint64_t audited_sft_examples = 0;
  std::uint64_t audited_grpo_groups = 0;
  std::uint64_t generator_restarts = 0;  // generators that died and were replaced
  std::uint64_t prompts_requeued = 0;    // prompts dead generators held, re-issued
  std::map<std::string, cluster::node_generation> nodes;  // the last GRPO stage's generation on each node
  std::uint64_t reward_worker_restarts = 0;  // local reward workers that died and were replaced
  std::uint64_t reward_tasks_requeued = 0;   // reward tasks re-queued because their worker died (local or remote)
  std::uint64_t grading_failures_masked = 0;  // stored rollouts graded timeout/error: out of advantages and loss
  std::uint64_t remote_tasks = 0;            // reward tasks graded by nodes' workers
  std::uint64_t remote_workers_lost = 0;     // nodes' workers dropped (node killed, frozen or gone; past a deadline)
  std::uint64_t remote_requeued_unreachable = 0;  // remote tasks past their deadline on an unreachable node: re-queued
  std::uint64_t nodes_joined = 0;            // nodes that joined (cluster.listen)
  std::uint64_t nodes_lost = 0;              // nodes that disappeared mid-run
  std::uint64_t nodes_refused = 0;           // join attempts refused (wrong secret, other version)
  std::vector<pipeline::stage_report> stages;  // every stage: kind, steps, seconds, held-out accuracy after it
};

// Runs every stage of `config` ([[stages]], or SFT then GRPO); progress goes to `log`. Writes
// <run_dir>/report.json, <run_dir>/stages.json (each finished stage's figures),
// <run_dir>/config.toml (resolved), <run_dir>/metrics.jsonl, <run_dir>/checkpoint, every eval's
// samples (<run_dir>/eval_<stage>.jsonl) and what SFT trained on (<run_dir>/sft_examples.jsonl).
// A new run refuses a run_dir that already holds files. With config.run.resume, the run in
// run_dir continues: weights, optimizer state, GRPO step and weight version come from its
// checkpoint (SFT is skipped once checkpointed), groups consumed after the checkpoint become
// trainable again, unconsumed groups are trained (within the staleness bound of the resumed
// version), and the prompt cursor re-issues what was handed out but never stored. With
// cluster.listen, cluster events are logged from the registry's thread: `log` must then be safe
// to write from two threads (std::cerr is; an ostringstream is not).
result<train_report> run_training(run_config config, std::ostream& log);

// `aha eval`: the held-out evaluation of a checkpoint (a Hugging Face folder written by a run,
// or any compatible model) under the recipe's tasks, grader and eval settings.
result<eval_report> run_evaluation(run_config config, const std::string& checkpoint, std::ostream& log);

// The report as the JSON object written to report.json.
std::string to_json(const train_report& report);

}  // namespace aha::actors
