// One SFT stage (pipeline/sft_stage.hpp).
#include "pipeline/sft_stage.hpp"

#include <fstream>
#include <iomanip>
#include <memory>

#include <nlohmann/json.hpp>

#include "actors/generator.hpp"
#include "actors/run_audit.hpp"
#include "actors/tasks/dataset.hpp"

namespace aha::pipeline {

namespace fs = std::filesystem;
using namespace aha::actors;

namespace {

// A file's demonstrations as a dataset, so both sources are drawn the same way.
class demonstration_set final : public tasks::prompt_dataset {
 public:
  explicit demonstration_set(std::vector<tasks::task_sample> samples) : samples_(std::move(samples)) {}
  std::uint64_t size() const override { return samples_.size(); }
  tasks::task_sample at(std::uint64_t index) const override { return samples_.at(index); }

 private:
  std::vector<tasks::task_sample> samples_;
};

std::string string_field(const nlohmann::json& j, const char* key) {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}

}  // namespace

result<std::vector<tasks::task_sample>> read_demonstrations(const std::string& path) {
  std::ifstream in(path);
  if (!in) return make_error(errc::not_found, "cannot read SFT data " + path);
  std::vector<tasks::task_sample> out;
  std::uint64_t number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string at = path + ":" + std::to_string(number) + ": ";
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return make_error(errc::invalid_argument, at + "not a JSON object");
    tasks::task_sample sample;
    sample.prompt.text = string_field(j, "prompt");
    sample.demonstration = string_field(j, "completion");
    if (sample.prompt.text.empty() || sample.demonstration.empty()) {
      return make_error(errc::invalid_argument, at + "an SFT record needs string \"prompt\" and \"completion\"");
    }
    sample.prompt.task = j.value("task", std::string("math"));
    sample.prompt.gold = string_field(j, "gold");
    sample.prompt.language = j.value("language", std::string("en"));
    out.push_back(std::move(sample));
  }
  if (out.empty()) {
    return make_error(errc::invalid_argument, path + ": no demonstrations (an SFT stage needs at least one)");
  }
  return out;
}

result<std::uint64_t> run_sft(const run_config& config, const services& s, policy_bundle& bundle,
                              policy_trainer& trainer, const sft_source& source, std::ostream& log) {
  std::unique_ptr<tasks::prompt_dataset> dataset;
  if (source.file.empty()) {
    auto split = tasks::open_dataset(config.prompts.dataset, tasks::split::train);
    if (!split) return split.error();
    dataset = std::move(*split);
  } else {
    auto samples = read_demonstrations(source.file);
    if (!samples) return samples.error();
    log << "sft: " << samples->size() << " demonstrations from " << source.file << "\n";
    dataset = std::make_unique<demonstration_set>(std::move(*samples));
  }
  const auto& tokenizer = *bundle.tokenizer;
  tasks::sample_rng order(config.run.seed, tasks::split::train, 0x5f7);
  const std::uint64_t size = dataset->size();
  if (size == 0) return make_error(errc::invalid_argument, "sft: the training prompts are empty");
  std::uint64_t misses = 0;  // draws in a row without a demonstration
  // What SFT trained on, for the split audit (run_audit.hpp) and for anyone checking from outside.
  std::ofstream examples(source.examples_file, std::ios::trunc);
  if (!examples) return make_error(errc::io_error, "cannot write " + source.examples_file);
  for (std::uint64_t step = 0; step < config.sft.steps; ++step) {
    std::vector<sft_example> batch;
    while (batch.size() < config.sft.batch_size) {
      auto sample = dataset->at(order.next() % size);
      if (sample.demonstration.empty()) {
        if (++misses > 4 * size + 64) {
          return make_error(errc::invalid_argument,
                            "sft.steps = " + std::to_string(config.sft.steps) +
                                " but the training prompts carry no demonstrations (JSONL records need a "
                                "\"completion\"): add them, or set sft.steps = 0 to start with GRPO");
        }
        continue;
      }
      misses = 0;
      write_sft_example(examples, step, sample.prompt);
      auto completion = tokenizer.encode(sample.demonstration);
      if (tokenizer.eos_id() >= 0) completion.push_back(tokenizer.eos_id());
      batch.push_back({prompt_tokens(tokenizer, sample.prompt.text), std::move(completion)});
    }
    auto metrics = trainer.sft_step(batch);
    if (s.metrics) caf::anon_send(s.metrics, record_atom::value, step, metrics);
    if (step % 50 == 0 || step + 1 == config.sft.steps) {
      log << "sft step " << step + 1 << "/" << config.sft.steps << " loss " << std::setprecision(4)
          << metrics["sft/loss"] << "\n";
    }
  }
  if (!examples.flush()) return make_error(errc::io_error, "cannot write " + source.examples_file);
  return config.sft.steps;
}

}  // namespace aha::pipeline
