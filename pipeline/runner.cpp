// The stage pipeline (pipeline/runner.hpp): plan, start point, the loop over stages.
#include "pipeline/runner.hpp"

#include <fstream>
#include <map>

#include "actors/prompt_source.hpp"
#include "actors/replay_buffer.hpp"
#include "actors/replay_store.hpp"
#include "actors/tasks/dataset.hpp"
#include "core/fault_point.hpp"
#include "pipeline/eval_stage.hpp"
#include "pipeline/rejection_sampling.hpp"
#include "pipeline/sft_stage.hpp"

namespace aha::pipeline {

namespace fs = std::filesystem;
using namespace aha::actors;

namespace {

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


constexpr const char* kStagesFormat = "aha.stages/1";

// <run dir>/stages.json: the finished stages' figures, rewritten (tmp + rename) after each one.
status write_stages_file(const fs::path& dir, const std::vector<stage_report>& stages) {
  nlohmann::json j{{"format", kStagesFormat}, {"stages", nlohmann::json::array()}};
  for (const auto& s : stages) j["stages"].push_back(to_json(s));
  const fs::path tmp = dir / "stages.json.tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump(2) << "\n";
    if (!out.flush()) return make_error(errc::io_error, "cannot write " + tmp.string());
  }
  std::error_code ec;
  fs::rename(tmp, dir / "stages.json", ec);
  if (ec) return make_error(errc::io_error, "cannot replace " + (dir / "stages.json").string() + ": " + ec.message());
  return ok_status();
}

// The entries of stages.json for the first `count` stages of the plan (a resumed run's earlier
// stages). A stage whose entry is missing (the run stopped before its eval) gets a bare one.
result<std::vector<stage_report>> read_stages_file(const fs::path& dir, const std::vector<planned_stage>& plan,
                                                   std::size_t count) {
  std::map<std::string, stage_report> found;
  const fs::path path = dir / "stages.json";
  if (fs::exists(path)) {
    std::ifstream in(path);
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded() || j.value("format", std::string()) != kStagesFormat || !j["stages"].is_array()) {
      return make_error(errc::corrupt_data, path.string() + ": not a stages file of format " + kStagesFormat);
    }
    for (const auto& entry : j["stages"]) found[entry.value("name", std::string())] = stage_report_from_json(entry);
  }
  std::vector<stage_report> out;
  for (std::size_t i = 0; i < count && i < plan.size(); ++i) {
    auto it = found.find(plan[i].name);
    if (it != found.end()) {
      out.push_back(it->second);
    } else {
      stage_report bare;
      bare.name = plan[i].name;
      bare.kind = stage_kind_name(plan[i].kind);
      out.push_back(bare);
    }
  }
  return out;
}

stage_report report_of(const planned_stage& stage, std::uint64_t steps, double seconds, const eval_report& after) {
  stage_report r;
  r.name = stage.name;
  r.kind = stage_kind_name(stage.kind);
  r.steps = steps;
  r.wall_seconds = seconds;
  r.accuracy = after.pass_at_1;
  r.maj_at_k = after.maj_at_k;
  r.format_rate = after.format_rate;
  r.response_chars = mean_completion_chars(stage.eval_file);
  r.evaluated = true;
  r.eval = to_json(after);
  return r;
}


// The checkpoint of a stage's end: the weights after it, with where the pipeline stands.
status save_stage_end(const planned_stage& stage, std::size_t index, const policy_bundle& bundle,
                      policy_trainer& trainer, std::uint64_t sft_steps, std::uint64_t grpo_step,
                      std::uint64_t version) {
  trainer_state state;
  state.stage = stage_kind_name(stage.kind);
  state.sft_steps = sft_steps;
  state.grpo_step = grpo_step;
  state.weight_version = version;
  state.stage_index = static_cast<std::int64_t>(index);
  state.stage_name = stage.name;
  state.stage_done = true;
  return save_run_checkpoint(stage.config, bundle, trainer, state);
}

}  // namespace

void add_grading(caf::actor_system& sys, const services& s, pipeline_outcome& out) {
  auto grading = stats_from<grader_stats>(sys, s.grader, stats_atom::value);
  out.worker_restarts += grading.worker_restarts;
  out.requeued += grading.requeued;
  out.remote_tasks += grading.remote_tasks;
  out.remote_workers_lost += grading.remote_workers_lost;
  out.requeued_unreachable += grading.requeued_unreachable;
  out.failures_masked += grading.grading_failures_masked;
}

std::vector<planned_stage> plan_stages(const run_config& config) {
  const fs::path dir = config.run.dir;
  std::vector<planned_stage> plan;
  if (config.stages.empty()) {
    // The legacy pipeline: the run's own files, named as before stages existed.
    if (config.sft.steps > 0) {
      planned_stage sft;
      sft.name = "sft";
      sft.kind = stage_kind::sft;
      sft.config = config;
      sft.label = "after SFT";
      sft.eval_file = (dir / "eval_after_sft.jsonl").string();
      sft.examples_file = (dir / "sft_examples.jsonl").string();
      plan.push_back(std::move(sft));
    }
    if (config.grpo.learner.steps > 0) {
      planned_stage grpo;
      grpo.name = "grpo";
      grpo.kind = stage_kind::grpo;
      grpo.config = config;
      grpo.label = "after GRPO";
      grpo.eval_file = (dir / "eval_after_grpo.jsonl").string();
      grpo.reference_dir = (dir / "reference").string();
      plan.push_back(std::move(grpo));
    }
    return plan;
  }
  std::map<std::string, std::string> outputs;  // rejection or distill stage name -> its SFT set
  for (std::size_t i = 0; i < config.stages.size(); ++i) {
    const auto& spec = config.stages[i];
    const fs::path folder = dir / "stages" / spec.name;
    planned_stage st;
    st.name = spec.name;
    st.kind = spec.kind;
    st.config = stage_view(config, i);
    st.label = "after " + spec.name;
    st.eval_file = (dir / ("eval_after_" + spec.name + ".jsonl")).string();
    st.examples_file = (folder / "sft_examples.jsonl").string();
    st.reference_dir = (folder / "reference").string();
    st.rejection = spec.rejection;
    st.rejection_output = (dir / (spec.rejection.output.empty() ? spec.name + ".jsonl" : spec.rejection.output)).string();
    st.samples_file = (folder / "samples.jsonl").string();
    if (spec.kind == stage_kind::rejection_sample || spec.kind == stage_kind::distill) outputs[spec.name] = st.rejection_output;
    st.distill = spec.distill;
    st.distilled = {st.rejection_output,
                    st.samples_file,
                    st.examples_file,
                    (folder / "baseline_sft_examples.jsonl").string(),
                    (folder / "eval_teacher.jsonl").string(),
                    (folder / "eval_baseline.jsonl").string(),
                    (folder / "student").string()};
    if (!spec.from_stage.empty()) st.sft_data = outputs[spec.from_stage];
    st.from_stage = spec.from_stage;
    if (!spec.data.empty()) st.sft_data = (fs::path(spec.data).is_absolute() ? fs::path(spec.data) : dir / spec.data).string();
    plan.push_back(std::move(st));
  }
  return plan;
}

result<start_point> start_of(const std::vector<planned_stage>& plan, const std::optional<trainer_state>& state,
                             bool legacy) {
  start_point at;
  if (!state) return at;
  if (legacy || state->stage_index < 0) {
    // Without [[stages]] (or from before them) as always: "sft" = SFT is done, "grpo" = inside GRPO
    // (a finished GRPO stage is entered again: its learner is done at once, its eval runs).
    for (std::size_t i = 0; i < plan.size(); ++i) {
      if (plan[i].name == state->stage) at = {state->stage == "sft" ? i + 1 : i, state->stage == "grpo"};
    }
    if (state->stage == "grpo" && (plan.empty() || plan.back().name != "grpo")) at = {plan.size(), false};
    return at;
  }
  const auto index = static_cast<std::size_t>(state->stage_index);
  if (index >= plan.size() || plan[index].name != state->stage_name) {
    return make_error(errc::invalid_argument,
                      "the checkpoint was taken in stage " + std::to_string(index) + " \"" + state->stage_name +
                          "\", but the recipe's stage " + std::to_string(index) + " is " +
                          (index < plan.size() ? "\"" + plan[index].name + "\"" : std::string("missing")) +
                          ": resume with the recipe the run started with");
  }
  // A GRPO stage's last checkpoint is its learner's at the final step: finished, too.
  const bool grpo_finished = state->stage == "grpo" && state->grpo_step >= plan[index].config.grpo.learner.steps;
  if (state->stage_done || grpo_finished) return start_point{index + 1, false};
  return start_point{index, state->stage == "grpo"};
}

status prepare_resume(const run_config& stage_config, std::uint64_t grpo_step, std::uint64_t version,
                      std::ostream& log) {
  if (auto s = rewind_replay(stage_config, grpo_step, version, log); !s) return s;
  return reconcile_prompt_cursor(stage_config, log);
}

nlohmann::json to_json(const stage_report& s) {
  return {{"name", s.name},
          {"kind", s.kind},
          {"steps", s.steps},
          {"wall_seconds", s.wall_seconds},
          {"accuracy", s.accuracy},
          {"maj_at_k", s.maj_at_k},
          {"format_rate", s.format_rate},
          {"response_chars", s.response_chars},
          {"evaluated", s.evaluated},
          {"eval", s.eval},
          {"details", s.details}};
}

stage_report stage_report_from_json(const nlohmann::json& j) {
  stage_report s;
  s.name = j.value("name", std::string());
  s.kind = j.value("kind", std::string());
  s.steps = j.value("steps", std::uint64_t{0});
  s.wall_seconds = j.value("wall_seconds", 0.0);
  s.accuracy = j.value("accuracy", 0.0);
  s.maj_at_k = j.value("maj_at_k", 0.0);
  s.format_rate = j.value("format_rate", 0.0);
  s.response_chars = j.value("response_chars", 0.0);
  s.evaluated = j.value("evaluated", false);
  s.eval = j.value("eval", nlohmann::json::object());
  s.details = j.value("details", nlohmann::json::object());
  return s;
}

result<pipeline_outcome> run_stages(caf::actor_system& sys, pipeline_inputs in, std::ostream& log) {
  const run_config& config = *in.config;
  const fs::path dir = config.run.dir;
  const bool legacy = in.shared.has_value();  // no [[stages]]: the run's services serve every stage
  auto plan = plan_stages(config);
  auto start = start_of(plan, in.resumed, config.stages.empty());
  if (!start) return start.error();
  pipeline_outcome out;
  const auto& state = in.resumed;
  std::uint64_t version = state ? state->weight_version : 0;
  out.sft_steps = state ? state->sft_steps : 0;
  out.resumed_from_step = start->inside ? state->grpo_step : 0;
  if (state) {
    auto earlier = read_stages_file(dir, plan, start->index);
    if (!earlier) return earlier.error();
    out.stages = std::move(*earlier);
    if (start->index > 0) log << "resume: stages 1.." << start->index << " are done; continuing with "
                              << (start->index < plan.size() ? "\"" + plan[start->index].name + "\"" : std::string("none")) << "\n";
  }
  // A stage's services (with [[stages]]): opened when it starts, stopped when it ends.
  std::optional<services> current = in.shared;
  auto close_stage = [&] {
    if (legacy || !current) return;
    add_grading(sys, *current, out);
    stop_stage_services(sys, *current, config, log);
    current.reset();
  };
  auto open_stage = [&](std::size_t i) -> status {
    if (legacy) return ok_status();
    const auto& st = plan[i];
    if (state && i == start->index && st.kind == stage_kind::grpo) {
      if (auto s = prepare_resume(st.config, out.resumed_from_step, version, log); !s) return s;
    }
    auto s = spawn_services(sys, st.config, in.metrics);
    if (!s) return s.error();
    current = *s;
    if (in.metrics) caf::anon_send(in.metrics, gauge_atom::value, metric_map{{"pipeline/stage", static_cast<double>(i)}});
    log << "stage " << i + 1 << "/" << plan.size() << " \"" << st.name << "\" (" << stage_kind_name(st.kind) << ")\n";
    return ok_status();
  };
  auto fail = [&](const aha::error& e) -> result<pipeline_outcome> {
    close_stage();
    return e;
  };

  // 1. The held-out eval before the first stage to run (labelled "resumed" after a restart).
  const std::size_t first = plan.empty() ? 0 : std::min(start->index, plan.size() - 1);
  const run_config& first_config = plan.empty() ? config : plan[first].config;
  if (!legacy) {
    if (auto opened = open_stage(first); !opened) return fail(opened.error());
  }
  const std::string label = state ? "resumed" : "initial";
  auto initial = run_eval(sys, *current, *in.bundle, *in.held_out, first_config, label,
                          (dir / ("eval_" + label + ".jsonl")).string(), log);
  if (!initial) return fail(initial.error());
  out.initial = out.final_eval = *initial;
  bool first_open = !legacy && first == start->index;
  if (!legacy && !first_open) close_stage();  // every stage was done: only the eval ran

  // 2. Each stage: its work, its checkpoint, its eval, its entry in stages.json.
  auto& bundle = *in.bundle;
  policy_trainer* trainer = in.trainer.get();  // a distill stage swaps in its student's
  for (std::size_t i = start->index; i < plan.size(); ++i) {
    const auto& st = plan[i];
    if (!legacy && !first_open) {
      if (auto opened = open_stage(i); !opened) return fail(opened.error());
    }
    first_open = false;
    auto started = clock_type::now();
    std::error_code ec;
    std::uint64_t steps = 0;
    nlohmann::json details = nlohmann::json::object();
    std::optional<distill_result> distilled;
    if (st.kind == stage_kind::sft && !st.from_stage.empty() && fs::file_size(st.sft_data, ec) == 0) {
      // Rejection sampling kept nothing: an outcome of the run, not a broken recipe. Nothing to train.
      log << "sft: stage \"" << st.from_stage << "\" kept no completion (" << st.sft_data << "): \"" << st.name
          << "\" trains nothing\n";
      details = {{"data", st.sft_data}, {"skipped", "the sampled set is empty"}};
      if (auto saved = save_stage_end(st, i, bundle, *trainer, out.sft_steps, 0, version); !saved) return fail(saved.error());
    } else if (st.kind == stage_kind::sft) {
      trainer->begin_stage(sft_trainer_config(st.config));
      auto taken = run_sft(st.config, *current, bundle, *trainer, {st.sft_data, st.examples_file}, log);
      if (!taken) return fail(taken.error());
      steps = *taken;
      out.sft_steps += steps;
      out.sft_files.push_back(st.examples_file);
      details = {{"data", st.sft_data.empty() ? std::string("the training split") : st.sft_data},
                 {"examples_file", st.examples_file}};
      if (auto saved = save_stage_end(st, i, bundle, *trainer, out.sft_steps, 0, version); !saved) return fail(saved.error());
    } else if (st.kind == stage_kind::grpo) {
      const bool inside = start->inside && i == start->index;
      grpo_start gs;
      gs.first_step = inside ? state->grpo_step : 0;
      gs.weight_version = version;
      gs.resumed = inside;
      gs.reference_dir = st.reference_dir;
      gs.checkpoint.stage = "grpo";
      gs.checkpoint.sft_steps = out.sft_steps;
      gs.checkpoint.stage_index = static_cast<std::int64_t>(i);
      gs.checkpoint.stage_name = st.name;
      if (auto begun = begin_grpo(st.config, gs, *trainer); !begun) return fail(begun.error());
      auto outcome = run_grpo(sys, st.config, *current, bundle, in.trainer, gs, log);
      if (!outcome) return fail(outcome.error());
      steps = outcome->steps;
      out.grpo_steps += outcome->steps;
      out.grpo_seconds += outcome->seconds;
      out.last_grpo = *outcome;
      out.replay_dirs.push_back((dir / st.config.replay.dir).string());
      // The weights' version after the stage is the learner's, in its last checkpoint.
      auto saved = read_trainer_state(checkpoint_dir(config).string());
      if (saved && *saved && (*saved)->stage_name == st.name) version = (*saved)->weight_version;
      details = {{"learner_idle_fraction", outcome->learner_idle_fraction},
                 {"rollouts_consumed", outcome->rollouts_consumed},
                 {"rollouts_per_second",
                  outcome->seconds > 0 ? static_cast<double>(outcome->rollouts_consumed) / outcome->seconds : 0.0},
                 {"dropped_stale", outcome->dropped_stale},
                 {"generator_restarts", outcome->generator_restarts},
                 {"weight_version", version},
                 {"resumed_from_step", gs.first_step}};
    } else if (st.kind == stage_kind::rejection_sample) {
      auto stats = run_rejection_sampling(sys, st.config, *current, bundle, st.rejection, st.rejection_output,
                                          st.samples_file, log);
      if (!stats) return fail(stats.error());
      steps = stats->sampled;
      details = to_json(*stats);
      if (auto saved = save_stage_end(st, i, bundle, *trainer, out.sft_steps, 0, version); !saved) return fail(saved.error());
    } else if (st.kind == stage_kind::distill) {
      auto made = run_distill(sys, st.config, *current, bundle, st.distill, st.rejection, st.distilled, st.name,
                              *in.held_out, log);
      if (!made) return fail(made.error());
      steps = made->steps;
      out.sft_steps += steps;
      out.sft_files.push_back(st.distilled.traces);
      out.sft_files.push_back(st.distilled.examples);
      if (made->baseline) out.sft_files.push_back(st.distilled.baseline_examples);
      // From here on the policy is the student: the stages after this one train it, the
      // checkpoint holds it (a resume loads it: pipeline::policy_model).
      bundle = made->student;
      in.trainer = made->trainer;
      trainer = in.trainer.get();
      if (auto saved = save_stage_end(st, i, bundle, *trainer, out.sft_steps, 0, version); !saved) return fail(saved.error());
      distilled = std::move(*made);
    } else {
      if (auto saved = save_stage_end(st, i, bundle, *trainer, out.sft_steps, 0, version); !saved) return fail(saved.error());
    }
    const double seconds = seconds_since(started);
    auto after = run_eval(sys, *current, bundle, *in.held_out, st.config, st.label, st.eval_file, log);
    if (!after) return fail(after.error());
    if (st.kind == stage_kind::sft) out.after_sft = *after;
    if (distilled) {  // the eval after the stage is the student's: side by side with the teacher and the baseline
      details = distill_details(*distilled, st.distill, st.distilled, *after);
      log << distill_summary(st.name, *distilled, *after) << "\n";
    }
    out.final_eval = *after;
    auto entry = report_of(st, steps, seconds, *after);
    entry.details = std::move(details);
    out.stages.push_back(std::move(entry));
    if (auto written = write_stages_file(dir, out.stages); !written) return fail(written.error());
    close_stage();
    try {
      AHA_FAULT_POINT("pipeline.between_stages");  // tests: the run stops here, as a kill between stages would
    } catch (const std::exception& e) {
      return make_error(errc::internal, std::string("stopped after stage \"") + st.name + "\": " + e.what());
    }
  }
  // 3. What every stage trained on, for the audit: this process's stages and the earlier ones'.
  for (std::size_t i = 0; i < plan.size(); ++i) {
    const auto& st = plan[i];
    if (st.kind == stage_kind::sft && i < start->index) out.sft_files.push_back(st.examples_file);
    if (st.kind == stage_kind::distill && i < start->index) {
      for (const auto& file : {st.distilled.traces, st.distilled.examples, st.distilled.baseline_examples}) {
        if (fs::exists(file)) out.sft_files.push_back(file);
      }
    }
    if (st.kind == stage_kind::grpo && i < start->index) out.replay_dirs.push_back((dir / st.config.replay.dir).string());
  }
  return out;
}

}  // namespace aha::pipeline
