// stage_context: what every stage of a run shares — the policy with its tokenizer, the services
// a stage talks to (prompt source, replay buffer, grader, metrics, the cluster's door), the run's
// checkpoint, and the trainer settings of each kind of stage. The controller builds them; the
// stages (sft_stage, grpo_stage, eval_stage, rejection_sampling) and the runner use them.
// Tested through pipeline/stages.test.cpp, tests/pipeline.test.cpp and tests/resume.test.cpp.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <string>

#include <caf/all.hpp>

#include "actors/checkpoint.hpp"
#include "actors/cluster.hpp"
#include "actors/interfaces.hpp"
#include "actors/policy_trainer.hpp"
#include "actors/run_config.hpp"
#include "core/result.hpp"
#include "model/tokenizer.hpp"
#include "model/transformer.hpp"

namespace aha::pipeline {

using actors::run_config;
using clock_type = std::chrono::steady_clock;
inline double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

constexpr auto kRequestTimeout = std::chrono::seconds(60);

struct policy_bundle {
  model::transformer policy{nullptr};
  std::shared_ptr<const model::tokenizer> tokenizer;
  std::string source;  // the model.path it came from ("" = built-in): checkpoints copy its tokenizer files
};

// The architecture of a built-in model (model.builtin) for the character vocabulary: "tiny"
// (model::tiny_config) or "micro" (half its width, half its depth: a distillation student).
result<model::model_config> builtin_model_config(const std::string& name, std::int64_t vocab_size);

// The built-in model (fresh weights from `seed`) with its character vocabulary, a Hugging Face
// folder (an aha checkpoint included: its aha_tokenizer.json names the character vocabulary), or a
// GGUF file; on section.device.
result<policy_bundle> load_model(const actors::model_section& section, std::uint64_t seed);

// The model the run's policy is at checkpoint `state`: [model], or the student of the last
// distill stage finished by then (a distill stage checkpoints only at its end).
actors::model_section policy_model(const run_config& config, const std::optional<actors::trainer_state>& state);

// The services a stage talks to. Metrics live for the whole run; the others are a stage's own
// in a [[stages]] pipeline (its grader, data and replay buffer) and the whole run's otherwise.
struct services {
  actors::metrics_actor metrics;
  actors::replay_buffer_actor replay;
  actors::prompt_source_actor prompts;
  actors::grader_actor grader;
  actors::cluster_door cluster;
};

// Spawns the prompt source, replay buffer and grader of `config` (paths relative to run.dir)
// beside the run's `metrics`.
result<services> spawn_services(caf::actor_system& sys, const run_config& config, actors::metrics_actor metrics);

// Stops what spawn_services started (not the metrics, nor the cluster); an actor that does not
// stop within supervision.teardown_timeout is named in `log`.
void stop_stage_services(caf::actor_system& sys, const services& s, const run_config& config, std::ostream& log);

// Where a resumed run picks up (all zero for a new run).
struct resume_point {
  std::optional<actors::trainer_state> state;  // the checkpoint's, when there is one
  bool in_grpo() const { return state && state->stage == "grpo" && !state->stage_done; }
  std::uint64_t grpo_step() const { return in_grpo() ? state->grpo_step : 0; }
  std::uint64_t weight_version() const { return state ? state->weight_version : 0; }
};

inline std::filesystem::path checkpoint_dir(const run_config& config) {
  return std::filesystem::path(config.run.dir) / "checkpoint";
}

status save_run_checkpoint(const run_config& config, const policy_bundle& bundle, actors::policy_trainer& trainer,
                           const actors::trainer_state& state);

actors::trainer_config sft_trainer_config(const run_config& config);
actors::trainer_config grpo_trainer_config(const run_config& config);

// One actor's counters (grader, replay buffer, gate); zeros if it does not answer.
template <class Stats, class Actor, class Atom>
Stats stats_from(caf::actor_system& sys, const Actor& actor, Atom atom) {
  caf::scoped_actor self{sys};
  Stats out;
  self->request(actor, kRequestTimeout, atom).receive([&](Stats& reply) { out = reply; }, [](caf::error&) {});
  return out;
}

}  // namespace aha::pipeline
