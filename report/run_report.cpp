// The run directory's TensorBoard files and HTML report in one call (report/run_report.hpp).
#include "report/run_report.hpp"

#include "report/html_report.hpp"
#include "report/tensorboard.hpp"

namespace aha::report {

result<std::vector<std::string>> write_run_report(const std::string& run_dir) {
  std::vector<std::string> lines;
  auto tb = write_tensorboard(run_dir);
  if (!tb) return tb.error();
  std::string events = "tensorboard: " + run_dir + "/tb (";
  bool first = true;
  for (const auto& [stage, count] : tb->events_by_stage) {
    events += (first ? "" : ", ") + stage + " " + std::to_string(count) + " steps";
    first = false;
  }
  if (first) events += "no steps in metrics.jsonl yet";
  lines.push_back(events + "): tensorboard --logdir " + run_dir + "/tb");
  auto html = write_html_report(run_dir);
  if (!html) return html.error();
  lines.push_back("report: " + html->path);
  for (const auto& note : tb->notes) lines.push_back("report: " + note);
  for (const auto& note : html->notes) lines.push_back("report: " + note);
  return lines;
}

}  // namespace aha::report
