// distill_stage: R1's distillation. A teacher (the run's current policy, or any model folder, aha
// checkpoint or GGUF file) samples k traces per training prompt; the stage's grader and the
// readability filters keep the verified ones (the same mechanism as rejection_sample:
// run_rejection_sampling writes them as a JSONL SFT set with acceptance statistics); a student
// (a built-in model from fresh weights or a model folder from its own; possibly another size or
// another tokenizer: traces move as text and its tokenizer re-tokenizes them) is SFT-trained on
// them. The student becomes the run's policy for the stages after it (the runner swaps it in; its
// checkpoint is the stage's, and a copy stays in stages/<name>/student/). Beside it the teacher
// and a baseline (the same student, same initial weights, SFT on the training split's
// demonstrations for as many steps) are evaluated on the run's held-out prompts.
// Tested by pipeline/distill.test.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/evaluation.hpp"
#include "pipeline/rejection_sampling.hpp"
#include "pipeline/stage_context.hpp"

namespace aha::pipeline {

// Where a distill stage's files go (plan_stages fills them: the SFT set in the run directory,
// the rest in stages/<name>/).
struct distill_files {
  std::string traces;             // the verified traces: the student's SFT set
  std::string samples;            // every graded teacher sample
  std::string examples;           // what the student trained on (the split audit reads it)
  std::string baseline_examples;  // what the baseline trained on (audited too)
  std::string teacher_eval;       // the teacher's held-out samples
  std::string baseline_eval;      // the baseline's held-out samples
  std::string student_checkpoint; // the student as the stage left it (a model folder `aha eval` reads)
};

struct distill_result {
  rejection_stats traces;
  std::string teacher;                          // "the run's policy" or the teacher's path
  actors::eval_report teacher_eval;
  std::optional<actors::eval_report> baseline;  // when distill.baseline
  std::uint64_t steps = 0;                      // the student's SFT steps (the baseline's too)
  std::int64_t student_parameters = 0;
  policy_bundle student;                        // the new policy
  std::shared_ptr<actors::policy_trainer> trainer;  // its trainer (the stage checkpoint's optimizer)
};

// Runs the stage: traces, teacher eval, student SFT and checkpoint, baseline SFT and eval. The
// student's own held-out eval is the runner's eval after the stage. An error when the teacher
// cannot be loaded or no trace passes (the student would train on nothing).
result<distill_result> run_distill(caf::actor_system& sys, const run_config& config, const services& s,
                                   policy_bundle& policy, const actors::distill_config& settings,
                                   const actors::rejection_config& sampling, const distill_files& files,
                                   const std::string& stage_name, const std::vector<protocol::prompt>& held_out,
                                   std::ostream& log);

// The stage entry's details: teacher, student and baseline side by side (held-out pass@1, maj@k,
// format rate) and the traces' acceptance statistics; `student` is the eval after the stage.
nlohmann::json distill_details(const distill_result& r, const actors::distill_config& settings,
                               const distill_files& files, const actors::eval_report& student);

// One log line: "distill NAME: held-out pass@1 teacher X, student Y, baseline Z".
std::string distill_summary(const std::string& stage_name, const distill_result& r, const actors::eval_report& student);

}  // namespace aha::pipeline
