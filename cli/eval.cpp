// `aha eval CONFIG --checkpoint DIR [--set key=value ...]`: held-out pass@1 over k samples,
// unbiased pass@k' (eval.pass_at) and maj@k of a checkpoint, overall and per task, under the
// recipe's tasks and eval settings. Prints the table a run logs after each stage, then, as its
// last line, one JSON object with the same figures (report.json's eval form plus "checkpoint").
#include <iostream>

#include <nlohmann/json.hpp>

#include "actors/controller.hpp"
#include "cli/command.hpp"

namespace {

int eval(aha::cli::arguments& args) {
  auto overrides = args.options("--set");
  auto checkpoint = args.option("--checkpoint");
  auto positional = args.positionals();
  if (auto unknown = args.unknown_options(); !unknown.empty()) return aha::cli::usage_error("eval", unknown);
  if (positional.size() != 1 || !checkpoint) {
    return aha::cli::usage_error("eval", "usage: aha eval CONFIG --checkpoint DIR [--set key=value ...]");
  }
  auto config = aha::config::load<aha::actors::run_config>(positional[0], overrides);
  if (!config) {
    std::cerr << config.error().message << "\n";
    return 2;
  }
  // A k' beyond eval.samples is refused before the model loads, in validate()'s words.
  if (auto valid = aha::actors::pass_at_values(config->eval.pass_at, config->eval.samples); !valid) {
    std::cerr << valid.error().message << "\n";
    return 2;
  }
  // The evaluation's log is stdout: its table (the one a run logs after each stage), then the JSON.
  auto report = aha::actors::run_evaluation(*config, *checkpoint, std::cout);
  if (!report) {
    std::cerr << "aha eval: " << report.error().message << "\n";
    return 1;
  }
  auto out = aha::actors::to_json(*report);
  out["checkpoint"] = *checkpoint;
  out["k"] = config->eval.samples;  // kept from the first form of this line; "samples" says the same
  std::cout << out.dump() << "\n";
  return 0;
}

}  // namespace

AHA_COMMAND("eval", "held-out pass@1 (over k samples), pass@k' and maj@k of a checkpoint, per task", eval);
