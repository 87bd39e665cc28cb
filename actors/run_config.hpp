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
  std::string builtin = "tiny";  // built-in model with the character tokenizer (tiny, micro); used when path is empty
  std::string path;              // a Hugging Face folder (config.json, *.safetensors, tokenizer.json)
  std::string device = "cpu";    // where the policy, its replicas and the learner live: cpu, cuda, cuda:N
};
template <class V>
void describe(V& v, model_section& c) {
  v.field("builtin", c.builtin,
          "built-in model (character vocabulary) when path is empty: tiny (d=128, 4 layers, ~0.8M parameters) or "
          "micro (d=64, 2 layers, ~0.1M; a distillation student)",
          {{"tiny", std::string("tiny")}, {"micro", std::string("micro")}});
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

// A stage pipeline (pipeline/runner.hpp): the kinds of stage a recipe's [[stages]] may list.
// `none` is only the unset value (validate() asks for a kind).
enum class stage_kind { none, sft, grpo, rejection_sample, distill, eval };
const char* stage_kind_name(stage_kind kind);

// rejection_sample: k completions per training prompt from the current policy, graded by the
// stage's grader; kept only when correct and readable (format, language, length), at most m per
// prompt, deduplicated; written as an SFT set (pipeline/rejection_sampling.hpp).
struct rejection_config {
  std::uint32_t prompts = 64;        // training prompts sampled (the train split in a seeded order)
  std::uint32_t samples = 8;         // k: completions sampled per prompt
  std::uint32_t keep = 2;            // m: at most this many kept per prompt
  double temperature = 1.0;          // sampling temperature (> 0: k draws, not k copies)
  std::uint32_t max_new_tokens = 0;  // completion budget (tokens); 0 = generator.max_new_tokens
  std::uint32_t max_chars = 0;       // a kept completion has at most this many characters; 0 = no bound
  double min_language = 1.0;         // language consistency a kept completion needs (1 = no foreign word)
  std::string output;                // JSONL in the run directory; "" = <stage name>.jsonl
};
template <class V>
void describe(V& v, rejection_config& c) {
  v.field("prompts", c.prompts, "training prompts sampled", config::range{1, 1e7});
  v.field("samples", c.samples, "k: completions sampled per prompt", config::range{1, 1024});
  v.field("keep", c.keep, "m: at most this many correct, readable, distinct completions kept per prompt",
          config::range{1, 1024});
  v.field("temperature", c.temperature, "sampling temperature (> 0)", config::range{0, 10});
  v.field("max_new_tokens", c.max_new_tokens, "completion budget (tokens); 0 = generator.max_new_tokens",
          config::range{0, 1e6});
  v.field("max_chars", c.max_chars, "longest completion kept (characters); 0 = no bound", config::range{0, 1e9});
  v.field("min_language", c.min_language, "language consistency a kept completion needs", config::range{0, 1});
  v.field("output", c.output, "JSONL written in the run directory; empty = <stage name>.jsonl");
}

// distill: a teacher's traces, sampled and verified as rejection_sample does (the stage's
// rejection settings), train a student — possibly another model with another tokenizer: traces
// move as text — by SFT (the stage's sft settings); the student becomes the policy of the stages
// after it. A baseline (the same student, SFT on the training split's demonstrations for as many
// steps) is evaluated beside them (pipeline/distill_stage.hpp).
struct distill_config {
  std::string teacher;           // a model folder, aha checkpoint or GGUF file; "" = the run's current policy
  model_section student;         // starts as a copy of [model] (a built-in one from fresh weights): the keys named replace its
  bool baseline = true;          // also train and evaluate the baseline student
};
template <class V>
void describe(V& v, distill_config& c) {
  v.field("teacher", c.teacher,
          "the teacher: a Hugging Face folder, an aha checkpoint or a GGUF file; empty = the run's current policy");
  v.section("student", c.student,
            "the student (a built-in model starts from fresh weights, a path from its own); a copy of [model] overlaid by the keys named here "
            "(set path = \"\" to use a built-in model when [model] has a path)");
  v.field("baseline", c.baseline,
          "also train the same student by SFT on the training split's demonstrations (as many steps) and evaluate it");
}

// The sections a stage may override. A stage's table overlays the run's: keys it names replace
// the run's values, every other key keeps the run's (so [[stages]] and the plain sections are
// one mechanism). run, model, replay, metrics, cluster and supervision belong to the whole run.
struct stage_sections {
  prompt_source_config prompts;
  generator_config generator;
  grader_config grader;
  sft_section sft;
  grpo_section grpo;
  eval_section eval;
};
template <class V>
void describe_stage_sections(V& v, stage_sections& c) {
  v.section("prompts", c.prompts, "training prompts (built-in tasks or JSONL) and the held-out set");
  v.section("generator", c.generator, "rollout generation");
  v.section("grader", c.grader, "rewards, advantages and the sandbox");
  v.section("sft", c.sft, "supervised fine-tuning");
  v.section("grpo", c.grpo, "reinforcement learning (GRPO)");
  v.section("eval", c.eval, "held-out evaluation after each stage");
}

// One entry of [[stages]].
struct stage_spec {
  std::string name;                  // unique; names the stage's files (stages/<name>/) and report entry
  stage_kind kind = stage_kind::none;
  std::string data;                  // sft: JSONL of demonstrations ({"prompt","completion",...}), relative
                                     // to the run directory; "" = the dataset's own demonstrations
  std::string from_stage;            // sft: train on this earlier rejection_sample (or distill) stage's output
  rejection_config rejection;        // rejection_sample's settings; distill: how the teacher's traces are sampled
  distill_config distill;            // distill: teacher, student, baseline
  stage_sections config;             // the run's sections, overlaid by the stage's table
};
template <class V>
void describe(V& v, stage_spec& c) {
  v.required("name", c.name, "the stage's name: letters, digits, '_' or '-', unique in the recipe");
  v.field("kind", c.kind, "what the stage does",
          {{"sft", stage_kind::sft}, {"grpo", stage_kind::grpo}, {"rejection_sample", stage_kind::rejection_sample},
           {"distill", stage_kind::distill}, {"eval", stage_kind::eval}});
  v.field("data", c.data, "sft: JSONL demonstrations relative to the run directory; empty = the dataset's");
  v.field("from_stage", c.from_stage, "sft: the earlier rejection_sample or distill stage whose output it trains on");
  v.section("rejection", c.rejection, "rejection_sample and distill: k, m, temperature and readability filters");
  v.section("distill", c.distill, "distill: the teacher, the student and the baseline");
  describe_stage_sections(v, c.config);
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
  std::vector<stage_spec> stages;  // the stage pipeline; empty = SFT (when sft.steps > 0), then GRPO
};

// A stage as the run's sections stand now: the prototype that a [[stages]] table overlays.
inline stage_spec stage_prototype(const run_config& c) {
  stage_spec s;
  s.config = {c.prompts, c.generator, c.grader, c.sft, c.grpo, c.eval};
  s.distill.student = c.model;  // a student is the run's model unless the stage says otherwise
  return s;
}

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
  // Last: each stage starts as a copy of the sections read above.
  v.list("stages", c.stages,
         "the stage pipeline, run in order (sft, grpo, rejection_sample, distill, eval); each table overlays the sections above",
         stage_prototype(c));
}

// The run as stage `index` of config.stages sees it: the stage's sections over the run's, its own
// replay buffer and prompt cursor under stages/<name>/, derived settings resolved; no stages.
run_config stage_view(const run_config& config, std::size_t index);

// Derives secondary settings: the run dir, sync mode's zero staleness, threads. Returns the
// notes explaining each derived value (logged at start-up).
std::vector<std::string> resolve(run_config& config);

// Checks a resolved config for combinations no single key's range can catch: a generator batch
// larger than the staleness window (it could never be admitted), fewer outstanding groups than
// one batch (a generator would never start), a GRPO temperature <= 0 (the trainer divides
// logits by it; eval may be greedy); and each [[stages]] entry (a kind, a unique file-safe name,
// from_stage naming an earlier rejection_sample stage, the stage's own sections as above). One
// line per problem, naming the key (or stages[i] "name") and what is valid.
status validate(const run_config& config);

}  // namespace aha::actors
