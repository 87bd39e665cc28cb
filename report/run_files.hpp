// run_files: reads what a run directory holds for people to look at — metrics.jsonl (one line per
// step, actors/metrics.hpp) split into stages by its keys, and report.json (the evals). Shared by
// the TensorBoard writer and the HTML report. Tested by report.test.cpp.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.hpp"

namespace aha::report {

// One metrics.jsonl line. `values` holds every finite number of the line but "step" and "time"
// ("elapsed" stays: seconds since the run started); nulls (NaN, inf) are left out.
struct metrics_line {
  std::string stage;  // "sft", "grpo", or "run" for a line of neither
  std::uint64_t step = 0;
  double time = 0;     // unix seconds
  double elapsed = 0;  // seconds since the metrics actor started
  std::map<std::string, double> values;
};

// The stage a line belongs to, from its keys: a "sft/" key makes it SFT's, else a "grpo/" or
// "learner/" key (a GRPO step whose groups all failed has no "grpo/" key) GRPO's, else "run".
std::string stage_of(const nlohmann::json& line);

// One parsed metrics.jsonl object as a metrics_line (the caller checked it has a numeric "step").
metrics_line to_metrics_line(const nlohmann::json& line);

struct metrics_log {
  std::vector<metrics_line> lines;  // in file order
  std::vector<std::string> stages;  // stages in order of first appearance
  std::vector<std::string> notes;   // what was skipped and why (a torn last line after a crash)
};

// Reads <path>. A malformed line is an error naming path:line, except a last line without its
// newline (a write the run did not finish): skipped, with a note.
result<metrics_log> read_metrics(const std::string& path);

// Reads <path> as JSON; a missing file is errc::not_found, a malformed one names the file.
result<nlohmann::json> read_json_file(const std::string& path);

}  // namespace aha::report
