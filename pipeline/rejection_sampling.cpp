// Rejection sampling into an SFT set (pipeline/rejection_sampling.hpp).
#include "pipeline/rejection_sampling.hpp"

#include <fstream>
#include <iomanip>
#include <map>
#include <set>

#include "actors/evaluation.hpp"
#include "actors/tasks/dataset.hpp"
#include "actors/tasks/split.hpp"
#include "rewards/format_reward.hpp"

namespace aha::pipeline {

using namespace aha::actors;

namespace {

// `count` distinct training problems drawn in a seeded order (its own stream: not the SFT's nor
// the prompt source's), ids 0..n-1 so the samples file can be joined back to them.
result<std::vector<protocol::prompt>> training_prompts(const run_config& config, std::uint32_t count) {
  auto dataset = tasks::open_dataset(config.prompts.dataset, tasks::split::train);
  if (!dataset) return dataset.error();
  const std::uint64_t size = (*dataset)->size();
  if (size == 0) return make_error(errc::invalid_argument, "rejection_sample: the training split is empty");
  tasks::sample_rng order(config.run.seed, tasks::split::train, 0x7e5);
  std::vector<protocol::prompt> out;
  std::set<std::string> seen;
  for (std::uint64_t draws = 0; out.size() < count && draws < 8 * std::uint64_t{count} + 64; ++draws) {
    auto sample = (*dataset)->at(order.next() % size);
    if (!seen.insert(tasks::problem_key(sample.prompt)).second) continue;
    sample.prompt.id = out.size();
    out.push_back(std::move(sample.prompt));
  }
  return out;
}

}  // namespace

nlohmann::json to_json(const rejection_stats& r) {
  return {{"prompts", r.prompts},
          {"sampled", r.sampled},
          {"correct", r.correct},
          {"failed_format", r.failed_format},
          {"failed_language", r.failed_language},
          {"failed_length", r.failed_length},
          {"duplicates", r.duplicates},
          {"over_keep", r.over_keep},
          {"kept", r.kept},
          {"prompts_with_kept", r.prompts_with_kept},
          {"acceptance_rate", r.sampled > 0 ? static_cast<double>(r.kept) / static_cast<double>(r.sampled) : 0.0},
          {"file", r.file}};
}

readability check_readability(const std::string& completion, const std::string& language,
                              const rejection_config& settings, const std::string& format_mode) {
  readability out;
  const auto mode = format_mode == "lenient" ? rewards::format_mode::lenient : rewards::format_mode::strict;
  out.format = rewards::format_reward(completion, mode) >= 1.0f;
  out.language = rewards::language_consistency(completion, language.empty() ? "en" : language) >= settings.min_language;
  out.length = settings.max_chars == 0 || completion.size() <= settings.max_chars;
  return out;
}

result<rejection_stats> run_rejection_sampling(caf::actor_system& sys, const run_config& config, const services& s,
                                               policy_bundle& bundle, const rejection_config& settings,
                                               const std::string& output, const std::string& samples_file,
                                               std::ostream& log) {
  // 1. The prompts, 2. k samples of each graded by the stage's grader (every sample to samples_file).
  auto prompts = training_prompts(config, settings.prompts);
  if (!prompts) return prompts.error();
  eval_settings sampling;
  sampling.samples = settings.samples;
  sampling.temperature = settings.temperature;
  sampling.max_new_tokens = settings.max_new_tokens > 0 ? settings.max_new_tokens : config.generator.max_new_tokens;
  sampling.stop_strings = config.generator.stop_strings;
  sampling.seed = config.run.seed * 7919 + 17;  // not the held-out eval's sampling stream
  sampling.completions_file = samples_file;
  auto started = clock_type::now();
  auto graded = evaluate(sys, s.grader, bundle.policy, *bundle.tokenizer, *prompts, sampling);
  if (!graded) return graded.error();
  // 3. Filter the samples, in the file's order (prompt by prompt, sample by sample).
  std::ifstream in(samples_file);
  if (!in) return make_error(errc::io_error, "cannot read " + samples_file);
  std::ofstream out(output, std::ios::trunc);
  if (!out) return make_error(errc::io_error, "cannot write " + output);
  rejection_stats stats;
  stats.prompts = prompts->size();
  stats.file = output;
  std::map<std::uint64_t, std::set<std::string>> kept;  // prompt id -> completions kept
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) return make_error(errc::corrupt_data, samples_file + ": a line is not JSON");
    ++stats.sampled;
    if (!j.value("correct", false)) continue;
    ++stats.correct;
    const auto& prompt = prompts->at(j.value("prompt_id", std::uint64_t{0}));
    const std::string completion = j.value("completion", std::string());
    auto checks = check_readability(completion, prompt.language, settings, config.grader.rewards.format_mode);
    if (!checks.format) { ++stats.failed_format; continue; }
    if (!checks.language) { ++stats.failed_language; continue; }
    if (!checks.length) { ++stats.failed_length; continue; }
    auto& mine = kept[prompt.id];
    if (mine.count(completion)) { ++stats.duplicates; continue; }
    if (mine.size() >= settings.keep) { ++stats.over_keep; continue; }
    mine.insert(completion);
    ++stats.kept;
    out << nlohmann::json{{"task", prompt.task},           {"prompt", prompt.text},
                          {"gold", prompt.gold},           {"language", prompt.language.empty() ? "en" : prompt.language},
                          {"completion", completion},      {"sample", j.value("sample", 0)},
                          {"reward", j.value("reward", 0.0)}, {"components", j.value("components", nlohmann::json::object())}}
               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
        << "\n";
  }
  if (!out.flush()) return make_error(errc::io_error, "cannot write " + output);
  stats.prompts_with_kept = kept.size();
  log << "rejection_sample: " << stats.kept << " of " << stats.sampled << " samples kept (" << stats.correct
      << " correct; " << stats.failed_format << " failed the format, " << stats.failed_language << " the language, "
      << stats.failed_length << " the length bound; " << stats.duplicates << " duplicates, " << stats.over_keep
      << " over keep = " << settings.keep << "), " << stats.prompts_with_kept << " of " << stats.prompts
      << " prompts, train pass@1 " << std::fixed << std::setprecision(3) << graded->pass_at_1 << ", "
      << std::setprecision(1) << seconds_since(started) << " s -> " << output << "\n";
  return stats;
}

}  // namespace aha::pipeline
