// `aha eval CONFIG --checkpoint DIR [--set key=value ...]`: held-out pass@1 over k samples and
// maj@k of a checkpoint, under the recipe's tasks and eval settings; prints one JSON object.
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
  auto report = aha::actors::run_evaluation(*config, *checkpoint, std::cerr);
  if (!report) {
    std::cerr << "aha eval: " << report.error().message << "\n";
    return 1;
  }
  nlohmann::json out{{"checkpoint", *checkpoint},
                     {"pass_at_1", report->pass_at_1},
                     {"maj_at_k", report->maj_at_k},
                     {"k", config->eval.samples},
                     {"format_rate", report->format_rate},
                     {"prompts", report->prompts},
                     {"pass_at_1_by_task", report->pass_at_1_by_task}};
  std::cout << out.dump() << "\n";
  return 0;
}

}  // namespace

AHA_COMMAND("eval", "held-out pass@1 (over k samples) and maj@k of a checkpoint", eval);
