// Reading a run directory's metrics.jsonl and report.json (report/run_files.hpp).
#include "report/run_files.hpp"

#include <cmath>
#include <fstream>
#include <sstream>

namespace aha::report {
namespace {

bool starts_with(const std::string& text, const char* prefix) { return text.rfind(prefix, 0) == 0; }

}  // namespace

std::string stage_of(const nlohmann::json& line) {
  bool grpo = false;
  for (const auto& [key, value] : line.items()) {
    if (starts_with(key, "sft/")) return "sft";
    grpo = grpo || starts_with(key, "grpo/") || starts_with(key, "learner/");
  }
  return grpo ? "grpo" : "run";
}

metrics_line to_metrics_line(const nlohmann::json& parsed) {
  metrics_line line;
  line.stage = stage_of(parsed);
  line.step = parsed.value("step", std::uint64_t{0});
  for (const auto& [key, value] : parsed.items()) {
    if (!value.is_number()) continue;  // null: a NaN or inf the run recorded
    const double number_value = value.get<double>();
    if (key == "time") line.time = number_value;
    if (key == "elapsed") line.elapsed = number_value;
    if (key == "step" || key == "time" || !std::isfinite(number_value)) continue;
    line.values[key] = number_value;
  }
  return line;
}

result<metrics_log> read_metrics(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(errc::not_found, "cannot read " + path);
  std::stringstream text;
  text << in.rdbuf();
  const std::string all = text.str();
  metrics_log log;
  std::size_t start = 0, number = 0;
  while (start < all.size()) {
    std::size_t end = all.find('\n', start);
    const bool torn = end == std::string::npos;  // the last write of a run that stopped mid-line
    std::string raw = all.substr(start, torn ? std::string::npos : end - start);
    start = torn ? all.size() : end + 1;
    ++number;
    if (raw.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto parsed = nlohmann::json::parse(raw, nullptr, /*allow_exceptions=*/false);
    if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("step") || !parsed["step"].is_number()) {
      if (torn) {
        log.notes.push_back(path + ":" + std::to_string(number) + ": unfinished last line skipped");
        break;
      }
      return make_error(errc::corrupt_data, path + ":" + std::to_string(number) +
                                                ": not a metrics line (a JSON object with a numeric \"step\")");
    }
    auto line = to_metrics_line(parsed);
    bool known = false;
    for (const auto& s : log.stages) known = known || s == line.stage;
    if (!known) log.stages.push_back(line.stage);
    log.lines.push_back(std::move(line));
  }
  return log;
}

result<nlohmann::json> read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(errc::not_found, "cannot read " + path);
  auto parsed = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return make_error(errc::corrupt_data, path + ": not valid JSON");
  return parsed;
}

}  // namespace aha::report
