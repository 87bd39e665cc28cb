// The training run (actors/controller.hpp): topology, stages, supervision, report.
#include "actors/controller.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "actors/grader.hpp"
#include "actors/metrics.hpp"
#include "actors/prompt_source.hpp"
#include "actors/replay_buffer.hpp"
#include "model/bpe_tokenizer.hpp"
#include "model/char_tokenizer.hpp"
#include "model/hf_checkpoint.hpp"
#include "model/runtime.hpp"

namespace aha::actors {
namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

struct policy_bundle {
  model::transformer policy{nullptr};
  std::shared_ptr<const model::tokenizer> tokenizer;
};

// The built-in tiny model with its character vocabulary, or a Hugging Face folder.
result<policy_bundle> load_policy(const model_section& section, std::uint64_t seed) {
  policy_bundle out;
  if (section.path.empty()) {
    auto tokenizer = std::make_shared<model::char_tokenizer>();
    out.policy = model::transformer(model::tiny_config(tokenizer->vocab_size()));
    out.policy->init_weights(seed);
    out.tokenizer = tokenizer;
    return out;
  }
  auto policy = model::load_pretrained(section.path);
  if (!policy) return policy.error();
  auto tokenizer = model::bpe_tokenizer::from_folder(section.path);
  if (!tokenizer) return tokenizer.error();
  out.policy = *policy;
  out.tokenizer = std::make_shared<model::bpe_tokenizer>(std::move(*tokenizer));
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
  t.micro_batches = config.grpo.micro_batches;
  t.temperature = config.generator.temperature;
  t.entropy = config.grpo.entropy;
  return t;
}

// The services every stage shares: metrics, replay buffer, prompt source, grader.
struct services {
  metrics_actor metrics;
  replay_buffer_actor replay;
  prompt_source_actor prompts;
  grader_actor grader;
};

result<services> spawn_services(caf::actor_system& sys, const run_config& config) {
  const fs::path dir = config.run.dir;
  services s;
  auto metrics = spawn_metrics(sys, config.metrics, (dir / "metrics.jsonl").string());
  if (!metrics) return metrics.error();
  s.metrics = *metrics;
  replay_buffer_config replay = config.replay;
  replay.dir = (dir / replay.dir).string();
  auto buffer = spawn_replay_buffer(sys, replay);
  if (!buffer) return buffer.error();
  s.replay = *buffer;
  std::string cursor = config.prompts.state_file.empty() ? "" : (dir / config.prompts.state_file).string();
  auto prompts = spawn_prompt_source(sys, config.prompts, cursor);
  if (!prompts) return prompts.error();
  s.prompts = *prompts;
  auto grader = spawn_builtin_grader(sys, config.grader, s.replay);
  if (!grader) return grader.error();
  s.grader = *grader;
  return s;
}

result<eval_report> run_eval(caf::actor_system& sys, const services& s, policy_bundle& bundle,
                             const std::vector<protocol::prompt>& held_out, const run_config& config,
                             const std::string& label, std::ostream& log) {
  eval_settings settings;
  settings.samples = config.eval.samples;
  settings.temperature = config.eval.temperature;
  settings.max_new_tokens = config.eval.max_new_tokens;
  settings.stop_strings = config.generator.stop_strings;
  settings.seed = config.run.seed;
  auto started = clock_type::now();
  auto report = evaluate(sys, s.grader, bundle.policy, *bundle.tokenizer, held_out, settings);
  if (!report) return report.error();
  log << "eval " << label << ": pass@1 " << std::fixed << std::setprecision(3) << report->pass_at_1 << ", maj@"
      << settings.samples << " " << report->maj_at_k << ", format " << report->format_rate;
  for (const auto& [task, accuracy] : report->pass_at_1_by_task) log << ", " << task << " " << accuracy;
  log << " (" << held_out.size() << " prompts, " << std::setprecision(1) << seconds_since(started) << " s)\n";
  return report;
}

// Cold-start SFT on the training split's demonstrations, drawn in a seeded order.
result<std::uint64_t> run_sft(const run_config& config, const services& s, policy_bundle& bundle,
                              policy_trainer& trainer, std::ostream& log) {
  auto dataset = tasks::open_dataset(config.prompts.dataset, tasks::split::train);
  if (!dataset) return dataset.error();
  const auto& tokenizer = *bundle.tokenizer;
  tasks::sample_rng order(config.run.seed, tasks::split::train, 0x5f7);
  const std::uint64_t size = (*dataset)->size();
  for (std::uint64_t step = 0; step < config.sft.steps; ++step) {
    std::vector<sft_example> batch;
    while (batch.size() < config.sft.batch_size) {
      auto sample = (*dataset)->at(order.next() % size);
      if (sample.demonstration.empty()) continue;
      auto completion = tokenizer.encode(sample.demonstration);
      if (tokenizer.eos_id() >= 0) completion.push_back(tokenizer.eos_id());
      batch.push_back({prompt_tokens(tokenizer, sample.prompt.text), std::move(completion)});
    }
    auto metrics = trainer.sft_step(batch);
    if (s.metrics) caf::anon_send(s.metrics, record_atom::value, step, metrics);
    if (step % 50 == 0 || step + 1 == config.sft.steps) {
      log << "sft step " << step + 1 << "/" << config.sft.steps << " loss " << std::setprecision(4)
          << metrics["sft/loss"] << "\n";
    }
  }
  return config.sft.steps;
}

struct grpo_outcome {
  std::uint64_t steps = 0;
  double seconds = 0;
  double learner_idle_fraction = 0;
};

// The asynchronous topology: gate, generators, learner; returns when the learner is done.
result<grpo_outcome> run_grpo(caf::actor_system& sys, const run_config& config, const services& s,
                              policy_bundle& bundle, std::shared_ptr<policy_trainer> trainer, std::ostream& log) {
  const auto& learner_cfg = config.grpo.learner;
  auto gate = spawn_rollout_gate(sys, learner_cfg.groups_per_step, config.run.max_staleness);
  caf::scoped_actor self{sys};
  std::vector<generator_actor> generators;
  auto make_generator = [&](std::uint32_t index) {
    generator_setup setup;
    setup.name = "generator/" + std::to_string(index);
    setup.replica = model::transformer(bundle.policy->config());
    model::copy_weights(setup.replica, bundle.policy);
    setup.tokenizer = bundle.tokenizer;
    setup.config = config.generator;
    setup.peers = {s.prompts, s.grader, gate, s.metrics};
    setup.max_staleness = config.run.max_staleness;
    setup.seed = config.run.seed * 1000003 + index;
    return spawn_generator(sys, std::move(setup));
  };
  learner_setup setup;
  setup.trainer = std::move(trainer);
  setup.config = learner_cfg;
  setup.peers = {s.replay, s.prompts, gate, s.metrics, caf::actor_cast<caf::actor>(self)};
  setup.max_staleness = config.run.max_staleness;
  const fs::path checkpoint_dir = fs::path(config.run.dir) / "checkpoint";
  setup.checkpoint = [checkpoint_dir, trainer = setup.trainer](std::uint64_t step, std::uint64_t version) -> status {
    auto saved = model::save_pretrained(trainer->policy(), checkpoint_dir.string());
    if (!saved) return saved;
    auto optimizer = trainer->optimizer().save((checkpoint_dir / "optimizer.pt").string());
    if (!optimizer) return optimizer;
    std::ofstream state(checkpoint_dir / "trainer_state.json");
    state << nlohmann::json{{"grpo_step", step}, {"weight_version", version}}.dump() << "\n";
    return state ? ok_status() : make_error(errc::io_error, "cannot write trainer_state.json");
  };
  auto learner = spawn_learner(sys, std::move(setup));
  for (std::uint32_t i = 0; i < config.generator.count; ++i) {
    generators.push_back(make_generator(i));
    self->monitor(generators.back());
    self->send(learner, subscribe_atom::value, generators.back());
  }
  auto started = clock_type::now();
  grpo_outcome outcome;
  std::optional<aha::error> failure;
  bool running = true;
  // Supervision: a generator that dies is replaced (its unfinished groups' window slots are
  // returned by the gate's release); the learner's end, or its failure, ends the stage.
  self->receive_while(running)(
      [&](done_atom, std::uint64_t steps, double idle_fraction) {
        outcome.steps = steps;
        outcome.learner_idle_fraction = idle_fraction;
        running = false;
      },
      [&](const caf::error& e) {
        failure = make_error(errc::internal, "learner failed: " + describe(e));
        running = false;
      },
      [&](const caf::down_msg& down) {
        for (std::uint32_t i = 0; i < generators.size(); ++i) {
          if (generators[i].address() != down.source) continue;
          log << "generator/" << i << " stopped (" << describe(down.reason) << "); starting a replacement\n";
          self->send(gate, release_atom::value, config.generator.prompts_per_batch);
          generators[i] = make_generator(i);
          self->monitor(generators[i]);
          self->send(learner, subscribe_atom::value, generators[i]);
        }
      },
      caf::after(std::chrono::duration_cast<std::chrono::milliseconds>(config.run.max_wall)) >> [&] {
        failure = make_error(errc::timeout, "the GRPO stage exceeded run.max_wall");
        running = false;
      });
  outcome.seconds = seconds_since(started);
  for (auto& g : generators) {
    self->demonitor(caf::actor_cast<caf::actor>(g));
    self->send(g, stop_atom::value);
  }
  self->send_exit(learner, caf::exit_reason::user_shutdown);
  self->send_exit(gate, caf::exit_reason::user_shutdown);
  self->wait_for(learner);
  for (auto& g : generators) self->wait_for(g);
  if (failure) return *failure;
  return outcome;
}

result<std::vector<protocol::prompt>> held_out_prompts(const run_config& config) {
  auto held_out_set = tasks::open_dataset(config.prompts.dataset, tasks::split::eval);
  if (!held_out_set) return held_out_set.error();
  std::vector<protocol::prompt> held_out;
  for (std::uint64_t i = 0; i < std::min<std::uint64_t>((*held_out_set)->size(), config.eval.prompts); ++i) {
    auto sample = (*held_out_set)->at(i);
    sample.prompt.id = i;
    held_out.push_back(sample.prompt);
  }
  return held_out;
}

void stop_services(caf::actor_system& sys, const services& s) {
  caf::scoped_actor self{sys};
  if (s.metrics) {
    self->request(s.metrics, std::chrono::seconds(30), caf::flush_atom::value)
        .receive([](caf::ok_atom) {}, [](caf::error&) {});
  }
  for (const caf::actor& a : {caf::actor_cast<caf::actor>(s.grader), caf::actor_cast<caf::actor>(s.prompts),
                              caf::actor_cast<caf::actor>(s.replay), caf::actor_cast<caf::actor>(s.metrics)}) {
    if (a) self->send_exit(a, caf::exit_reason::user_shutdown);
  }
}

caf::actor_system_config system_config(const run_config& config) {
  caf::actor_system_config caf_config;
  caf_config.set("scheduler.max-threads", static_cast<std::size_t>(std::max(2u, config.run.threads)));
  add_message_types(caf_config);
  return caf_config;
}

void write_report(const train_report& report, const fs::path& dir) {
  std::ofstream out(dir / "report.json");
  out << to_json(report) << "\n";
}

}  // namespace

std::string to_json(const train_report& r) {
  auto eval_json = [](const eval_report& e) {
    return nlohmann::json{{"pass_at_1", e.pass_at_1}, {"maj_at_k", e.maj_at_k}, {"format_rate", e.format_rate},
                          {"prompts", e.prompts}, {"pass_at_1_by_task", e.pass_at_1_by_task}};
  };
  nlohmann::json j{{"run_dir", r.run_dir},
                   {"initial_accuracy", r.initial.pass_at_1},
                   {"sft_accuracy", r.after_sft.pass_at_1},
                   {"grpo_accuracy", r.after_grpo.pass_at_1},
                   {"steps", r.grpo_steps},
                   {"sft_steps", r.sft_steps},
                   {"wall_seconds", r.wall_seconds},
                   {"sft_seconds", r.sft_seconds},
                   {"grpo_seconds", r.grpo_seconds},
                   {"learner_idle_fraction", r.learner_idle_fraction},
                   {"rollouts_per_second", r.rollouts_per_second},
                   {"eval", {{"initial", eval_json(r.initial)}, {"after_sft", eval_json(r.after_sft)},
                             {"after_grpo", eval_json(r.after_grpo)}}}};
  return j.dump(2);
}

result<train_report> run_training(run_config config, std::ostream& log) {
  auto wall_start = clock_type::now();
  // 1. Derived settings, the run directory, the resolved config.
  for (const auto& note : resolve(config)) log << "config: " << note << "\n";
  const fs::path dir = config.run.dir;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error(errc::io_error, dir.string() + ": cannot create the run directory: " + ec.message());
  std::ofstream(dir / "config.toml") << config::to_toml(config);

  // 2. Process settings and the policy.
  model::tune_malloc();
  model::set_threads(static_cast<int>(config.run.threads));
  model::seed_everything(config.run.seed);
  auto bundle = load_policy(config.model, config.run.seed);
  if (!bundle) return bundle.error();
  log << "policy: " << model::parameter_count(bundle->policy->config()) << " parameters, vocabulary "
      << bundle->tokenizer->vocab_size() << "\n";

  // 3. The actor system and the shared services.
  auto caf_config = system_config(config);
  caf::actor_system sys{caf_config};
  auto s = spawn_services(sys, config);
  if (!s) return s.error();
  auto held_out = held_out_prompts(config);
  if (!held_out) return held_out.error();

  train_report report;
  report.run_dir = dir.string();
  auto shutdown = [&](std::optional<aha::error> failure) -> result<train_report> {
    stop_services(sys, *s);
    if (failure) return *failure;
    return report;
  };

  // 4. Stages: evaluate, cold-start SFT, evaluate, GRPO, evaluate.
  auto trainer = std::make_shared<policy_trainer>(bundle->policy, sft_trainer_config(config), bundle->tokenizer->pad_id());
  auto initial = run_eval(sys, *s, *bundle, *held_out, config, "initial", log);
  if (!initial) return shutdown(initial.error());
  report.initial = report.after_sft = *initial;
  if (config.sft.steps > 0) {
    auto started = clock_type::now();
    auto steps = run_sft(config, *s, *bundle, *trainer, log);
    if (!steps) return shutdown(steps.error());
    report.sft_steps = *steps;
    report.sft_seconds = seconds_since(started);
    auto after = run_eval(sys, *s, *bundle, *held_out, config, "after SFT", log);
    if (!after) return shutdown(after.error());
    report.after_sft = *after;
  }
  report.after_grpo = report.after_sft;
  if (config.grpo.learner.steps > 0) {
    trainer->begin_stage(grpo_trainer_config(config));
    auto outcome = run_grpo(sys, config, *s, *bundle, trainer, log);
    if (!outcome) return shutdown(outcome.error());
    report.grpo_steps = outcome->steps;
    report.grpo_seconds = outcome->seconds;
    report.learner_idle_fraction = outcome->learner_idle_fraction;
    report.rollouts_per_second = outcome->seconds > 0 ? static_cast<double>(outcome->steps) *
                                                            config.grpo.learner.groups_per_step *
                                                            config.generator.group_size / outcome->seconds
                                                      : 0;
    auto after = run_eval(sys, *s, *bundle, *held_out, config, "after GRPO", log);
    if (!after) return shutdown(after.error());
    report.after_grpo = *after;
  }

  // 5. The report.
  report.wall_seconds = seconds_since(wall_start);
  write_report(report, dir);
  return shutdown(std::nullopt);
}

result<eval_report> run_evaluation(run_config config, const std::string& checkpoint, std::ostream& log) {
  resolve(config);
  config.model.path = checkpoint;
  model::set_threads(static_cast<int>(config.run.threads));
  auto bundle = load_policy(config.model, config.run.seed);
  if (!bundle) return bundle.error();
  auto held_out = held_out_prompts(config);
  if (!held_out) return held_out.error();
  // Evaluation writes nothing of the run: its services live in a scratch directory.
  config.run.dir = (fs::temp_directory_path() / ("aha-eval-" + std::to_string(::getpid()))).string();
  auto caf_config = system_config(config);
  caf::actor_system sys{caf_config};
  auto s = spawn_services(sys, config);
  if (!s) return s.error();
  auto report = run_eval(sys, *s, *bundle, *held_out, config, checkpoint, log);
  stop_services(sys, *s);
  std::error_code ignored;
  fs::remove_all(config.run.dir, ignored);
  return report;
}

}  // namespace aha::actors
