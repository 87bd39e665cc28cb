// grpo_stage: one GRPO stage — the asynchronous topology (rollout gate, generators, learner)
// over a stage's services, supervised: a dead generator is replaced and the prompts it held are
// re-issued, the learner's or a service's death ends the stage, the watchdog reports stalls.
// Checkpoints come from the learner (grpo.learner.checkpoint_every, and the last step).
// Tested by tests/pipeline.test.cpp, tests/resume.test.cpp, tests/supervision.test.cpp, stages.test.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <string>

#include "actors/rollout_gate.hpp"
#include "cluster/remote_generation.hpp"
#include "pipeline/stage_context.hpp"

namespace aha::pipeline {

// What a GRPO stage did, as report.json shows it.
struct grpo_outcome {
  std::uint64_t steps = 0;
  double seconds = 0;
  double learner_idle_fraction = 0;
  std::uint64_t generator_restarts = 0;
  std::uint64_t prompts_requeued = 0;
  std::uint64_t rollouts_consumed = 0;  // counted by the learner, not derived from the config
  std::uint64_t dropped_stale = 0;      // the replay buffer's count over the stage
  actors::gate_stats gate;                      // the gate's books when the stage ended
  std::uint64_t stalls = 0;             // stalls the watchdog reported
  std::uint64_t stall_restarts = 0;     // grader pools restarted for a stall (on_stall = restart)
  std::map<std::string, cluster::node_generation> nodes;  // what each node's generators did
};

// Where a GRPO stage starts: its first step, fresh (0) or inside it after a resume.
struct grpo_start {
  std::uint64_t first_step = 0;      // the learner's next step
  std::uint64_t weight_version = 0;  // version of the policy's weights now
  bool resumed = false;              // inside the stage: the optimizer (and KL reference) come back
  std::string reference_dir;         // where the stage's KL reference model is kept
  actors::trainer_state checkpoint;  // the stage's fields of every checkpoint the learner writes
};

// Starts the stage's optimizer: fresh, or the checkpoint's when resuming inside the stage. With a
// KL term the reference is the policy at the stage's start, kept in start.reference_dir so that
// a resumed run compares against the same model.
status begin_grpo(const run_config& config, const grpo_start& start, actors::policy_trainer& trainer);

// Runs the stage until the learner has taken grpo.learner.steps steps (or fails).
result<grpo_outcome> run_grpo(caf::actor_system& sys, const run_config& config, const services& s,
                              policy_bundle& bundle, std::shared_ptr<actors::policy_trainer> trainer,
                              const grpo_start& start, std::ostream& log);

}  // namespace aha::pipeline
