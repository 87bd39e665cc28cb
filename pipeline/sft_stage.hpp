// sft_stage: supervised fine-tuning on demonstrations — the training split's own (the cold start
// of R1), or a JSONL file such as a rejection_sample stage's output ({"task","prompt","gold",
// "completion", optional "language"}, one per line). Examples are drawn in a seeded order, and
// each one trained on is logged to an examples file (actors/run_audit.hpp) for the split audit.
// Tested by pipeline/stages.test.cpp, tests/pipeline.test.cpp and tests/audit.test.cpp.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "actors/tasks/task.hpp"
#include "pipeline/stage_context.hpp"

namespace aha::pipeline {

// Reads an SFT file of demonstrations. Errors name path:line and what is missing; an empty file
// is an error (a stage that trains on nothing is a mistake in the recipe, e.g. a rejection stage
// that kept no completion).
result<std::vector<actors::tasks::task_sample>> read_demonstrations(const std::string& path);

// Where an SFT stage's demonstrations come from.
struct sft_source {
  std::string file;           // JSONL of demonstrations; "" = the training split (config.prompts.dataset)
  std::string examples_file;  // what it trained on, one line per example (the audit reads it)
};

// Takes config.sft.steps steps of config.sft.batch_size demonstrations; returns the steps taken.
result<std::uint64_t> run_sft(const run_config& config, const services& s, policy_bundle& bundle,
                              actors::policy_trainer& trainer, const sft_source& source, std::ostream& log);

}  // namespace aha::pipeline
