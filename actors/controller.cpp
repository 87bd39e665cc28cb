// The training run (actors/controller.hpp): run directory, policy, services, the stage pipeline, audit, report.
#include "actors/controller.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "actors/checkpoint.hpp"
#include "actors/grader.hpp"
#include "actors/metrics.hpp"
#include "actors/run_audit.hpp"
#include "actors/supervision/teardown.hpp"
#include "actors/tasks/dataset.hpp"
#include "model/hf_checkpoint.hpp"
#include "model/runtime.hpp"
#include "pipeline/eval_stage.hpp"
#include "pipeline/runner.hpp"
#include "report/run_report.hpp"

namespace aha::actors {
namespace {

namespace fs = std::filesystem;
using pipeline::checkpoint_dir;
using pipeline::clock_type;
using pipeline::kRequestTimeout;
using pipeline::policy_bundle;
using pipeline::resume_point;
using pipeline::seconds_since;
using pipeline::services;

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
      log << "resume: checkpoint after " << point.state->stage
          << (point.state->stage_name.empty() ? "" : " stage \"" + point.state->stage_name + "\"") << " (SFT steps " << point.state->sft_steps
          << ", GRPO step " << point.grpo_step() << ", weight version " << point.weight_version() << ")\n";
    } else {
      log << "resume: " << dir.string() << " has no checkpoint yet; the stages start over, its rollouts are kept\n";
    }
    // Without [[stages]] the run's one replay buffer and cursor are re-opened here, before its
    // services start; a pipeline re-opens those of the stage it resumes in (pipeline/runner.hpp).
    if (config.stages.empty()) {
      if (auto s = pipeline::prepare_resume(config, point.grpo_step(), point.weight_version(), log); !s) return s.error();
    }
  } else if (config.run.resume) {
    log << "resume: " << dir.string() << " holds no run; starting a new one\n";
  }
  fs::create_directories(dir, ec);
  if (ec) return make_error(errc::io_error, dir.string() + ": cannot create the run directory: " + ec.message());
  return point;
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

// The grader's and the cluster's counters, for report.json: the run's grader (without [[stages]])
// and the stages' own, summed by the pipeline.
void count_grading(caf::actor_system& sys, const std::optional<services>& shared, pipeline::pipeline_outcome p,
                   train_report& report) {
  if (shared) pipeline::add_grading(sys, *shared, p);
  report.reward_worker_restarts = p.worker_restarts;
  report.reward_tasks_requeued = p.requeued;
  report.remote_tasks = p.remote_tasks;
  report.remote_workers_lost = p.remote_workers_lost;
  report.remote_requeued_unreachable = p.requeued_unreachable;
  report.grading_failures_masked = p.failures_masked;
  if (!shared || !shared->cluster.registry) return;
  auto cluster = stats_of(sys, shared->cluster);
  report.nodes_joined = cluster.joined;
  report.nodes_lost = cluster.lost;
  report.nodes_refused = cluster.refused;
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
// from its artifacts (measured, not assumed): every SFT stage's examples and every GRPO stage's
// consumed groups.
status audit_split(const evaluation_set& held_out, const pipeline::pipeline_outcome& stages, train_report& report,
                   std::ostream& log) {
  trained_problems trained;
  auto add = [&](const std::string& sft_file, const std::string& replay_dir) -> status {
    auto part = read_trained_problems(sft_file, replay_dir);
    if (!part) return part.error();
    trained.keys.insert(part->keys.begin(), part->keys.end());
    trained.sft_examples += part->sft_examples;
    trained.grpo_groups += part->grpo_groups;
    return ok_status();
  };
  for (const auto& file : stages.sft_files) {
    if (auto s = add(file, ""); !s) return s;
  }
  for (const auto& replay : stages.replay_dirs) {
    if (auto s = add("", replay); !s) return s;
  }
  report.eval_prompts = held_out.prompts.size();
  report.eval_prompts_unique = report.initial.prompts_unique;
  report.eval_duplicates_dropped = held_out.duplicates_dropped;
  report.eval_train_overlap_dropped = held_out.train_overlap_dropped;
  report.trained_problems_unique = trained.keys.size();
  report.audited_sft_examples = trained.sft_examples;
  report.audited_grpo_groups = trained.grpo_groups;
  report.train_eval_overlap = count_overlap(held_out.prompts, trained);
  log << "split audit: " << report.eval_prompts_unique << " distinct held-out prompts, " << report.train_eval_overlap
      << " of them trained on (" << trained.keys.size() << " distinct problems in " << trained.sft_examples
      << " SFT examples and " << trained.grpo_groups << " consumed groups)\n";
  return ok_status();
}

// Stops the run's services (metrics, and without [[stages]] the shared ones); one that does not
// stop within supervision.teardown_timeout is named.
void stop_services(caf::actor_system& sys, const std::optional<services>& shared, const metrics_actor& metrics,
                   const run_config& config, std::ostream& log) {
  if (shared) close_cluster(sys, shared->cluster);  // nodes hear that the run is over before their workers go quiet
  caf::scoped_actor self{sys};
  if (metrics) {
    self->request(metrics, std::chrono::seconds(30), caf::flush_atom::value)
        .receive([](caf::ok_atom) {}, [](caf::error&) {});
  }
  std::vector<named_actor> actors;
  if (shared) {
    actors = {{"grader", caf::actor_cast<caf::actor>(shared->grader)},
              {"prompt source", caf::actor_cast<caf::actor>(shared->prompts)},
              {"replay buffer", caf::actor_cast<caf::actor>(shared->replay)}};
  }
  actors.push_back({"metrics", caf::actor_cast<caf::actor>(metrics)});
  auto still = stop_and_wait(sys, actors, config.supervision.teardown_timeout);
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

// The report's figures from the pipeline: the evals R1 names (before, after SFT, at the end), the
// stages' steps and seconds, and the last GRPO stage's counters.
void fill_report(const pipeline::pipeline_outcome& p, train_report& report) {
  report.initial = p.initial;
  report.after_sft = p.after_sft.value_or(p.initial);
  report.after_grpo = p.final_eval;
  report.sft_steps = p.sft_steps;
  report.grpo_steps = p.grpo_steps;
  report.resumed_from_step = p.resumed_from_step;
  report.stages = p.stages;
  report.grpo_seconds = p.grpo_seconds;
  for (const auto& s : p.stages) {
    if (s.kind == "sft") report.sft_seconds += s.wall_seconds;
  }
  if (!p.last_grpo) return;
  const auto& g = *p.last_grpo;
  report.learner_idle_fraction = g.learner_idle_fraction;
  report.generator_restarts = g.generator_restarts;
  report.stalls = g.stalls;
  report.stall_restarts = g.stall_restarts;
  report.prompts_requeued = g.prompts_requeued;
  report.rollouts_consumed = g.rollouts_consumed;
  report.rollouts_per_second = g.seconds > 0 ? static_cast<double>(g.rollouts_consumed) / g.seconds : 0;
  report.dropped_stale = g.dropped_stale;
  report.gate = g.gate;
  report.nodes = g.nodes;
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
  auto& nodes = j["cluster"]["nodes"] = nlohmann::json::object();
  for (const auto& [name, n] : r.nodes) {
    nodes[name] = {{"generators", n.generators},         {"rollouts", n.rollouts},
                   {"weight_versions", n.weight_versions}, {"weight_bytes", n.weight_bytes},
                   {"full_versions", n.full_versions},     {"delta_versions", n.delta_versions},
                   {"resyncs", n.resyncs},                 {"ms_per_version", n.ms_per_version}};
  }
  j["stages"] = nlohmann::json::array();
  for (const auto& s : r.stages) j["stages"].push_back(pipeline::to_json(s));
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
  // After a distill stage the policy is its student (pipeline/distill_stage.hpp): another model.
  auto bundle = pipeline::load_model(pipeline::policy_model(config, resumed->state), config.run.seed);
  if (!bundle) return bundle.error();
  if (resumed->state) {
    if (auto s = model::load_weights(bundle->policy, checkpoint_dir(config).string()); !s) return s.error();
  }
  log << "policy: " << model::parameter_count(bundle->policy->config()) << " parameters, vocabulary "
      << bundle->tokenizer->vocab_size() << "\n";

  // 3. The actor system, the metrics, and without [[stages]] the services every stage shares
  //    (a pipeline's stages open their own).
  auto caf_config = system_config(config);
  // The system's destructor waits for every actor: bounded, so a blocked one cannot hang the exit.
  teardown_deadline teardown(config.supervision.teardown_timeout);
  caf::actor_system sys{caf_config};
  auto teardown_armed = teardown.arm();
  auto metrics = spawn_metrics(sys, config.metrics, (dir / "metrics.jsonl").string());
  if (!metrics) return metrics.error();
  std::optional<services> shared;
  train_report report;
  report.run_dir = dir.string();
  auto shutdown = [&](std::optional<aha::error> failure) -> result<train_report> {
    stop_services(sys, shared, *metrics, config, log);
    if (failure) return *failure;
    return report;
  };
  if (config.stages.empty()) {
    auto s = pipeline::spawn_services(sys, config, *metrics);
    if (!s) return shutdown(s.error());
    shared = *s;
  }
  auto held_out = held_out_prompts(config);
  if (!held_out) return shutdown(held_out.error());
  if (!config.cluster.listen.empty()) {
    if (auto opened = open_cluster_door(sys, config, *shared, log); !opened) return shutdown(opened.error());
  }

  // 4. The stages (pipeline/runner.hpp): an eval, then each stage with its checkpoint and eval.
  pipeline::pipeline_inputs inputs;
  inputs.config = &config;
  inputs.bundle = &*bundle;
  inputs.trainer = std::make_shared<policy_trainer>(bundle->policy, pipeline::sft_trainer_config(config),
                                                    bundle->tokenizer->pad_id());
  inputs.held_out = &held_out->prompts;
  inputs.metrics = *metrics;
  inputs.shared = shared;
  inputs.resumed = resumed->state;
  auto stages = pipeline::run_stages(sys, inputs, log);
  if (!stages) return shutdown(stages.error());
  fill_report(*stages, report);

  // 5. The split audit and the report.
  if (auto audited = audit_split(*held_out, *stages, report, log); !audited) return shutdown(audited.error());
  count_grading(sys, shared, *stages, report);
  report.wall_seconds = seconds_since(wall_start);
  write_report(report, dir, log);
  return shutdown(std::nullopt);
}

result<eval_report> run_evaluation(run_config config, const std::string& checkpoint, std::ostream& log) {
  resolve(config);
  config.model.path = checkpoint;
  model::set_threads(static_cast<int>(config.run.threads));
  auto bundle = pipeline::load_model(config.model, config.run.seed);
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
  auto metrics = spawn_metrics(sys, config.metrics, (fs::path(config.run.dir) / "metrics.jsonl").string());
  if (!metrics) return metrics.error();
  std::optional<services> shared;
  auto s = pipeline::spawn_services(sys, config, *metrics);
  if (s) shared = *s;
  auto report = s ? pipeline::run_eval(sys, *s, *bundle, held_out->prompts, config, checkpoint, "", log)
                  : result<eval_report>(s.error());
  stop_services(sys, shared, *metrics, config, log);
  std::error_code ignored;
  fs::remove_all(config.run.dir, ignored);
  return report;
}

}  // namespace aha::actors
