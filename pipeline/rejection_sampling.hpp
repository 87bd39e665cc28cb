// rejection_sampling: R1's third stage. k completions per training prompt are sampled from the
// current policy (temperature > 0) and graded by the stage's grader (the reward actors GRPO
// uses); a completion is kept when the grader finds it correct and it is readable — the format
// reward passes (strict: <think>…</think><answer>…</answer>, nothing else), its language
// consistency reaches rejection.min_language (no words outside the prompt's script), it is at most
// rejection.max_chars long — and it differs from those already kept for its prompt, at most
// rejection.keep per prompt. The kept ones become an SFT set in the run directory, one JSON line
// each: {"task","prompt","gold","language","completion","sample","reward","components"}.
// Every sample (kept or not) stays in stages/<name>/samples.jsonl. Tested by pipeline/stages.test.cpp.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "pipeline/stage_context.hpp"

namespace aha::pipeline {

// Acceptance statistics (report.json's stage entry: "rejection").
struct rejection_stats {
  std::uint64_t prompts = 0;             // training prompts sampled
  std::uint64_t sampled = 0;             // completions sampled (prompts x k)
  std::uint64_t correct = 0;             // graded correct by the grader
  std::uint64_t failed_format = 0;       // correct, but the format reward did not pass
  std::uint64_t failed_language = 0;     // correct and formatted, but below min_language
  std::uint64_t failed_length = 0;       // correct and readable, but longer than max_chars
  std::uint64_t duplicates = 0;          // readable, but the same text as one already kept for its prompt
  std::uint64_t over_keep = 0;           // readable and new, but its prompt already had `keep`
  std::uint64_t kept = 0;                // written to the SFT set
  std::uint64_t prompts_with_kept = 0;   // prompts with at least one kept completion
  std::string file;                      // the SFT set (absolute or relative to the working directory)
};
nlohmann::json to_json(const rejection_stats& stats);

// Why one correct sample is kept or not (exposed for tests): its readability checks.
struct readability {
  bool format = false;
  bool language = false;
  bool length = false;
  bool readable() const { return format && language && length; }
};
readability check_readability(const std::string& completion, const std::string& language,
                              const actors::rejection_config& settings, const std::string& format_mode);

// Samples, grades and filters; writes `output` (the SFT set) and `samples_file` (every sample).
result<rejection_stats> run_rejection_sampling(caf::actor_system& sys, const run_config& config, const services& s,
                                               policy_bundle& bundle, const actors::rejection_config& settings,
                                               const std::string& output, const std::string& samples_file,
                                               std::ostream& log);

}  // namespace aha::pipeline
