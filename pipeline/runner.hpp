// runner: the stage pipeline of a run — R1's sft -> grpo -> rejection_sample -> sft -> grpo, or
// any order of those, distill and eval — run in order over one policy (after a distill stage,
// its student). A held-out eval comes before the
// first stage and after each one; each stage checkpoints at its end (its index, name and kind in
// trainer_state.json), so `--resume` continues in the stage the checkpoint names: a finished stage
// is not run again, a GRPO stage resumes at its checkpointed step. Each stage's figures go to
// <run dir>/stages.json as it ends (a resumed run's report keeps the earlier ones). A recipe
// without [[stages]] runs the legacy pipeline: SFT "sft" (when sft.steps > 0) then GRPO "grpo"
// (when grpo.learner.steps > 0) on the run's own services and files, exactly as before pipelines.
// With [[stages]], stage NAME has its own services and files under stages/NAME/.
// Not the topology or the report (actors/controller.hpp). Tested by pipeline/stages.test.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "actors/evaluation.hpp"
#include "pipeline/distill_stage.hpp"
#include "pipeline/grpo_stage.hpp"
#include "pipeline/stage_context.hpp"

namespace aha::pipeline {

// One stage as it will run: its view of the config and where its files go.
struct planned_stage {
  std::string name;
  actors::stage_kind kind = actors::stage_kind::eval;
  run_config config;            // the run's sections overlaid by the stage's (actors::stage_view)
  std::string label;            // its eval's label in the log ("after SFT", "after rl")
  std::string eval_file;        // the held-out samples after it
  std::string examples_file;    // sft: what it trained on (the split audit reads it)
  std::string sft_data;         // sft: its demonstrations file; "" = the dataset's own
  std::string from_stage;       // sft: the rejection_sample or distill stage that wrote sft_data (an empty set skips it)
  std::string reference_dir;    // grpo: the KL reference model
  std::string rejection_output; // rejection_sample, distill: the SFT set it writes
  std::string samples_file;     // rejection_sample, distill: every graded sample
  actors::rejection_config rejection;
  actors::distill_config distill;
  distill_files distilled;      // distill: its files (traces = rejection_output, samples = samples_file)
};

// The stages of `config` (resolved), or the legacy two when it has no [[stages]].
std::vector<planned_stage> plan_stages(const run_config& config);

// What one stage did (report.json "stages": one entry each).
struct stage_report {
  std::string name;
  std::string kind;
  std::uint64_t steps = 0;      // optimizer steps (sft, grpo, the distill student's); samples graded (rejection_sample)
  double wall_seconds = 0;      // the stage's own work, without the eval after it
  double accuracy = 0;          // held-out pass@1 after the stage (distill: the student's)
  double maj_at_k = 0;
  double format_rate = 0;
  double response_chars = 0;    // mean held-out completion length after the stage (characters)
  bool evaluated = false;       // false: the run stopped between the stage's checkpoint and its eval
  nlohmann::json eval = nlohmann::json::object();     // the held-out eval after it (evaluation.hpp)
  nlohmann::json details = nlohmann::json::object();  // rejection statistics, SFT data, GRPO counters,
                                                      // distill: teacher / student / baseline side by side
};
nlohmann::json to_json(const stage_report& stage);
stage_report stage_report_from_json(const nlohmann::json& j);

// Everything the stages need from the run.
struct pipeline_inputs {
  const run_config* config = nullptr;                // the run, resolved
  policy_bundle* bundle = nullptr;
  std::shared_ptr<actors::policy_trainer> trainer;   // a distill stage replaces it (and *bundle) by its student's
  const std::vector<protocol::prompt>* held_out = nullptr;
  actors::metrics_actor metrics;
  std::optional<services> shared;                    // without [[stages]]: the run's services
  std::optional<actors::trainer_state> resumed;      // the checkpoint a resumed run starts from
};

struct pipeline_outcome {
  actors::eval_report initial;                   // before the first stage run (or at the resume)
  std::optional<actors::eval_report> after_sft;  // after the last SFT stage of this process
  actors::eval_report final_eval;                // after the last stage (== initial when none ran)
  std::vector<stage_report> stages;              // every stage of the plan that finished, in order
  std::uint64_t sft_steps = 0;                   // all SFT stages (checkpointed ones included)
  std::uint64_t grpo_steps = 0;                  // this process's GRPO stages together
  double grpo_seconds = 0;                       // their learners' time, together
  std::uint64_t resumed_from_step = 0;           // GRPO step a resumed stage started from
  std::optional<grpo_outcome> last_grpo;         // the last GRPO stage this process ran, summed where counts
  // Grading counters of the per-stage graders (with [[stages]]), summed; the controller adds the shared one's.
  std::uint64_t worker_restarts = 0, requeued = 0, remote_tasks = 0, remote_workers_lost = 0, failures_masked = 0;
  std::uint64_t requeued_unreachable = 0;
  std::vector<std::string> sft_files;            // what the SFT and distill stages trained on (for the split audit)
  std::vector<std::string> replay_dirs;          // the GRPO stages' replay buffers (for the split audit)
};

// The stage index a resumed run starts at, and whether it resumes inside that (GRPO) stage. An
// error when the checkpoint names a stage the recipe does not have there. `legacy` (no
// [[stages]]): the checkpoint's kind decides, as before pipelines.
struct start_point {
  std::size_t index = 0;
  bool inside = false;
};
result<start_point> start_of(const std::vector<planned_stage>& plan, const std::optional<actors::trainer_state>& state,
                             bool legacy);

// Re-opens a GRPO stage's replay buffer and prompt cursor for a resume (groups consumed after the
// checkpoint are trainable again; the cursor agrees with the buffer). No-op when it has none.
// `grpo_step` is the stage's checkpointed step (0 when the checkpoint is not inside it), `version`
// the checkpoint's weight version.
status prepare_resume(const run_config& stage_config, std::uint64_t grpo_step, std::uint64_t version,
                      std::ostream& log);

// Adds the grading counters of `s`'s grader (a stage's own, before it stops, or the run's shared
// one) to `out`.
void add_grading(caf::actor_system& sys, const services& s, pipeline_outcome& out);

// Runs the plan from the start point; the caller owns the services in `shared` and the metrics.
result<pipeline_outcome> run_stages(caf::actor_system& sys, pipeline_inputs inputs, std::ostream& log);

}  // namespace aha::pipeline
