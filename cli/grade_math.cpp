// `aha grade math --input FILE.jsonl`: one verdict line per input line, in order.
// Records are {"gold": ..., "pred": ...}; malformed lines get {"line": N, "error": ...} and the
// run continues. Options: --require-boxed, --no-fallback (no last-number fallback).
#include <fstream>
#include <iostream>
#include <string>

#include "cli/command.hpp"
#include "rewards/math_grading.hpp"

namespace {

int grade_math(aha::cli::arguments& args) {
  auto input = args.option("--input");
  aha::rewards::math_verifier_config config;
  config.require_boxed = args.flag("--require-boxed");
  config.fallback_last_number = !args.flag("--no-fallback");
  if (std::string unknown = args.unknown_options(); !unknown.empty()) return aha::cli::usage_error("grade math", unknown);
  if (!input) return aha::cli::usage_error("grade math", "--input FILE.jsonl is required");
  std::ifstream in(*input);
  if (!in) return aha::cli::usage_error("grade math", "cannot open " + *input);
  std::string line;
  std::size_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    std::cout << aha::rewards::grade_math_record(line, line_number, config) << '\n';
  }
  return 0;
}

}  // namespace

AHA_COMMAND("grade math", "check answers in a JSONL file of {gold, pred}, one verdict per line", grade_math);
