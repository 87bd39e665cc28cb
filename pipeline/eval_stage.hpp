// eval_stage: the held-out evaluation the pipeline runs before the first stage and after each
// one (and an `eval` stage's whole work): pass@1 over k samples, pass@k', maj@k, per task, every
// sample written to a JSONL file (actors/evaluation.hpp). Tested by tests/pipeline.test.cpp and
// pipeline/stages.test.cpp.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "actors/evaluation.hpp"
#include "pipeline/stage_context.hpp"

namespace aha::pipeline {

// Evaluates the policy on `held_out` under config.eval; logs the table labelled `label`.
result<actors::eval_report> run_eval(caf::actor_system& sys, const services& s, policy_bundle& bundle,
                                     const std::vector<protocol::prompt>& held_out, const run_config& config,
                                     const std::string& label, const std::string& completions_file, std::ostream& log);

// Mean length in characters of the completions in an eval's JSONL file (0 when it has none):
// the response length R1 watches, measured on held-out prompts.
double mean_completion_chars(const std::string& completions_file);

}  // namespace aha::pipeline
