// Held-out evaluation as in the R1 paper: k samples per prompt, pass@1 averaged over the k
// samples, and maj@k (the majority answer is right). Greedy decoding is k = 1 at temperature 0.
// Sampling runs on the caller's thread; grading goes through the grader's `score` (nothing is
// stored). With `completions_file` set, every sample is written there as one JSON line (prompt,
// gold, completion, extracted answer, verdict, reward), so anyone can re-grade a run's eval and
// check it against what was trained. Used by the controller after each stage and by `aha eval`.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/interfaces.hpp"
#include "model/tokenizer.hpp"
#include "model/transformer.hpp"
#include "protocol/messages.hpp"

namespace aha::actors {

struct eval_settings {
  std::uint32_t samples = 1;        // k
  double temperature = 0.0;         // 0 = greedy
  std::uint32_t max_new_tokens = 48;
  std::vector<std::string> stop_strings{"</answer>"};
  std::uint32_t batch_prompts = 32;  // prompts sampled together
  std::uint64_t seed = 0;
  std::string completions_file;      // JSONL of every graded sample; "" writes none
};

struct eval_report {
  double pass_at_1 = 0;      // mean accuracy over prompts x samples
  double maj_at_k = 0;       // share of prompts whose most common answer is correct
  double format_rate = 0;    // share of samples with a full format reward
  std::uint64_t prompts = 0;
  std::uint64_t prompts_unique = 0;  // distinct problems among `prompts` (split.hpp's key)
  std::map<std::string, double> pass_at_1_by_task;
};

// Samples and grades `prompts`; a grading failure is an error, never a silent zero.
result<eval_report> evaluate(caf::actor_system& system, grader_actor grader, model::transformer& policy,
                             const model::tokenizer& tokenizer, const std::vector<protocol::prompt>& prompts,
                             const eval_settings& settings);

// pass@1 and maj@k of one prompt's verdicts (exposed for tests): the accuracy component's detail
// is the extracted answer that votes.
std::pair<double, bool> score_prompt(const std::vector<protocol::reward_verdict>& verdicts);

}  // namespace aha::actors
