// The services, checkpoint and trainer settings the stages share (pipeline/stage_context.hpp).
#include "pipeline/stage_context.hpp"

#include "actors/grader.hpp"
#include "actors/prompt_source.hpp"
#include "actors/replay_buffer.hpp"
#include "actors/supervision/teardown.hpp"

namespace aha::pipeline {

namespace fs = std::filesystem;
using namespace aha::actors;

result<services> spawn_services(caf::actor_system& sys, const run_config& config, metrics_actor metrics) {
  const fs::path dir = config.run.dir;
  services s;
  s.metrics = metrics;
  std::string cursor = config.prompts.state_file.empty() ? "" : (dir / config.prompts.state_file).string();
  // A stage's cursor and buffer live in stages/<name>/ (RocksDB creates only the last folder).
  std::error_code ec;
  if (!cursor.empty()) fs::create_directories(fs::path(cursor).parent_path(), ec);
  fs::create_directories((dir / config.replay.dir).parent_path(), ec);
  auto prompts = spawn_prompt_source(sys, config.prompts, cursor);
  if (!prompts) return prompts.error();
  s.prompts = *prompts;
  replay_buffer_config replay = config.replay;
  replay.dir = (dir / replay.dir).string();
  // The buffer tells the prompt source which prompts are stored, and which went stale unused.
  auto buffer = spawn_replay_buffer(sys, replay, threading::detached, s.prompts);
  if (!buffer) return buffer.error();
  s.replay = *buffer;
  auto grader = spawn_builtin_grader(sys, config.grader, s.replay);
  if (!grader) return grader.error();
  s.grader = *grader;
  return s;
}

void stop_stage_services(caf::actor_system& sys, const services& s, const run_config& config, std::ostream& log) {
  auto still = stop_and_wait(sys,
                             {{"grader", caf::actor_cast<caf::actor>(s.grader)},
                              {"prompt source", caf::actor_cast<caf::actor>(s.prompts)},
                              {"replay buffer", caf::actor_cast<caf::actor>(s.replay)}},
                             config.supervision.teardown_timeout);
  for (const auto& name : still) log << "teardown: " << name << " did not stop within supervision.teardown_timeout\n";
}

status save_run_checkpoint(const run_config& config, const policy_bundle& bundle, policy_trainer& trainer,
                           const trainer_state& state) {
  checkpoint_parts parts;
  parts.policy = &trainer.policy();
  parts.optimizer = &trainer.optimizer();
  parts.tokenizer = bundle.tokenizer.get();
  parts.tokenizer_from = config.model.path;
  return save_checkpoint(checkpoint_dir(config).string(), parts, state);
}

trainer_config sft_trainer_config(const run_config& config) {
  trainer_config t;
  t.optimizer = config.sft.optimizer;
  t.entropy = false;
  return t;
}

trainer_config grpo_trainer_config(const run_config& config) {
  trainer_config t;
  t.loss = config.grpo.loss;
  t.optimizer = config.grpo.optimizer;
  t.ppo_epochs = config.grpo.ppo_epochs;
  t.mini_batches = config.grpo.mini_batches;
  t.micro_batches = config.grpo.micro_batches;
  t.temperature = config.generator.temperature;
  t.sampler = {config.generator.top_k, config.generator.top_p};  // the behaviour weight's numerator samples as they do
  t.entropy = config.grpo.entropy;
  return t;
}

}  // namespace aha::pipeline
