// `aha report RUN_DIR`: (re)writes a run directory's tb/<stage>/ TensorBoard event files and
// report.html from its metrics.jsonl and report.json (report/run_report.hpp) — for a run still
// going, one that stopped, or one written before these files existed. Prints what it wrote.
#include <iostream>

#include "cli/command.hpp"
#include "report/run_report.hpp"

namespace {

int report(aha::cli::arguments& args) {
  auto positional = args.positionals();
  if (auto unknown = args.unknown_options(); !unknown.empty()) return aha::cli::usage_error("report", unknown);
  if (positional.size() != 1) return aha::cli::usage_error("report", "usage: aha report RUN_DIR");
  auto written = aha::report::write_run_report(positional[0]);
  if (!written) {
    std::cerr << "aha report: " << written.error().message << "\n";
    return 1;
  }
  for (const auto& line : *written) std::cout << line << "\n";
  return 0;
}

}  // namespace

AHA_COMMAND("report", "write a run's TensorBoard event files (tb/) and report.html from its metrics", report);
