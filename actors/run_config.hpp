// run_config: the whole configuration of `aha train`, one section per component, as read from a
// recipe in configs/ (plus `--set section.key=value`). Each component owns its struct and its
// describe(); this file only assembles them and derives the secondary settings (resolve()).
// `aha config show CONFIG` prints the resolved result.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "actors/cluster.hpp"
#include "actors/generator.hpp"
#include "actors/grader.hpp"
#include "actors/learner.hpp"
#include "actors/metrics.hpp"
#include "actors/prompt_source.hpp"
#include "actors/replay_buffer.hpp"
#include "actors/supervision/restart_policy.hpp"
#include "core/config.hpp"
#include "core/result.hpp"
#include "model/grpo_loss.hpp"
#include "model/optimizer.hpp"

namespace aha::actors {

enum class run_mode { sync, async };

struct run_section {
  std::string name = "aha";                   // run name (used in the default run dir)
  std::string dir;                            // run directory; "" = runs/<name>
  std::uint64_t seed = 1;                     // seeds weights, data order and sampling
  run_mode mode = run_mode::async;            // sync = strict alternation (max_staleness forced to 0)
  std::uint32_t max_staleness = 1;            // eta: max weight-version lag of a consumed group
  std::uint32_t threads = 0;                  // LibTorch threads in total; 0 = number of cores
  std::chrono::seconds max_wall{7200};        // hang guard for the whole run
  bool resume = false;                        // continue the run in dir from its checkpoint (aha train --resume)
};
template <class V>
void describe(V& v, run_section& c) {
  v.field("name", c.name, "run name");
  v.field("dir", c.dir, "run directory; empty = runs/<name>");
  v.field("seed", c.seed, "seed of weights, data order and sampling");
  v.field("mode", c.mode, "sync (strict alternation, the baseline) or async",
          {{"sync", run_mode::sync}, {"async", run_mode::async}});
  v.field("max_staleness", c.max_staleness, "eta: max weight-version lag of a consumed group", config::range{0, 1000});
  v.field("threads", c.threads, "LibTorch threads in total; 0 = number of cores", config::range{0, 1024});
  v.field("max_wall", c.max_wall, "hang guard for the whole run (duration)");
  v.field("resume", c.resume,
          "continue the run in dir (same as aha train --resume): weights, optimizer, steps and version from "
          "dir/checkpoint, SFT skipped once done, unconsumed groups of dir/replay trained, prompt cursor kept; "
          "false refuses a dir that already holds a run");
}

struct model_section {
  std::string builtin = "tiny";  // built-in model with the character tokenizer; used when path is empty
  std::string path;              // a Hugging Face folder (config.json, *.safetensors, tokenizer.json)
  std::string device = "cpu";    // where the policy, its replicas and the learner live: cpu, cuda, cuda:N
};
template <class V>
void describe(V& v, model_section& c) {
  v.field("builtin", c.builtin, "built-in model when path is empty", {{"tiny", std::string("tiny")}});
  v.field("path", c.path, "Hugging Face model folder; empty = the built-in model");
  v.field("device", c.device, "device of the policy, its replicas and the learner: cpu, cuda or cuda:N");
}

struct sft_section {
  std::uint64_t steps = 0;          // cold-start SFT optimizer steps; 0 skips the stage
  std::uint32_t batch_size = 32;    // demonstrations per step
  model::optimizer_config optimizer;
};
template <class V>
void describe(V& v, sft_section& c) {
  v.field("steps", c.steps, "cold-start SFT steps; 0 skips the stage", config::range{0, 1e9});
  v.field("batch_size", c.batch_size, "demonstrations per step", config::range{1, 1e6});
  v.section("optimizer", c.optimizer, "optimizer of the SFT stage");
}

struct grpo_section {
  learner_config learner;
  model::grpo_loss_config loss;
  model::optimizer_config optimizer;
  std::uint32_t ppo_epochs = 1;     // passes over each learner batch (PPO epochs); 1 = today's single pass
  std::uint32_t mini_batches = 1;   // optimizer updates per pass: the batch split into this many mini-batches
  std::uint32_t micro_batches = 1;  // gradient accumulation passes per mini-batch
  bool entropy = true;              // log the policy entropy
};
template <class V>
void describe(V& v, grpo_section& c) {
  v.field("ppo_epochs", c.ppo_epochs,
          "passes over each learner batch; with mini_batches, ppo_epochs x mini_batches optimizer updates per step, "
          "all against the step's pi_old (the clip acts from the second update on)",
          config::range{1, 1024});
  v.field("mini_batches", c.mini_batches,
          "optimizer updates per pass: the batch's rollouts split into this many mini-batches (1 = one update, ratio 1); "
          "the learning-rate schedule counts learner steps, not updates",
          config::range{1, 4096});
  v.field("micro_batches", c.micro_batches, "gradient accumulation passes per mini-batch (equal to one pass)",
          config::range{1, 4096});
  v.field("entropy", c.entropy, "log the policy entropy");
  v.section("learner", c.learner, "the GRPO learner");
  v.section("loss", c.loss, "the GRPO loss");
  v.section("optimizer", c.optimizer, "optimizer of the GRPO stage");
}

struct eval_section {
  std::uint32_t prompts = 200;  // held-out prompts evaluated (at most the held-out set)
  std::uint32_t samples = 1;    // k: samples per prompt (pass@1 averaged over k, and maj@k)
  double temperature = 0.0;     // 0 = greedy
  std::uint32_t max_new_tokens = 48;
  std::vector<std::uint32_t> pass_at;  // k' of the unbiased pass@k' reported, each <= samples; empty: [1, samples]
};
template <class V>
void describe(V& v, eval_section& c) {
  v.field("prompts", c.prompts, "held-out prompts evaluated (at most the held-out set)", config::range{0, 1e7});
  v.field("samples", c.samples, "k samples per prompt (pass@1 over k, maj@k)", config::range{1, 1024});
  v.field("temperature", c.temperature, "sampling temperature; 0 = greedy", config::range{0, 10});
  v.field("max_new_tokens", c.max_new_tokens, "completion budget (tokens)", config::range{1, 1e6});
  v.field("pass_at", c.pass_at, "k' of the unbiased pass@k' reported, each in [1, samples]; empty: [1, samples]");
}

struct run_config {
  run_section run;
  model_section model;
  prompt_source_config prompts;
  generator_config generator;
  grader_config grader;
  replay_buffer_config replay;
  metrics_config metrics;
  sft_section sft;
  grpo_section grpo;
  eval_section eval;
  cluster_config cluster;
  supervision_config supervision;
};
template <class V>
void describe(V& v, run_config& c) {
  v.section("run", c.run, "the run: name, directory, seed, scheduling");
  v.section("model", c.model, "the policy");
  v.section("prompts", c.prompts, "training prompts (built-in tasks or JSONL) and the held-out set");
  v.section("generator", c.generator, "rollout generation");
  v.section("grader", c.grader, "rewards, advantages and the sandbox");
  v.section("replay", c.replay, "the replay buffer (RocksDB)");
  v.section("metrics", c.metrics, "metrics.jsonl and the progress line");
  v.section("sft", c.sft, "cold-start supervised fine-tuning stage");
  v.section("grpo", c.grpo, "reinforcement-learning stage (GRPO)");
  v.section("eval", c.eval, "held-out evaluation after each stage");
  v.section("cluster", c.cluster, "other processes and hosts: where nodes join, the shared secret, aha node settings");
  v.section("supervision", c.supervision, "the watchdog, restart limits and backoff, bounded teardown");
}

// Derives secondary settings: the run dir, sync mode's zero staleness, threads. Returns the
// notes explaining each derived value (logged at start-up).
std::vector<std::string> resolve(run_config& config);

// Checks a resolved config for combinations no single key's range can catch: a generator batch
// larger than the staleness window (it could never be admitted), fewer outstanding groups than
// one batch (a generator would never start), a GRPO temperature <= 0 (the trainer divides
// logits by it; eval may be greedy). One line per problem, naming the key and what is valid.
status validate(const run_config& config);

}  // namespace aha::actors
