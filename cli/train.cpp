// `aha train CONFIG [--resume] [--set key=value ...]`: the main job. Loads a recipe, runs its
// stages, prints the final report and writes it to <run dir>/report.json. --resume (the same as
// --set run.resume=true) continues the run in the run directory from its checkpoint; without it
// a run directory that already holds a run is refused.
#include <iomanip>
#include <iostream>

#include "actors/controller.hpp"
#include "cli/command.hpp"

namespace {

int train(aha::cli::arguments& args) {
  auto overrides = args.options("--set");
  if (args.flag("--resume")) overrides.push_back("run.resume=true");
  auto positional = args.positionals();
  if (auto unknown = args.unknown_options(); !unknown.empty()) return aha::cli::usage_error("train", unknown);
  if (positional.size() != 1) {
    return aha::cli::usage_error("train", "usage: aha train CONFIG [--resume] [--set key=value ...]");
  }
  auto config = aha::config::load<aha::actors::run_config>(positional[0], overrides);
  if (!config) {
    std::cerr << config.error().message << "\n";
    return 2;
  }
  auto report = aha::actors::run_training(*config, std::cerr);
  if (!report) {
    std::cerr << "aha train: " << report.error().message << "\n";
    return 1;
  }
  std::cout << aha::actors::to_json(*report) << "\n";
  // The run's log shares this stream and leaves its precision set: set ours.
  std::cerr << std::fixed << std::setprecision(3) << "held-out accuracy: " << report->initial.pass_at_1 << " initial, " << report->after_sft.pass_at_1
            << " after SFT, " << report->after_grpo.pass_at_1 << " after GRPO (" << report->grpo_steps
            << " GRPO steps, " << std::setprecision(1) << report->wall_seconds << " s); report: " << report->run_dir << "/report.json\n";
  return 0;
}

}  // namespace

AHA_COMMAND("train", "run a training recipe: cold-start SFT, then GRPO (configs/*.toml)", train);
