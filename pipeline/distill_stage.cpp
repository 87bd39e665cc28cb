// One distill stage (pipeline/distill_stage.hpp).
#include "pipeline/distill_stage.hpp"

#include <iomanip>
#include <sstream>

#include "actors/checkpoint.hpp"
#include "pipeline/eval_stage.hpp"
#include "pipeline/sft_stage.hpp"

namespace aha::pipeline {

using namespace aha::actors;

namespace {

// The teacher: the run's policy as it stands, or a model of its own on the run's device.
result<policy_bundle> teacher_of(const run_config& config, const distill_config& settings, policy_bundle& policy) {
  if (settings.teacher.empty()) return policy;
  model_section section = config.model;
  section.path = settings.teacher;
  auto teacher = load_model(section, config.run.seed);
  if (!teacher) return make_error(teacher.error().code, "distill.teacher = \"" + settings.teacher + "\": " + teacher.error().message);
  return teacher;
}

// A fresh student and its trainer. The same seed gives the student and the baseline the same
// initial weights, so the two differ only in what they were trained on.
struct trainee {
  policy_bundle bundle;
  std::shared_ptr<policy_trainer> trainer;
};
result<trainee> fresh_student(const run_config& config, const distill_config& settings) {
  auto student = load_model(settings.student, config.run.seed);
  if (!student) return make_error(student.error().code, "distill.student: " + student.error().message);
  trainee out;
  out.bundle = *student;
  out.trainer = std::make_shared<policy_trainer>(out.bundle.policy, sft_trainer_config(config), out.bundle.tokenizer->pad_id());
  return out;
}

// The student as the stage left it, kept apart from the run's checkpoint (later stages replace that).
status save_student(const std::string& dir, trainee& student, std::uint64_t steps, const std::string& stage_name) {
  checkpoint_parts parts;
  parts.policy = &student.trainer->policy();
  parts.optimizer = &student.trainer->optimizer();
  parts.tokenizer = student.bundle.tokenizer.get();
  parts.tokenizer_from = student.bundle.source;
  trainer_state state;
  state.stage = stage_kind_name(stage_kind::distill);
  state.sft_steps = steps;
  state.stage_name = stage_name;
  state.stage_done = true;
  return save_checkpoint(dir, parts, state);
}

std::string model_name(const model_section& m) { return m.path.empty() ? "builtin " + m.builtin : m.path; }

nlohmann::json scores(const eval_report& e) {
  return {{"accuracy", e.pass_at_1}, {"maj_at_k", e.maj_at_k}, {"format_rate", e.format_rate}};
}

}  // namespace

result<distill_result> run_distill(caf::actor_system& sys, const run_config& config, const services& s,
                                   policy_bundle& policy, const distill_config& settings,
                                   const rejection_config& sampling, const distill_files& files,
                                   const std::string& stage_name, const std::vector<protocol::prompt>& held_out,
                                   std::ostream& log) {
  distill_result out;
  out.teacher = settings.teacher.empty() ? "the run's policy" : settings.teacher;
  // 1. The teacher's traces, verified and filtered as rejection sampling does.
  auto teacher = teacher_of(config, settings, policy);
  if (!teacher) return teacher.error();
  log << "distill: teacher " << out.teacher << " (" << model::parameter_count(teacher->policy->config())
      << " parameters), student " << model_name(settings.student) << "\n";
  auto traces = run_rejection_sampling(sys, config, s, *teacher, sampling, files.traces, files.samples, log);
  if (!traces) return traces.error();
  out.traces = *traces;
  if (traces->kept == 0) {
    return make_error(errc::invalid_argument,
                      "distill: no trace of the teacher passed (" + std::to_string(traces->correct) + " of " +
                          std::to_string(traces->sampled) + " correct; see " + files.samples +
                          "): the student would train on nothing; train the teacher longer, or raise "
                          "rejection.samples / rejection.prompts, or loosen the filters");
  }
  // 2. The teacher on the held-out prompts.
  auto teacher_eval = run_eval(sys, s, *teacher, held_out, config, "teacher of " + stage_name, files.teacher_eval, log);
  if (!teacher_eval) return teacher_eval.error();
  out.teacher_eval = *teacher_eval;
  // 3. The student: fresh weights, SFT on the traces (re-tokenized by its own tokenizer), saved.
  auto student = fresh_student(config, settings);
  if (!student) return student.error();
  out.student_parameters = model::parameter_count(student->bundle.policy->config());
  auto steps = run_sft(config, s, student->bundle, *student->trainer, {files.traces, files.examples}, log);
  if (!steps) return steps.error();
  out.steps = *steps;
  if (auto saved = save_student(files.student_checkpoint, *student, out.steps, stage_name); !saved) return saved.error();
  // 4. The baseline: the same student, as many SFT steps on the training split's demonstrations.
  if (settings.baseline) {
    auto baseline = fresh_student(config, settings);
    if (!baseline) return baseline.error();
    services quiet = s;
    quiet.metrics = metrics_actor();  // its SFT losses would mix with the student's under the same keys
    auto taken = run_sft(config, quiet, baseline->bundle, *baseline->trainer, {"", files.baseline_examples}, log);
    if (!taken) return make_error(taken.error().code, "distill.baseline: " + taken.error().message);
    auto evaluated = run_eval(sys, s, baseline->bundle, held_out, config, "baseline of " + stage_name,
                              files.baseline_eval, log);
    if (!evaluated) return evaluated.error();
    out.baseline = *evaluated;
  }
  out.student = student->bundle;
  out.trainer = student->trainer;
  return out;
}

nlohmann::json distill_details(const distill_result& r, const distill_config& settings, const distill_files& files,
                               const eval_report& student) {
  nlohmann::json j;
  j["teacher"] = scores(r.teacher_eval);
  j["teacher"]["model"] = r.teacher;
  j["teacher"]["eval_file"] = files.teacher_eval;
  j["student"] = scores(student);
  j["student"]["model"] = model_name(settings.student);
  j["student"]["parameters"] = r.student_parameters;
  j["student"]["steps"] = r.steps;
  j["student"]["examples_file"] = files.examples;
  j["student"]["checkpoint"] = files.student_checkpoint;
  if (r.baseline) {
    j["baseline"] = scores(*r.baseline);
    j["baseline"]["data"] = "the training split's demonstrations";
    j["baseline"]["steps"] = r.steps;
    j["baseline"]["examples_file"] = files.baseline_examples;
    j["baseline"]["eval_file"] = files.baseline_eval;
  } else {
    j["baseline"] = nullptr;
  }
  j["traces"] = to_json(r.traces);
  return j;
}

std::string distill_summary(const std::string& stage_name, const distill_result& r, const eval_report& student) {
  std::ostringstream line;
  line << std::fixed << std::setprecision(3) << "distill " << stage_name << ": held-out pass@1 teacher "
       << r.teacher_eval.pass_at_1 << ", student " << student.pass_at_1;
  if (r.baseline) line << ", baseline (SFT on the demonstrations, " << r.steps << " steps) " << r.baseline->pass_at_1;
  line << " (student trained on " << r.traces.kept << " verified traces)";
  return line.str();
}

}  // namespace aha::pipeline
