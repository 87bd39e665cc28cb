// The services, checkpoint and trainer settings the stages share (pipeline/stage_context.hpp).
#include "pipeline/stage_context.hpp"

#include "actors/grader.hpp"
#include "actors/prompt_source.hpp"
#include "actors/replay_buffer.hpp"
#include "actors/supervision/teardown.hpp"
#include "model/char_tokenizer.hpp"
#include "model/gguf_model.hpp"
#include "model/hf_checkpoint.hpp"

#include <torch/cuda.h>

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
  parts.tokenizer_from = bundle.source;  // the policy's own model (a distilled student's, not [model]'s)
  return save_checkpoint(checkpoint_dir(config).string(), parts, state);
}

result<model::model_config> builtin_model_config(const std::string& name, std::int64_t vocab_size) {
  auto c = model::tiny_config(vocab_size);
  if (name == "tiny") return c;
  if (name == "micro") {
    c.hidden_size = 64;
    c.intermediate_size = 192;
    c.num_hidden_layers = 2;
    c.num_attention_heads = 2;
    c.num_key_value_heads = 1;
    c.head_dim = 32;
    return c;
  }
  return make_error(errc::invalid_argument, "model.builtin = \"" + name + "\": valid: tiny, micro");
}

result<policy_bundle> load_model(const model_section& section, std::uint64_t seed) {
  std::optional<torch::Device> device;
  try {
    device.emplace(section.device);
  } catch (const std::exception&) {
    return make_error(errc::invalid_argument, "model.device: '" + section.device + "' is not cpu, cuda or cuda:N");
  }
  if (device->is_cuda() && !torch::cuda::is_available()) {
    return make_error(errc::invalid_argument, "model.device = " + section.device +
                                                  ": no CUDA device is visible (or this LibTorch is CPU-only)");
  }
  policy_bundle out;
  out.source = section.path;
  if (section.path.empty()) {
    auto tokenizer = std::make_shared<model::char_tokenizer>();
    auto architecture = builtin_model_config(section.builtin, tokenizer->vocab_size());
    if (!architecture) return architecture.error();
    out.policy = model::transformer(*architecture);
    out.policy->init_weights(seed);
    out.tokenizer = tokenizer;
  } else {
    auto policy = model::load_pretrained(section.path);
    if (!policy) return policy.error();
    out.policy = *policy;
    if (model::is_gguf_file(section.path)) {  // a llama.cpp GGUF file: the tokenizer is in its metadata
      auto tokenizer = model::load_gguf_tokenizer(section.path);
      if (!tokenizer) return tokenizer.error();
      out.tokenizer = std::make_shared<model::bpe_tokenizer>(std::move(*tokenizer));
    } else {
      auto tokenizer = load_tokenizer(section.path);
      if (!tokenizer) return tokenizer.error();
      out.tokenizer = *tokenizer;
    }
  }
  // Everything downstream (engine, trainer, optimizer, replicas) follows the parameters' device.
  out.policy->to(*device);
  return out;
}

model_section policy_model(const run_config& config, const std::optional<trainer_state>& state) {
  model_section out = config.model;
  if (!state || state->stage_index < 0) return out;
  for (std::size_t i = 0; i < config.stages.size() && static_cast<std::int64_t>(i) <= state->stage_index; ++i) {
    if (config.stages[i].kind == stage_kind::distill) out = config.stages[i].distill.student;
  }
  return out;
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
