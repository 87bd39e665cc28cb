// run_report: everything report/ writes into a run directory, in one call — tb/<stage>/ event
// files (tensorboard.hpp) and report.html (html_report.hpp) — from its metrics.jsonl and
// report.json. Called by the controller when a run ends and by `aha report RUN_DIR`
// (cli/report.cpp). Tested through scripts/check_tensorboard.py and report.test.cpp.
#pragma once

#include <string>
#include <vector>

#include "core/result.hpp"

namespace aha::report {

// Writes both; returns one line per thing written or noted, for the run's log. An error names
// the file that could not be read or written; what was written before it stays.
result<std::vector<std::string>> write_run_report(const std::string& run_dir);

}  // namespace aha::report
