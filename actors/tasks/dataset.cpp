// Built-in and JSONL prompt datasets.
#include "actors/tasks/dataset.hpp"

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace aha::actors::tasks {
namespace {

// Built-in tasks interleaved: index i is task i % k, sample i / k of that task.
class builtin_dataset final : public prompt_dataset {
 public:
  builtin_dataset(dataset_config config, split s, std::uint64_t size)
      : config_(std::move(config)), split_(s), size_(size) {}
  std::uint64_t size() const override { return size_; }
  task_sample at(std::uint64_t index) const override {
    const auto& task = config_.tasks[index % config_.tasks.size()];
    auto k = index / config_.tasks.size();
    if (task == "countdown") return countdown_sample(config_.countdown, config_.seed, split_, k);
    return arithmetic_sample(config_.arithmetic, config_.seed, split_, k);
  }

 private:
  dataset_config config_;
  split split_;
  std::uint64_t size_;
};

class memory_dataset final : public prompt_dataset {
 public:
  explicit memory_dataset(std::vector<task_sample> samples) : samples_(std::move(samples)) {}
  std::uint64_t size() const override { return samples_.size(); }
  task_sample at(std::uint64_t index) const override { return samples_.at(index); }

 private:
  std::vector<task_sample> samples_;
};

std::string apply_template(const std::string& tmpl, const std::string& text) {
  auto at = tmpl.find("{prompt}");
  if (at == std::string::npos) return tmpl + text;
  return tmpl.substr(0, at) + text + tmpl.substr(at + 8);
}

// One JSONL record -> sample; "" on success, else what is wrong.
std::string parse_record(const nlohmann::json& j, const std::string& tmpl, task_sample& out) {
  if (!j.is_object()) return "a record must be a JSON object";
  if (!j.contains("prompt") || !j["prompt"].is_string()) return "missing string \"prompt\"";
  std::string task = j.value("task", std::string("math"));
  out.prompt.task = task;
  out.prompt.text = apply_template(tmpl, j["prompt"].get<std::string>());
  out.prompt.language = j.value("language", std::string("en"));
  if (j.contains("completion") && j["completion"].is_string()) out.demonstration = j["completion"].get<std::string>();
  if (task == "math") {
    if (!j.contains("gold")) return "a math record needs \"gold\"";
    out.prompt.gold = j["gold"].is_string() ? j["gold"].get<std::string>() : j["gold"].dump();
    return {};
  }
  if (task == "code") {
    nlohmann::json tests = nlohmann::json::object();
    if (j.contains("tests")) tests["tests"] = j["tests"];
    if (j.contains("test_code")) tests["test_code"] = j["test_code"];
    for (const char* limit : {"time_limit", "memory_limit"}) {
      if (j.contains(limit)) tests[limit] = j[limit];
    }
    if (tests.empty()) return "a code record needs \"tests\" or \"test_code\"";
    out.prompt.tests = tests.dump();
    return {};
  }
  if (task == "countdown") {
    if (!j.contains("tests")) return "a countdown record needs \"tests\": {\"numbers\",\"target\"}";
    out.prompt.tests = j["tests"].dump();
    auto puzzle = parse_countdown(out.prompt.tests);
    if (!puzzle) return puzzle.error().message;
    out.prompt.gold = std::to_string(puzzle->target);
    return {};
  }
  return "unknown task '" + task + "' (valid: math, code, countdown)";
}

result<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(errc::not_found, "cannot open dataset " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

result<std::vector<task_sample>> parse_jsonl(const std::string& text, const std::string& origin,
                                             const std::string& prompt_template) {
  std::vector<task_sample> out;
  std::istringstream lines(text);
  std::string line;
  for (std::size_t number = 1; std::getline(lines, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded()) return make_error(errc::corrupt_data, origin + ":" + std::to_string(number) + ": not valid JSON");
    task_sample sample;
    auto problem = parse_record(j, prompt_template, sample);
    if (!problem.empty()) return make_error(errc::corrupt_data, origin + ":" + std::to_string(number) + ": " + problem);
    out.push_back(std::move(sample));
  }
  if (out.empty()) return make_error(errc::invalid_argument, origin + ": no records");
  if (out.size() >= (std::uint64_t{1} << 32)) return make_error(errc::resource_limit, origin + ": more than 2^32 records");
  return out;
}

result<std::unique_ptr<prompt_dataset>> open_dataset(const dataset_config& config, split s) {
  const auto& file = s == split::train ? config.train_file : config.eval_file;
  if (!file.empty()) {
    auto text = read_text(file);
    if (!text) return text.error();
    auto samples = parse_jsonl(*text, file, config.prompt_template);
    if (!samples) return samples.error();
    return std::unique_ptr<prompt_dataset>(new memory_dataset(std::move(*samples)));
  }
  if (s == split::eval && !config.train_file.empty()) {
    return make_error(errc::invalid_argument, "dataset: a train_file needs an eval_file for held-out evaluation");
  }
  if (config.tasks.empty()) return make_error(errc::invalid_argument, "dataset: no tasks (valid: arithmetic, countdown)");
  for (const auto& task : config.tasks) {
    if (task != "arithmetic" && task != "countdown") {
      return make_error(errc::invalid_argument, "dataset: unknown built-in task '" + task + "' (valid: arithmetic, countdown)");
    }
  }
  auto size = s == split::train ? config.train_size : config.eval_size;
  return std::unique_ptr<prompt_dataset>(new builtin_dataset(config, s, size));
}

}  // namespace aha::actors::tasks
