// One GRPO stage (pipeline/grpo_stage.hpp): gate, generators, learner, supervision.
#include "pipeline/grpo_stage.hpp"

#include "actors/generator.hpp"
#include "actors/learner.hpp"
#include "actors/prompt_source.hpp"
#include "actors/replay_buffer.hpp"
#include "actors/supervision/restart_policy.hpp"
#include "actors/supervision/teardown.hpp"
#include "actors/supervision/watchdog.hpp"
#include "cluster/remote_generation.hpp"
#include "model/hf_checkpoint.hpp"

namespace aha::pipeline {

namespace fs = std::filesystem;
using namespace aha::actors;

namespace {

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

}  // namespace

status begin_grpo(const run_config& config, const grpo_start& start, policy_trainer& trainer) {
  const bool kl = config.grpo.loss.kl_beta > 0;
  const std::string& reference = start.reference_dir;
  const std::string checkpoint = checkpoint_dir(config).string();
  if (start.resumed && kl) {
    if (auto s = model::load_weights(trainer.policy(), reference); !s) return s;
  }
  trainer.begin_stage(grpo_trainer_config(config));  // snapshots the reference from the policy
  if (!start.resumed) return kl ? model::save_pretrained(trainer.policy(), reference) : ok_status();
  if (kl) {
    if (auto s = model::load_weights(trainer.policy(), checkpoint); !s) return s;
  }
  // The optimizer's step count comes back with its moments: the LR schedule continues.
  return trainer.optimizer().load((fs::path(checkpoint) / "optimizer.pt").string());
}

// The asynchronous topology: gate, generators, learner; returns when the learner is done.
result<grpo_outcome> run_grpo(caf::actor_system& sys, const run_config& config, const services& s,
                              policy_bundle& bundle, std::shared_ptr<policy_trainer> trainer, const grpo_start& start,
                              std::ostream& log) {
  const auto& learner_cfg = config.grpo.learner;
  // Groups already stored and unconsumed (a resumed run's leftovers) are in flight for the gate:
  // they retire through it when consumed or dropped, as if it had granted them.
  const auto replay_before = stats_from<replay_stats>(sys, s.replay, stats_atom::value);
  // (Stale ones were dropped before the restart, their slots already given back: never in flight.)
  const std::uint64_t leftovers = replay_before.ready_groups + replay_before.leased_groups;
  auto gate = spawn_rollout_gate(sys, {learner_cfg.groups_per_step, config.run.max_staleness,
                                       start.weight_version, leftovers});
  caf::scoped_actor self{sys};
  // The stage's generators: its own (restarted when they die) and those nodes run (cluster/
  // generator_host.hpp; a node's that die are not restarted here: the node offers new ones when
  // it joins again).
  struct generator_slot {
    generator_actor handle;
    std::string name;
    std::string node;  // "" = this process
  };
  std::vector<generator_slot> generators;
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
    setup.weight_version = start.weight_version;  // the learner's snapshot follows on subscribe
    setup.seed = config.run.seed * 1000003 + index;
    return spawn_generator(sys, std::move(setup));
  };
  learner_setup setup;
  setup.trainer = std::move(trainer);
  setup.config = learner_cfg;
  setup.peers = {s.replay, s.prompts, gate, s.metrics, caf::actor_cast<caf::actor>(self)};
  setup.max_staleness = config.run.max_staleness;
  setup.first_step = start.first_step;
  setup.weight_version = start.weight_version;
  setup.dropped_stale_before = replay_before.dropped_stale;
  setup.checkpoint = [&config, &bundle, trainer = setup.trainer, at = start.checkpoint](std::uint64_t step,
                                                                                         std::uint64_t version) {
    auto state = at;
    state.grpo_step = step;
    state.weight_version = version;
    return save_run_checkpoint(config, bundle, *trainer, state);
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
    generators[i] = {make_generator(i), "generator/" + std::to_string(i), ""};
    self->monitor(generators[i].handle);
    self->send(learner, subscribe_atom::value, weights_sink_actor{generators[i].handle});
    watch(generators[i].name, generators[i].handle);
  };
  generators.resize(config.generator.count);
  std::vector<restart_policy> restarts(config.generator.count, restart_policy(config.supervision));
  for (std::uint32_t i = 0; i < config.generator.count; ++i) start_generator(i);
  // Nodes' generators: one weight streamer feeds their replicas (cluster/weight_sync.hpp).
  cluster::remote_setup remote_settings;
  remote_settings.registry = s.cluster.registry;
  remote_settings.prompts = s.prompts;
  remote_settings.grader = s.grader;
  remote_settings.gate = gate;
  remote_settings.metrics = s.metrics;
  remote_settings.learner = learner;
  remote_settings.policy = &bundle.policy;
  remote_settings.tokenizer = bundle.tokenizer.get();
  remote_settings.model_path = config.model.path;
  remote_settings.stage = "grpo";
  remote_settings.generator = config.generator;
  remote_settings.max_staleness = config.run.max_staleness;
  remote_settings.seed = config.run.seed * 1000003 + 500009;
  remote_settings.weights = config.cluster.weights;
  remote_settings.log = &log;
  cluster::remote_generation remote(sys, std::move(remote_settings));
  auto add_remote = [&](const std::string& node, caf::actor host) {
    const auto handles = remote.start(node, host);
    for (std::size_t k = 0; k < handles.size(); ++k) {
      generator_slot slot{caf::actor_cast<generator_actor>(handles[k]), node + "/generator/" + std::to_string(k), node};
      self->monitor(slot.handle);
      watch(slot.name, slot.handle);
      generators.push_back(std::move(slot));
    }
  };
  for (const auto& [node, host] : remote.hosts(caf::actor_cast<caf::actor>(self))) add_remote(node, host);
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
      [&](host_atom, const std::string& node, std::uint32_t, const caf::actor& host) { add_remote(node, host); },
      [&](const caf::down_msg& down) {
        for (const auto& [name, handle] : services_watched) {
          if (handle && down.source == handle.address()) {
            failure = make_error(errc::internal, "the " + name + " stopped (" + describe(down.reason) + ")" + resume_hint);
            running = false;
            return;
          }
        }
        for (std::uint32_t i = 0; i < generators.size(); ++i) {
          if (!generators[i].handle || generators[i].handle.address() != down.source) continue;
          auto requeued = requeue_held(sys, s.prompts, down.source, log);
          self->send(gate, release_atom::value, static_cast<std::uint32_t>(requeued), any_version);
          outcome.prompts_requeued += requeued;
          generators[i].handle = nullptr;
          if (!generators[i].node.empty()) {
            log << generators[i].name << " stopped (" << describe(down.reason) << "); " << requeued
                << " prompts it held re-queued\n";
            return;
          }
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
  outcome.nodes = remote.finish();  // per-node counts, while the nodes' generators still answer
  for (auto& g : generators) {
    if (!g.handle) continue;
    self->demonitor(caf::actor_cast<caf::actor>(g.handle));
    self->send(g.handle, stop_atom::value);
  }
  self->send_exit(watchdog, caf::exit_reason::user_shutdown);
  self->send_exit(learner, caf::exit_reason::user_shutdown);
  outcome.gate = stats_from<gate_stats>(sys, gate, gate_stats_atom::value);
  const auto dropped_after = stats_from<replay_stats>(sys, s.replay, stats_atom::value).dropped_stale;
  outcome.dropped_stale = dropped_after - std::min(dropped_after, replay_before.dropped_stale);
  // Teardown, bounded: an actor blocked in a call cannot take its exit; it is named, not waited for.
  std::vector<named_actor> stage_actors{{"rollout gate", caf::actor_cast<caf::actor>(gate)},
                                        {"learner", caf::actor_cast<caf::actor>(learner)}};
  for (const auto& g : generators) {
    if (g.node.empty()) stage_actors.push_back({g.name, caf::actor_cast<caf::actor>(g.handle)});
  }
  auto still = stop_and_wait(sys, stage_actors, config.supervision.teardown_timeout);
  for (const auto& name : still) {
    log << "teardown: " << name << " did not stop within supervision.teardown_timeout\n";
  }
  if (failure) return *failure;
  return outcome;
}

}  // namespace aha::pipeline
