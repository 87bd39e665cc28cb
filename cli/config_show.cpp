// `aha config show CONFIG [--set key=value ...]`: prints the resolved configuration of a recipe,
// every key with its documentation, plus the notes on values that were derived.
#include <iostream>

#include "actors/run_config.hpp"
#include "cli/command.hpp"

namespace {

int config_show(aha::cli::arguments& args) {
  auto overrides = args.options("--set");
  auto positional = args.positionals();
  if (auto unknown = args.unknown_options(); !unknown.empty()) return aha::cli::usage_error("config show", unknown);
  if (positional.size() != 1) return aha::cli::usage_error("config show", "usage: aha config show CONFIG [--set key=value ...]");
  auto config = aha::config::load<aha::actors::run_config>(positional[0], overrides);
  if (!config) {
    std::cerr << config.error().message << "\n";
    return 2;
  }
  auto notes = aha::actors::resolve(*config);
  if (auto valid = aha::actors::validate(*config); !valid) {
    std::cerr << valid.error().message << "\n";
    return 2;
  }
  config->cluster = aha::actors::redacted(config->cluster);
  for (const auto& note : notes) std::cout << "# derived: " << note << "\n";
  std::cout << aha::config::to_toml(*config);
  return 0;
}

}  // namespace

AHA_COMMAND("config show", "print the resolved configuration of a recipe (with --set overrides)", config_show);
