// Held-out evaluation of the pipeline (pipeline/eval_stage.hpp).
#include "pipeline/eval_stage.hpp"

#include <fstream>
#include <iomanip>

#include <nlohmann/json.hpp>

namespace aha::pipeline {

using namespace aha::actors;

result<eval_report> run_eval(caf::actor_system& sys, const services& s, policy_bundle& bundle,
                             const std::vector<protocol::prompt>& held_out, const run_config& config,
                             const std::string& label, const std::string& completions_file, std::ostream& log) {
  eval_settings settings;
  settings.completions_file = completions_file;
  settings.samples = config.eval.samples;
  settings.temperature = config.eval.temperature;
  settings.max_new_tokens = config.eval.max_new_tokens;
  settings.pass_at = config.eval.pass_at;
  settings.stop_strings = config.generator.stop_strings;
  settings.seed = config.run.seed;
  auto started = clock_type::now();
  auto report = evaluate(sys, s.grader, bundle.policy, *bundle.tokenizer, held_out, settings);
  if (!report) return report.error();
  log << eval_table(*report, label) << "eval " << label << ": " << std::fixed << std::setprecision(1)
      << seconds_since(started) << " s\n";
  if (!completions_file.empty()) log << "eval " << label << ": every sample in " << completions_file << "\n";
  return report;
}

double mean_completion_chars(const std::string& completions_file) {
  std::ifstream in(completions_file);
  double chars = 0, count = 0;
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("completion") || !j["completion"].is_string()) continue;
    chars += static_cast<double>(j["completion"].get<std::string>().size());
    count += 1;
  }
  return count > 0 ? chars / count : 0;
}

}  // namespace aha::pipeline
