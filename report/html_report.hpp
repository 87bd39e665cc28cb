// html_report: <run_dir>/report.html, one self-contained page (inline SVG drawn here, no script,
// nothing fetched) with the run's curves over steps — reward, held-out accuracy, response
// length, entropy, KL, staleness, throughput, loss — stage boundaries marked, and the eval table
// of report.json. Built from metrics.jsonl and report.json alone, so `aha report RUN_DIR` redraws
// it for any run, finished or not. Tested by report.test.cpp (series in the SVG) and
// scripts/test_html_screenshot.sh (a headless browser draws it; CTest report.html_screenshot).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.hpp"
#include "report/run_files.hpp"

namespace aha::report {

// A curve: points (x = run step, y), named as in metrics.jsonl or after what it was derived from.
struct series {
  std::string name;
  std::vector<std::pair<double, double>> points;
};

struct plot {
  std::string id;     // data-plot attribute: "reward", "accuracy", ...
  std::string title;
  std::string what;   // one line under the title: where the numbers come from
  std::vector<series> lines;
  std::optional<std::pair<double, double>> y_fixed;  // a fixed y range (accuracy: [0, 1]); else from the data
};

// The run's x axis: stages one after another, each stage's steps counted from its first, so the
// curves of SFT and GRPO (each numbering its own steps) do not overlap; a boundary is drawn at
// the start of every stage after the first.
struct step_axis {
  std::vector<std::string> stages;                // in run order
  std::vector<double> starts;                     // x just before each stage's first step
  std::vector<double> ends;                       // x of each stage's last step
  std::map<std::string, std::uint64_t> first_step;  // stage -> its smallest step number
  double x_of(const metrics_line& line) const;
  double end() const { return ends.empty() ? 1.0 : ends.back(); }
};
step_axis make_axis(const metrics_log& log);

// The plots of report.html, from the metrics and (when the run wrote it; else null) report.json.
std::vector<plot> report_plots(const metrics_log& log, const step_axis& axis, const nlohmann::json& report);

// One plot as an SVG element (width x height px), stage boundaries dashed.
std::string svg_plot(const plot& p, const step_axis& axis, int width = 560, int height = 250);

// The whole page.
std::string html_page(const std::string& title, const metrics_log& log, const nlohmann::json& report);

struct html_summary {
  std::string path;
  std::vector<std::string> notes;  // what is missing (no report.json yet, a torn metrics line)
};

// Writes <run_dir>/report.html (whole, via a temporary file renamed over it).
result<html_summary> write_html_report(const std::string& run_dir);

}  // namespace aha::report
