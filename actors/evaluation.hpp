// Held-out evaluation as in the R1 paper: k samples per prompt, pass@1 averaged over the k
// samples, unbiased pass@k' for k' <= k (Chen et al. 2021) and maj@k = cons@k (the majority
// answer is right), overall and per task. Greedy decoding is k = 1 at temperature 0.
// Sampling runs on the caller's thread; grading goes through the grader's `score` (nothing is
// stored). With `completions_file` set, every sample is written there as one JSON line (prompt,
// gold, completion, extracted answer, verdict, reward), so anyone can re-grade a run's eval and
// check it against what was trained. Used by the controller after each stage and by `aha eval`;
// both print eval_table(). Tested by evaluation.test.cpp (the scores) and tests/pipeline.test.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

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
  std::vector<std::uint32_t> pass_at;  // k' of the pass@k' reported, each in [1, samples]; empty: {1, samples}
};

// One slice of the eval (all prompts, or one task's): means over its prompts.
struct eval_scores {
  std::uint64_t prompts = 0;
  double pass_at_1 = 0;                        // mean accuracy over prompts x samples
  double maj_at_k = 0;                         // share of prompts whose most common answer is correct (cons@k)
  std::map<std::uint32_t, double> pass_at_k;   // k' -> mean unbiased pass@k' (Chen et al.)
};

struct eval_report {
  double pass_at_1 = 0;      // mean accuracy over prompts x samples
  double maj_at_k = 0;       // share of prompts whose most common answer is correct
  double format_rate = 0;    // share of samples with a full format reward
  std::uint64_t prompts = 0;
  std::uint64_t prompts_unique = 0;  // distinct problems among `prompts` (split.hpp's key)
  std::map<std::string, double> pass_at_1_by_task;
  std::uint32_t samples = 1;         // k
  double temperature = 0;            // the sampling temperature of the k samples
  std::map<std::uint32_t, double> pass_at_k;      // k' -> unbiased pass@k' over all prompts
  std::map<std::string, eval_scores> by_task;     // task -> its scores
};

// Samples and grades `prompts`; a grading failure is an error, never a silent zero.
result<eval_report> evaluate(caf::actor_system& system, grader_actor grader, model::transformer& policy,
                             const model::tokenizer& tokenizer, const std::vector<protocol::prompt>& prompts,
                             const eval_settings& settings);

// One prompt's k verdicts, counted (exposed for tests): the accuracy component's detail is the
// extracted answer that votes; the most common answer wins (ties: the first in answer order).
struct prompt_score {
  std::uint32_t samples = 0;  // n
  std::uint32_t correct = 0;  // c
  bool majority_right = false;
};
prompt_score score_prompt(const std::vector<protocol::reward_verdict>& verdicts);

// Unbiased pass@k of one prompt with n samples of which c are correct (Chen et al. 2021):
// 1 - C(n-c, k) / C(n, k), computed as a product (no factorials, no overflow). Requires k <= n.
double pass_at_k(std::uint32_t n, std::uint32_t c, std::uint32_t k);

// The k' values to report: `requested` (sorted, unique), or {1, samples} when empty. An error
// names a k' outside [1, samples].
result<std::vector<std::uint32_t>> pass_at_values(const std::vector<std::uint32_t>& requested, std::uint32_t samples);

// Adds one scored prompt of `task` to `report` as sums; eval_finish() turns the sums into means.
void eval_add(eval_report& report, const std::string& task, const prompt_score& score,
              const std::vector<std::uint32_t>& pass_at);
void eval_finish(eval_report& report);

// The eval as a table, one row per task and a last row "all", columns prompts, pass@1, pass@k'...,
// maj@k; what the run logs after each stage and `aha eval` prints.
std::string eval_table(const eval_report& report, const std::string& label);

// The eval as report.json and `aha eval` carry it.
nlohmann::json to_json(const eval_report& report);

}  // namespace aha::actors
