// The training run (actors/controller.hpp): topology, stages, supervision, report.
#include "actors/controller.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include <unistd.h>

#include <nlohmann/json.hpp>
#include <torch/cuda.h>

#include "actors/checkpoint.hpp"
#include "actors/grader.hpp"
#include "actors/metrics.hpp"
#include "actors/prompt_source.hpp"
#include "actors/replay_buffer.hpp"
#include "actors/replay_store.hpp"
#include "actors/run_audit.hpp"
#include "actors/supervision/restart_policy.hpp"
#include "actors/supervision/teardown.hpp"
#include "actors/supervision/watchdog.hpp"
#include "model/char_tokenizer.hpp"
#include "model/gguf_model.hpp"
#include "model/hf_checkpoint.hpp"
#include "model/runtime.hpp"
#include "report/run_report.hpp"

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

constexpr auto kRequestTimeout = std::chrono::seconds(60);

// The built-in tiny model with its character vocabulary, a Hugging Face folder (an aha
// checkpoint of the tiny model included: its aha_tokenizer.json names the character vocabulary),
// or a GGUF file (load_pretrained reads it too).
result<policy_bundle> load_policy(const model_section& section, std::uint64_t seed) {
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
  if (section.path.empty()) {
    auto tokenizer = std::make_shared<model::char_tokenizer>();
    out.policy = model::transformer(model::tiny_config(tokenizer->vocab_size()));
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

// Where a resumed run picks up (all zero for a new run).
struct resume_point {
  std::optional<trainer_state> state;  // the checkpoint's, when there is one
  bool in_grpo() const { return state && state->stage == "grpo"; }
  std::uint64_t grpo_step() const { return state ? state->grpo_step : 0; }
  std::uint64_t weight_version() const { return state ? state->weight_version : 0; }
};

fs::path checkpoint_dir(const run_config& config) { return fs::path(config.run.dir) / "checkpoint"; }

// Learner steps after the checkpoint consumed groups that no saved model was trained on: they
// become trainable again, so a resume loses no rollout. Unconsumed groups made by weights newer
// than the checkpoint's (`version`) are re-based to it, not dropped: rewound ones' prompts are
// already done (a drop would silently lose them from their epoch), the recorded behaviour
// log-probs let the decoupled-PPO weight correct for a behaviour policy that is a sibling of the
// resumed one, and once re-based the staleness filter bounds them like any group of `version`.
status rewind_replay(const run_config& config, std::uint64_t grpo_step, std::uint64_t version, std::ostream& log) {
  const fs::path replay = fs::path(config.run.dir) / config.replay.dir;
  if (!fs::exists(replay)) return ok_status();
  auto store = replay_store::open({replay.string(), config.replay.sync, 0, 0});
  if (!store) return store.error();
  auto rewound = (*store)->rewind(grpo_step);
  if (!rewound) return rewound.error();
  auto rebased = (*store)->rebase_newer_than(version);
  if (!rebased) return rebased.error();
  std::uint64_t unconsumed = 0;
  for (const auto& [id, entry] : (*store)->entries()) unconsumed += entry.consumed ? 0 : 1;
  log << "resume: " << unconsumed << " unconsumed groups in the replay buffer (" << *rewound
      << " of them consumed after the checkpoint, trainable again; " << *rebased
      << " made by weights newer than the checkpoint's version " << version << ", re-based to it)\n";
  return ok_status();
}

// After the rewind (groups a lost model consumed count as unconsumed again), the prompt cursor
// catches up with the replay store: prompt_cursor::reconcile states the invariant. Without it a
// kill between the store's commit and the cursor's save asked that prompt again (two groups).
status reconcile_prompt_cursor(const run_config& config, std::ostream& log) {
  const fs::path dir = config.run.dir;
  const fs::path replay = dir / config.replay.dir;
  if (config.prompts.state_file.empty() || !fs::exists(replay)) return ok_status();
  std::map<std::uint64_t, stored_prompt> prompts;  // prompt id -> its groups in the store
  {
    replay_store_options options{replay.string(), false, 0, 0, true};  // read-only
    auto store = replay_store::open(options);
    if (!store) return store.error();
    for (const auto& [id, entry] : (*store)->entries()) {
      if (entry.dropped) continue;  // never trained, its prompt asked again: not a group of that prompt
      auto group = (*store)->get(id);
      if (!group) return group.error();
      auto& counts = prompts[group->source.id];
      ++(entry.consumed ? counts.consumed : counts.unconsumed);
    }
  }
  auto dataset = tasks::open_dataset(config.prompts.dataset, tasks::split::train);
  if (!dataset) return dataset.error();
  std::shared_ptr<const tasks::prompt_dataset> shared = std::move(*dataset);
  auto cursor = prompt_cursor::open(shared, config.prompts.shuffle_seed, config.prompts.epochs,
                                    (dir / config.prompts.state_file).string());
  if (!cursor) return cursor.error();
  auto changed = (*cursor)->reconcile(prompts);
  if (!changed) return changed.error();
  log << "resume: prompt cursor reconciled with the replay buffer's " << prompts.size() << " prompts: "
      << changed->held_now_stored << " held ones already stored (not asked again), " << changed->held_now_done
      << " held and " << changed->stored_now_done << " stored ones already consumed (done), "
      << changed->stored_reissued << " stored ones whose group is gone (asked again)\n";
  return ok_status();
}

// A new run needs a missing or empty run directory (two runs never mix); with run.resume the
// directory's checkpoint, replay buffer and prompt cursor are picked up.
result<resume_point> open_run_dir(const run_config& config, std::ostream& log) {
  const fs::path dir = config.run.dir;
  std::error_code ec;
  const bool holds_run = fs::exists(dir) && !fs::is_empty(dir, ec);
  resume_point point;
  if (holds_run && !config.run.resume) {
    return make_error(errc::invalid_argument, dir.string() + " already holds a run: pass --resume (run.resume = true) "
                                              "to continue it, or choose another run.dir (or remove the folder) to start over");
  }
  if (holds_run) {
    auto state = read_trainer_state(checkpoint_dir(config).string());
    if (!state) return state.error();
    point.state = *state;
    if (point.state) {
      log << "resume: checkpoint after " << point.state->stage << " (SFT steps " << point.state->sft_steps
          << ", GRPO step " << point.grpo_step() << ", weight version " << point.weight_version() << ")\n";
    } else {
      log << "resume: " << dir.string() << " has no checkpoint yet; the stages start over, its rollouts are kept\n";
    }
    if (auto s = rewind_replay(config, point.grpo_step(), point.weight_version(), log); !s) return s.error();
    if (auto s = reconcile_prompt_cursor(config, log); !s) return s.error();
  } else if (config.run.resume) {
    log << "resume: " << dir.string() << " holds no run; starting a new one\n";
  }
  fs::create_directories(dir, ec);
  if (ec) return make_error(errc::io_error, dir.string() + ": cannot create the run directory: " + ec.message());
  return point;
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

// The services every stage shares: metrics, replay buffer, prompt source, grader, and the
// cluster's door when nodes may join (cluster.listen).
struct services {
  metrics_actor metrics;
  replay_buffer_actor replay;
  prompt_source_actor prompts;
  grader_actor grader;
  cluster_door cluster;
};

result<services> spawn_services(caf::actor_system& sys, const run_config& config) {
  const fs::path dir = config.run.dir;
  services s;
  auto metrics = spawn_metrics(sys, config.metrics, (dir / "metrics.jsonl").string());
  if (!metrics) return metrics.error();
  s.metrics = *metrics;
  std::string cursor = config.prompts.state_file.empty() ? "" : (dir / config.prompts.state_file).string();
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

// Publishes the registry at cluster.listen (nodes may join from then on, mid-run included) and
// waits for cluster.wait_for_nodes of them.
status open_cluster_door(caf::actor_system& sys, const run_config& config, services& s, std::ostream& log) {
  const auto& cluster = config.cluster;
  auto door = open_cluster(sys, cluster, config.grader.rewards, s.grader, s.metrics,
                           [&log](const std::string& line) { log << line + "\n"; });
  if (!door) return door.error();
  s.cluster = *door;
  const std::string at = door->at.host + ":" + std::to_string(door->at.port);
  log << "cluster: listening on " << at << "; nodes join with: aha node --join " << at
      << (cluster.secret_file.empty() ? " --secret ..." : " --secret-file " + cluster.secret_file) << "\n";
  if (cluster.wait_for_nodes == 0) return ok_status();
  log << "cluster: waiting for " << cluster.wait_for_nodes << " node(s) (cluster.wait_for_nodes)\n";
  auto joined = wait_for_nodes(sys, *door, cluster.wait_for_nodes, cluster.wait_timeout);
  if (!joined) return joined.error();
  return ok_status();
}

// One actor's counters (grader, replay buffer, gate), for report.json; zeros if it does not answer.
template <class Stats, class Actor, class Atom>
Stats stats_from(caf::actor_system& sys, const Actor& actor, Atom atom) {
  caf::scoped_actor self{sys};
  Stats out;
  self->request(actor, kRequestTimeout, atom).receive([&](Stats& reply) { out = reply; }, [](caf::error&) {});
  return out;
}

// The grader's and the cluster's counters, for report.json.
void count_grading(caf::actor_system& sys, const services& s, train_report& report) {
  auto grading = stats_from<grader_stats>(sys, s.grader, stats_atom::value);
  report.reward_worker_restarts = grading.worker_restarts;
  report.reward_tasks_requeued = grading.requeued;
  report.remote_tasks = grading.remote_tasks;
  report.remote_workers_lost = grading.remote_workers_lost;
  report.remote_requeued_unreachable = grading.requeued_unreachable;
  report.grading_failures_masked = grading.grading_failures_masked;
  if (!s.cluster.registry) return;
  auto cluster = stats_of(sys, s.cluster);
  report.nodes_joined = cluster.joined;
  report.nodes_lost = cluster.lost;
  report.nodes_refused = cluster.refused;
}

result<eval_report> run_eval(caf::actor_system& sys, const services& s, policy_bundle& bundle,
                             const std::vector<protocol::prompt>& held_out, const run_config& config,
                             const std::string& label, const std::string& completions_file, std::ostream& log) {
  eval_settings settings;
  settings.completions_file = completions_file;
  settings.samples = config.eval.samples;
  settings.temperature = config.eval.temperature;
  settings.max_new_tokens = config.eval.max_new_tokens;
  settings.pass_at = config.eval.pass_at;
  settings.stop_strings = config.generator.stop_strings;
  settings.seed = config.run.seed;
  auto started = clock_type::now();
  auto report = evaluate(sys, s.grader, bundle.policy, *bundle.tokenizer, held_out, settings);
  if (!report) return report.error();
  log << eval_table(*report, label) << "eval " << label << ": " << std::fixed << std::setprecision(1)
      << seconds_since(started) << " s\n";
  if (!completions_file.empty()) log << "eval " << label << ": every sample in " << completions_file << "\n";
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
  std::uint64_t misses = 0;  // draws in a row without a demonstration
  // What SFT trained on, for the split audit (run_audit.hpp) and for anyone checking from outside.
  const auto examples_file = fs::path(config.run.dir) / "sft_examples.jsonl";
  std::ofstream examples(examples_file, std::ios::trunc);
  if (!examples) return make_error(errc::io_error, "cannot write " + examples_file.string());
  for (std::uint64_t step = 0; step < config.sft.steps; ++step) {
    std::vector<sft_example> batch;
    while (batch.size() < config.sft.batch_size) {
      auto sample = (*dataset)->at(order.next() % size);
      if (sample.demonstration.empty()) {
        if (++misses > 4 * size + 64) {
          return make_error(errc::invalid_argument,
                            "sft.steps = " + std::to_string(config.sft.steps) +
                                " but the training prompts carry no demonstrations (JSONL records need a "
                                "\"completion\"): add them, or set sft.steps = 0 to start with GRPO");
        }
        continue;
      }
      misses = 0;
      write_sft_example(examples, step, sample.prompt);
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
  if (!examples.flush()) return make_error(errc::io_error, "cannot write " + examples_file.string());
  return config.sft.steps;
}

// Starts the GRPO stage's optimizer: fresh, or the checkpoint's when resuming inside the stage.
// With a KL term the reference is the policy at the stage's start, kept in <run dir>/reference
// so that a resumed run compares against the same model.
status begin_grpo(const run_config& config, const resume_point& resumed, policy_trainer& trainer) {
  const bool kl = config.grpo.loss.kl_beta > 0;
  const std::string reference = (fs::path(config.run.dir) / "reference").string();
  const std::string checkpoint = checkpoint_dir(config).string();
  if (resumed.in_grpo() && kl) {
    if (auto s = model::load_weights(trainer.policy(), reference); !s) return s;
  }
  trainer.begin_stage(grpo_trainer_config(config));  // snapshots the reference from the policy
  if (!resumed.in_grpo()) return kl ? model::save_pretrained(trainer.policy(), reference) : ok_status();
  if (kl) {
    if (auto s = model::load_weights(trainer.policy(), checkpoint); !s) return s;
  }
  // The optimizer's step count comes back with its moments: the LR schedule continues.
  return trainer.optimizer().load((fs::path(checkpoint) / "optimizer.pt").string());
}

struct grpo_outcome {
  std::uint64_t steps = 0;
  double seconds = 0;
  double learner_idle_fraction = 0;
  std::uint64_t generator_restarts = 0;
  std::uint64_t prompts_requeued = 0;
  std::uint64_t rollouts_consumed = 0;  // counted by the learner, not derived from the config
  std::uint64_t dropped_stale = 0;      // the replay buffer's count over the stage
  gate_stats gate;                      // the gate's books when the stage ended
  std::uint64_t stalls = 0;             // stalls the watchdog reported
  std::uint64_t stall_restarts = 0;     // grader pools restarted for a stall (on_stall = restart)
};

// Asks the prompt source to re-issue every prompt a dead generator held; returns how many.
std::uint64_t requeue_held(caf::actor_system& sys, const prompt_source_actor& prompts, const caf::actor_addr& holder,
                           std::ostream& log) {
  caf::scoped_actor self{sys};
  std::uint64_t count = 0;
  self->request(prompts, kRequestTimeout, requeue_atom::value, holder)
      .receive([&](std::uint64_t n) { count = n; },
               [&](const caf::error& e) { log << "requeue failed: " << describe(e) << "\n"; });
  return count;
}

// The asynchronous topology: gate, generators, learner; returns when the learner is done.
result<grpo_outcome> run_grpo(caf::actor_system& sys, const run_config& config, const services& s,
                              policy_bundle& bundle, std::shared_ptr<policy_trainer> trainer,
                              const resume_point& resumed, std::uint64_t sft_steps, std::ostream& log) {
  const auto& learner_cfg = config.grpo.learner;
  // Groups already stored and unconsumed (a resumed run's leftovers) are in flight for the gate:
  // they retire through it when consumed or dropped, as if it had granted them.
  const auto replay_before = stats_from<replay_stats>(sys, s.replay, stats_atom::value);
  // (Stale ones were dropped before the restart, their slots already given back: never in flight.)
  const std::uint64_t leftovers = replay_before.ready_groups + replay_before.leased_groups;
  auto gate = spawn_rollout_gate(sys, {learner_cfg.groups_per_step, config.run.max_staleness,
                                       resumed.weight_version(), leftovers});
  caf::scoped_actor self{sys};
  std::vector<generator_actor> generators;
  auto make_generator = [&](std::uint32_t index) {
    generator_setup setup;
    setup.name = "generator/" + std::to_string(index);
    setup.replica = model::transformer(bundle.policy->config());
    setup.replica->to(bundle.policy->parameters().front().device());
    model::copy_weights(setup.replica, bundle.policy);
    setup.tokenizer = bundle.tokenizer;
    setup.config = config.generator;
    setup.peers = {s.prompts, s.grader, gate, s.metrics};
    setup.max_staleness = config.run.max_staleness;
    setup.weight_version = resumed.weight_version();  // the learner's snapshot follows on subscribe
    setup.seed = config.run.seed * 1000003 + index;
    return spawn_generator(sys, std::move(setup));
  };
  learner_setup setup;
  setup.trainer = std::move(trainer);
  setup.config = learner_cfg;
  setup.peers = {s.replay, s.prompts, gate, s.metrics, caf::actor_cast<caf::actor>(self)};
  setup.max_staleness = config.run.max_staleness;
  setup.first_step = resumed.grpo_step();
  setup.weight_version = resumed.weight_version();
  setup.dropped_stale_before = replay_before.dropped_stale;
  setup.checkpoint = [&config, &bundle, trainer = setup.trainer, sft_steps](std::uint64_t step, std::uint64_t version) {
    return save_run_checkpoint(config, bundle, *trainer, trainer_state{"grpo", sft_steps, step, version});
  };
  auto learner = spawn_learner(sys, std::move(setup));
  // The watchdog asks every actor of the stage for its progress and tells this supervisor of a
  // stall (supervision.stall_after, supervision.on_stall).
  watchdog_config watchdog_settings;
  watchdog_settings.every = config.supervision.watch_every;
  watchdog_settings.stall_after = config.supervision.stall_after;
  auto watchdog = spawn_watchdog(sys, watchdog_settings, caf::actor_cast<caf::actor>(self), s.metrics);
  auto watch = [&](const std::string& name, const auto& handle) {
    self->send(watchdog, watch_atom::value, name, caf::actor_cast<caf::actor>(handle));
  };
  // Every actor of the stage is supervised: the learner's or a service's death ends the stage
  // with its name; a generator's is repaired (below).
  const std::vector<named_actor> services_watched{
      {"grader", caf::actor_cast<caf::actor>(s.grader)},     {"replay buffer", caf::actor_cast<caf::actor>(s.replay)},
      {"prompt source", caf::actor_cast<caf::actor>(s.prompts)}, {"metrics", caf::actor_cast<caf::actor>(s.metrics)},
      {"rollout gate", caf::actor_cast<caf::actor>(gate)},   {"learner", caf::actor_cast<caf::actor>(learner)}};
  for (const auto& [name, handle] : services_watched) {
    if (!handle) continue;
    self->monitor(handle);
    watch(name, handle);
  }
  auto start_generator = [&](std::uint32_t i) {
    generators[i] = make_generator(i);
    self->monitor(generators[i]);
    self->send(learner, subscribe_atom::value, generators[i]);
    watch("generator/" + std::to_string(i), generators[i]);
  };
  generators.resize(config.generator.count);
  std::vector<restart_policy> restarts(config.generator.count, restart_policy(config.supervision));
  for (std::uint32_t i = 0; i < config.generator.count; ++i) start_generator(i);
  auto started = clock_type::now();
  grpo_outcome outcome;
  std::optional<aha::error> failure;
  bool running = true;
  const std::string resume_hint = "; its last checkpoint resumes with --resume";
  // Supervision: a generator that dies is replaced after a backoff (supervision.restart_backoff,
  // doubling; at most supervision.max_restarts deaths inside restart_window), and the prompts it
  // held (taken, not yet handed to the grader) are re-issued, their window slots returned to the
  // gate; groups it had handed over are graded and stored as usual. The learner's end, or its
  // failure, ends the stage; so does any other actor's death, or a stall when on_stall says so.
  self->receive_while(running)(
      [&](done_atom, std::uint64_t steps, double idle_fraction, std::uint64_t rollouts) {
        outcome.steps = steps;
        outcome.learner_idle_fraction = idle_fraction;
        outcome.rollouts_consumed = rollouts;
        running = false;
      },
      [&](const caf::error& e) {
        failure = make_error(errc::internal, "learner failed: " + describe(e));
        running = false;
      },
      [&](stalled_atom, const stall& stalled) {
        log << "watchdog: " << stalled.line << "\n";
        ++outcome.stalls;
        const auto action = config.supervision.on_stall;
        if (action == stall_action::log) return;
        const std::string pool_prefix = "grader pool ";
        if (action == stall_action::restart && stalled.watched == "grader" && stalled.part.rfind(pool_prefix, 0) == 0) {
          const auto pool = stalled.part.substr(pool_prefix.size());
          self->request(s.grader, kRequestTimeout, restart_atom::value, pool)
              .receive(
                  [&](std::uint32_t n) {
                    log << "supervision: " << n << " workers of pool " << pool
                        << " replaced, their tasks re-queued\n";
                    ++outcome.stall_restarts;
                  },
                  [&](const caf::error& e) { log << "supervision: restarting pool " << pool << " failed: " << describe(e) << "\n"; });
          return;
        }
        failure = make_error(errc::timeout, "watchdog: " + stalled.line + "; the run stopped (supervision.on_stall = " +
                                                (action == stall_action::stop ? "stop" : "restart, and " + stalled.watched +
                                                                                             " cannot be restarted in place") +
                                                ")" + resume_hint);
        running = false;
      },
      [&](restart_atom, std::uint32_t i) { start_generator(i); },
      [&](const caf::down_msg& down) {
        for (const auto& [name, handle] : services_watched) {
          if (handle && down.source == handle.address()) {
            failure = make_error(errc::internal, "the " + name + " stopped (" + describe(down.reason) + ")" + resume_hint);
            running = false;
            return;
          }
        }
        for (std::uint32_t i = 0; i < generators.size(); ++i) {
          if (!generators[i] || generators[i].address() != down.source) continue;
          auto requeued = requeue_held(sys, s.prompts, down.source, log);
          self->send(gate, release_atom::value, static_cast<std::uint32_t>(requeued), any_version);
          outcome.prompts_requeued += requeued;
          generators[i] = nullptr;
          auto delay = restarts[i].on_death(clock_type::now());
          if (!delay) {
            failure = make_error(errc::internal, "generator/" + std::to_string(i) + " died " +
                                                     std::to_string(restarts[i].recent_deaths()) +
                                                     " times within supervision.restart_window (last: " +
                                                     describe(down.reason) + "); not restarting it again" + resume_hint);
            running = false;
            return;
          }
          log << "generator/" << i << " stopped (" << describe(down.reason) << "); " << requeued
              << " prompts it held re-queued; a replacement starts in " << delay->count() << " ms\n";
          ++outcome.generator_restarts;
          self->delayed_send(self, *delay, restart_atom::value, i);
        }
      },
      caf::after(std::chrono::duration_cast<std::chrono::milliseconds>(config.run.max_wall)) >> [&] {
        failure = make_error(errc::timeout, "the GRPO stage exceeded run.max_wall" + resume_hint);
        running = false;
      });
  outcome.seconds = seconds_since(started);
  for (const auto& [name, handle] : services_watched) {
    if (handle) self->demonitor(handle);
  }
  for (auto& g : generators) {
    if (!g) continue;
    self->demonitor(caf::actor_cast<caf::actor>(g));
    self->send(g, stop_atom::value);
  }
  self->send_exit(watchdog, caf::exit_reason::user_shutdown);
  self->send_exit(learner, caf::exit_reason::user_shutdown);
  outcome.gate = stats_from<gate_stats>(sys, gate, gate_stats_atom::value);
  const auto dropped_after = stats_from<replay_stats>(sys, s.replay, stats_atom::value).dropped_stale;
  outcome.dropped_stale = dropped_after - std::min(dropped_after, replay_before.dropped_stale);
  // Teardown, bounded: an actor blocked in a call cannot take its exit; it is named, not waited for.
  std::vector<named_actor> stage_actors{{"rollout gate", caf::actor_cast<caf::actor>(gate)},
                                        {"learner", caf::actor_cast<caf::actor>(learner)}};
  for (std::uint32_t i = 0; i < generators.size(); ++i) {
    stage_actors.push_back({"generator/" + std::to_string(i), caf::actor_cast<caf::actor>(generators[i])});
  }
  auto still = stop_and_wait(sys, stage_actors, config.supervision.teardown_timeout);
  for (const auto& name : still) {
    log << "teardown: " << name << " did not stop within supervision.teardown_timeout\n";
  }
  if (failure) return *failure;
  return outcome;
}

// The held-out prompts (disjoint from training by construction, deduplicated) and what was
// dropped to make them so.
struct evaluation_set {
  std::vector<protocol::prompt> prompts;
  std::uint64_t duplicates_dropped = 0;
  std::uint64_t train_overlap_dropped = 0;
};
result<evaluation_set> held_out_prompts(const run_config& config) {
  auto set = tasks::open_held_out(config.prompts.dataset, config.eval.prompts);
  if (!set) return set.error();
  evaluation_set out;
  out.duplicates_dropped = set->duplicates_dropped;
  out.train_overlap_dropped = set->train_overlap_dropped;
  for (std::uint64_t i = 0; i < set->samples.size(); ++i) {
    set->samples[i].prompt.id = i;
    out.prompts.push_back(std::move(set->samples[i].prompt));
  }
  return out;
}

// The split audit: every held-out prompt checked against what this run trained on, read back
// from its artifacts (measured, not assumed).
status audit_split(const run_config& config, const evaluation_set& held_out, train_report& report,
                   std::ostream& log) {
  const fs::path dir = config.run.dir;
  auto trained = read_trained_problems((dir / "sft_examples.jsonl").string(), (dir / config.replay.dir).string());
  if (!trained) return trained.error();
  report.eval_prompts = held_out.prompts.size();
  report.eval_prompts_unique = report.initial.prompts_unique;
  report.eval_duplicates_dropped = held_out.duplicates_dropped;
  report.eval_train_overlap_dropped = held_out.train_overlap_dropped;
  report.trained_problems_unique = trained->keys.size();
  report.audited_sft_examples = trained->sft_examples;
  report.audited_grpo_groups = trained->grpo_groups;
  report.train_eval_overlap = count_overlap(held_out.prompts, *trained);
  log << "split audit: " << report.eval_prompts_unique << " distinct held-out prompts, " << report.train_eval_overlap
      << " of them trained on (" << trained->keys.size() << " distinct problems in " << trained->sft_examples
      << " SFT examples and " << trained->grpo_groups << " consumed groups)\n";
  return ok_status();
}

// Stops the shared services; one that does not stop within supervision.teardown_timeout is named.
void stop_services(caf::actor_system& sys, const services& s, const run_config& config, std::ostream& log) {
  close_cluster(sys, s.cluster);  // nodes hear that the run is over before their workers go quiet
  caf::scoped_actor self{sys};
  if (s.metrics) {
    self->request(s.metrics, std::chrono::seconds(30), caf::flush_atom::value)
        .receive([](caf::ok_atom) {}, [](caf::error&) {});
  }
  auto still = stop_and_wait(sys,
                             {{"grader", caf::actor_cast<caf::actor>(s.grader)},
                              {"prompt source", caf::actor_cast<caf::actor>(s.prompts)},
                              {"replay buffer", caf::actor_cast<caf::actor>(s.replay)},
                              {"metrics", caf::actor_cast<caf::actor>(s.metrics)}},
                             config.supervision.teardown_timeout);
  for (const auto& name : still) log << "teardown: " << name << " did not stop within supervision.teardown_timeout\n";
}

caf::actor_system_config system_config(const run_config& config) {
  caf::actor_system_config caf_config;
  caf_config.set("scheduler.max-threads", static_cast<std::size_t>(std::max(2u, config.run.threads)));
  // Work sharing: idle scheduler threads wait on a condition variable. Work stealing polls
  // (thousands of sleeps per second, measured with strace), CPU the generator and learner need.
  caf_config.set("scheduler.policy", caf::atom("sharing"));
  add_message_types(caf_config);
  if (!config.cluster.listen.empty()) configure_middleman(caf_config, config.cluster);
  return caf_config;
}

// report.json, then what people look at (report/run_report.hpp: tb/ and report.html, redrawn
// from metrics.jsonl and report.json; `aha report` does the same later). A view that cannot be
// written is logged: the run and its report.json stand.
void write_report(const train_report& report, const fs::path& dir, std::ostream& log) {
  {
    std::ofstream out(dir / "report.json");
    out << to_json(report) << "\n";
  }
  auto views = aha::report::write_run_report(dir.string());
  if (!views) {
    log << "report: " << views.error().message << " (retry with: aha report " << dir.string() << ")\n";
    return;
  }
  for (const auto& line : *views) log << line << "\n";
}

}  // namespace

std::string to_json(const train_report& r) {
  auto eval_json = [](const eval_report& e) { return to_json(e); };
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
                   {"resumed_from_step", r.resumed_from_step},
                   {"eval_prompts", r.eval_prompts},
                   {"eval_prompts_unique", r.eval_prompts_unique},
                   {"train_eval_overlap", r.train_eval_overlap},
                   {"split_audit", {{"eval_duplicates_dropped", r.eval_duplicates_dropped},
                                    {"eval_train_overlap_dropped", r.eval_train_overlap_dropped},
                                    {"trained_problems_unique", r.trained_problems_unique},
                                    {"sft_examples", r.audited_sft_examples},
                                    {"grpo_groups", r.audited_grpo_groups}}},
                   {"generator_restarts", r.generator_restarts},
                   {"stalls", r.stalls},
                   {"stall_restarts", r.stall_restarts},
                   {"prompts_requeued", r.prompts_requeued},
                   {"rollouts_consumed", r.rollouts_consumed},
                   {"dropped_stale", r.dropped_stale},
                   {"gate", {{"window", r.gate.window}, {"preexisting", r.gate.preexisting}, {"granted", r.gate.granted},
                             {"consumed", r.gate.consumed}, {"dropped", r.gate.dropped}, {"released", r.gate.released},
                             {"in_flight", r.gate.in_flight}, {"unmatched", r.gate.unmatched}}},
                   {"reward_worker_restarts", r.reward_worker_restarts},
                   {"reward_tasks_requeued", r.reward_tasks_requeued},
                   {"grading_failures_masked", r.grading_failures_masked},
                   {"cluster", {{"nodes_joined", r.nodes_joined}, {"nodes_lost", r.nodes_lost},
                                {"nodes_refused", r.nodes_refused}, {"remote_tasks", r.remote_tasks},
                                {"remote_workers_lost", r.remote_workers_lost},
                                {"requeued_unreachable", r.remote_requeued_unreachable}}},
                   {"eval", {{"initial", eval_json(r.initial)}, {"after_sft", eval_json(r.after_sft)},
                             {"after_grpo", eval_json(r.after_grpo)}}}};
  return j.dump(2);
}

result<train_report> run_training(run_config config, std::ostream& log) {
  auto wall_start = clock_type::now();
  // 1. Derived settings, the run directory (new, or resumed), the resolved config.
  for (const auto& note : resolve(config)) log << "config: " << note << "\n";
  if (auto valid = validate(config); !valid) return valid.error();
  if (!config.cluster.listen.empty()) {  // before the run directory exists: a fixed recipe simply runs again
    if (auto cluster = check_cluster(config.cluster); !cluster) return cluster.error();
  }
  auto resumed = open_run_dir(config, log);
  if (!resumed) return resumed.error();
  const fs::path dir = config.run.dir;
  {
    auto shown = config;  // the secret stays out of the run directory
    shown.cluster = redacted(shown.cluster);
    std::ofstream(dir / "config.toml") << config::to_toml(shown);
  }

  // 2. Process settings and the policy (the checkpoint's weights when resuming).
  model::tune_malloc();
  model::set_threads(static_cast<int>(config.run.threads));
  model::seed_everything(config.run.seed);
  auto bundle = load_policy(config.model, config.run.seed);
  if (!bundle) return bundle.error();
  if (resumed->state) {
    if (auto s = model::load_weights(bundle->policy, checkpoint_dir(config).string()); !s) return s.error();
  }
  log << "policy: " << model::parameter_count(bundle->policy->config()) << " parameters, vocabulary "
      << bundle->tokenizer->vocab_size() << "\n";

  // 3. The actor system and the shared services.
  auto caf_config = system_config(config);
  // The system's destructor waits for every actor: bounded, so a blocked one cannot hang the exit.
  teardown_deadline teardown(config.supervision.teardown_timeout);
  caf::actor_system sys{caf_config};
  auto teardown_armed = teardown.arm();
  auto s = spawn_services(sys, config);
  if (!s) return s.error();
  auto held_out = held_out_prompts(config);
  if (!held_out) return held_out.error();

  train_report report;
  report.run_dir = dir.string();
  report.resumed_from_step = resumed->grpo_step();
  auto shutdown = [&](std::optional<aha::error> failure) -> result<train_report> {
    stop_services(sys, *s, config, log);
    if (failure) return *failure;
    return report;
  };
  if (!config.cluster.listen.empty()) {
    if (auto opened = open_cluster_door(sys, config, *s, log); !opened) return shutdown(opened.error());
  }

  // 4. Stages: evaluate, cold-start SFT (skipped once a checkpoint has it), evaluate, GRPO, evaluate.
  auto trainer = std::make_shared<policy_trainer>(bundle->policy, sft_trainer_config(config), bundle->tokenizer->pad_id());
  const auto eval_file = [&dir](const char* stage) { return (dir / ("eval_" + std::string(stage) + ".jsonl")).string(); };
  const char* first_stage = resumed->state ? "resumed" : "initial";
  auto initial = run_eval(sys, *s, *bundle, held_out->prompts, config, first_stage, eval_file(first_stage), log);
  if (!initial) return shutdown(initial.error());
  report.initial = report.after_sft = *initial;
  if (resumed->state) {
    report.sft_steps = resumed->state->sft_steps;
  } else if (config.sft.steps > 0) {
    auto started = clock_type::now();
    auto steps = run_sft(config, *s, *bundle, *trainer, log);
    if (!steps) return shutdown(steps.error());
    report.sft_steps = *steps;
    report.sft_seconds = seconds_since(started);
    auto saved = save_run_checkpoint(config, *bundle, *trainer, trainer_state{"sft", *steps, 0, 0});
    if (!saved) return shutdown(saved.error());
    auto after = run_eval(sys, *s, *bundle, held_out->prompts, config, "after SFT", eval_file("after_sft"), log);
    if (!after) return shutdown(after.error());
    report.after_sft = *after;
  }
  report.after_grpo = report.after_sft;
  if (config.grpo.learner.steps > 0) {
    if (auto begun = begin_grpo(config, *resumed, *trainer); !begun) return shutdown(begun.error());
    auto outcome = run_grpo(sys, config, *s, *bundle, trainer, *resumed, report.sft_steps, log);
    if (!outcome) return shutdown(outcome.error());
    report.grpo_steps = outcome->steps;
    report.grpo_seconds = outcome->seconds;
    report.learner_idle_fraction = outcome->learner_idle_fraction;
    report.generator_restarts = outcome->generator_restarts;
    report.stalls = outcome->stalls;
    report.stall_restarts = outcome->stall_restarts;
    report.prompts_requeued = outcome->prompts_requeued;
    report.rollouts_consumed = outcome->rollouts_consumed;
    report.rollouts_per_second =
        outcome->seconds > 0 ? static_cast<double>(outcome->rollouts_consumed) / outcome->seconds : 0;
    report.dropped_stale = outcome->dropped_stale;
    report.gate = outcome->gate;
    auto after = run_eval(sys, *s, *bundle, held_out->prompts, config, "after GRPO", eval_file("after_grpo"), log);
    if (!after) return shutdown(after.error());
    report.after_grpo = *after;
  }

  // 5. The split audit and the report.
  if (auto audited = audit_split(config, *held_out, report, log); !audited) return shutdown(audited.error());
  count_grading(sys, *s, report);
  report.wall_seconds = seconds_since(wall_start);
  write_report(report, dir, log);
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
  // The system's destructor waits for every actor: bounded, so a blocked one cannot hang the exit.
  teardown_deadline teardown(config.supervision.teardown_timeout);
  caf::actor_system sys{caf_config};
  auto teardown_armed = teardown.arm();
  auto s = spawn_services(sys, config);
  if (!s) return s.error();
  auto report = run_eval(sys, *s, *bundle, held_out->prompts, config, checkpoint, "", log);
  stop_services(sys, *s, config, log);
  std::error_code ignored;
  fs::remove_all(config.run.dir, ignored);
  return report;
}

}  // namespace aha::actors
