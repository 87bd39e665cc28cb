// The math accuracy reward: extracts the final answer from a completion and decides whether it
// is mathematically equal to the gold answer. Pure C++ (GMP for exact rationals), no LibTorch,
// no global mutable state: safe to call from many actors at once. Every check is bounded by
// input length, nesting depth, exponent size and a step/deadline budget.
// Tests: rewards/math_verifier.test.cpp, rewards/math_conformance.test.cpp (shared data set).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace aha::rewards {

// Every policy choice of the verifier, each a documented rule. Defaults follow Math-Verify's
// behaviour where the public test suites agree, and the safer choice where they do not.
struct math_verifier_config {
  // Extraction.
  bool skip_think_block = true;        // text before </think> (or after an unclosed <think>) never holds the answer
  bool require_think_close = false;    // a completion without "</think>" at all → wrong (rllm policy)
  bool require_boxed = false;          // only a \boxed{} answer counts (rllm policy)
  bool fallback_last_number = true;    // no boxed/env/"answer is" form → take the last number
  bool join_adjacent_boxes = true;     // \boxed{1}, \boxed{2} → the list {1, 2}
  int max_join_gap_words = 4;          // at most this many words between boxes that are joined
  // Equivalence.
  int decimal_min_digits = 2;      // a decimal with ≥ this many fraction digits stands for any value
                                   // within 10^-digits (0.33 = 1/3); fewer digits must be exact
  double relative_tolerance = 1e-9;  // for values that are not exact rationals (π, √2, variables)
  int random_trials = 3;           // evaluation points for expressions with free variables
  bool percent_either_way = true;  // 10% equals both 10 and 0.1
  bool strip_units = true;         // "10 cm^2", "\text{ miles}", "\$" are dropped around numbers
  bool imaginary_i = true;         // i and I are the imaginary unit
  bool unordered_lists = true;     // bare lists "1, 2, 3" compare as multisets (tuples keep order)
  bool interval_gold_accepts_inequality = false;  // gold [2,∞) vs pred x ≥ 2 (anti-hacking: off)
  bool assignment_compares_value = true;  // x = 5 vs 5: compare the assigned value only
  // Safety bounds.
  std::uint32_t max_answer_bytes = 4096;  // longer extracted answers are compared as text only
  std::uint32_t max_input_bytes = 1u << 20;  // longer completions are judged wrong immediately (1 MiB)
  int max_depth = 64;                     // nesting depth of the expression parser
  std::uint32_t max_exponent = 4096;      // |n| in exact x^n; larger goes to floating point
  std::uint32_t max_factorial = 3000;     // n in exact n!
  std::uint32_t max_result_bits = 65536;  // exact numbers beyond this size go to floating point
  std::uint32_t max_steps = 200000;       // evaluator steps per check
  double deadline_ms = 50;                // wall-clock budget per check
};

template <class V>
void describe(V& v, math_verifier_config& c) {
  v.field("skip_think_block", c.skip_think_block, "ignore answers inside <think>...</think>");
  v.field("require_think_close", c.require_think_close, "an unclosed <think> scores wrong");
  v.field("require_boxed", c.require_boxed, "only a \\boxed{} answer counts");
  v.field("fallback_last_number", c.fallback_last_number, "no answer form found: use the last number");
  v.field("join_adjacent_boxes", c.join_adjacent_boxes, "several \\boxed{} close together form a list");
  v.field("max_join_gap_words", c.max_join_gap_words, "words allowed between joined boxes");
  v.field("decimal_min_digits", c.decimal_min_digits, "fraction digits from which a decimal is an approximation");
  v.field("relative_tolerance", c.relative_tolerance, "relative tolerance for irrational values");
  v.field("random_trials", c.random_trials, "random evaluation points for symbolic expressions");
  v.field("percent_either_way", c.percent_either_way, "10% equals both 10 and 0.1");
  v.field("strip_units", c.strip_units, "drop units, currency and text around numbers");
  v.field("imaginary_i", c.imaginary_i, "i and I denote the imaginary unit");
  v.field("unordered_lists", c.unordered_lists, "bare answer lists compare as multisets");
  v.field("interval_gold_accepts_inequality", c.interval_gold_accepts_inequality,
          "gold interval may be answered by an inequality");
  v.field("assignment_compares_value", c.assignment_compares_value, "x = 5 matches 5");
  v.field("max_answer_bytes", c.max_answer_bytes, "bytes of an extracted answer that are parsed");
  v.field("max_input_bytes", c.max_input_bytes, "longer completions score wrong");
  v.field("max_depth", c.max_depth, "expression nesting bound");
  v.field("max_exponent", c.max_exponent, "largest exact integer exponent");
  v.field("max_factorial", c.max_factorial, "largest exact factorial argument");
  v.field("max_result_bits", c.max_result_bits, "largest exact number, in bits");
  v.field("max_steps", c.max_steps, "evaluator step budget per check");
  v.field("deadline_ms", c.deadline_ms, "wall-clock budget per check (milliseconds)");
}

struct math_verdict {
  bool correct = false;
  std::string extracted;  // the answer taken from the completion ("" when none was found)
  std::string reason;     // one short phrase: why it is (in)correct, e.g. "equal values"
};

// Judges `completion` (a full model output or a bare answer) against `gold` (bare, $…$ or
// boxed, or a full solution whose last \boxed{} is the answer). Never throws; thread-safe;
// returns within about config.deadline_ms plus a linear scan of the input. `reason` is one of
// "identical answers", "equal exact values", "equal numeric values", "equal at random points",
// "decimal rounds the value", "equivalent relations", "same option", "different values",
// "no answer found", "empty gold answer", "budget exhausted", "input too long", ...
math_verdict verify_math(std::string_view gold, std::string_view completion,
                         const math_verifier_config& config = {});

// The answer string a completion commits to ("" when none). Exposed for the CLI and tests.
std::string extract_answer(std::string_view completion, const math_verifier_config& config = {});

}  // namespace aha::rewards
