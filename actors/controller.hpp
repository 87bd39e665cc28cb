// controller: runs a training run from a run_config — the main job behind `aha train`.
// It builds the topology in one process (prompt source, generators, grader with its reward
// workers, replay buffer, learner, rollout gate, metrics), runs the stages in order (cold-start
// SFT, held-out evaluation, GRPO, evaluation), supervises the generators (a dead one is replaced
// and its window slots returned), checkpoints, and writes report.json in the run directory.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "actors/evaluation.hpp"
#include "actors/run_config.hpp"
#include "core/result.hpp"

namespace aha::actors {

struct train_report {
  std::string run_dir;
  eval_report initial;          // before any training
  eval_report after_sft;        // after the cold-start stage (== initial when it is skipped)
  eval_report after_grpo;       // after reinforcement learning
  std::uint64_t sft_steps = 0;
  std::uint64_t grpo_steps = 0;
  double sft_seconds = 0;
  double grpo_seconds = 0;
  double wall_seconds = 0;
  double learner_idle_fraction = 0;  // GRPO stage: share of the learner's time spent waiting for batches
  double rollouts_per_second = 0;    // GRPO stage: rollouts consumed per second
};

// Runs every stage of `config`; progress goes to `log`. Writes <run_dir>/report.json,
// <run_dir>/config.toml (resolved), <run_dir>/metrics.jsonl and checkpoints.
result<train_report> run_training(run_config config, std::ostream& log);

// `aha eval`: the held-out evaluation of a checkpoint (a Hugging Face folder written by a run,
// or any compatible model) under the recipe's tasks, grader and eval settings.
result<eval_report> run_evaluation(run_config config, const std::string& checkpoint, std::ostream& log);

// The report as the JSON object written to report.json.
std::string to_json(const train_report& report);

}  // namespace aha::actors
