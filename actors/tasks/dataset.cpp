// Built-in and JSONL prompt datasets.
#include "actors/tasks/dataset.hpp"

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "actors/tasks/phrasing.hpp"
#include "actors/tasks/split.hpp"

namespace aha::actors::tasks {
namespace {

// Draws per sample before a built-in task is declared unable to reach a side of the split: with
// eval_fraction >= 0.001 a feasible side is missed with probability below 1e-4 per sample.
constexpr std::uint64_t kSideDraws = 10000;

// One draw of a built-in task; `draw` numbers the attempts at one sample.
task_sample builtin_task_draw(const dataset_config& config, const std::string& task, split s, std::uint64_t draw) {
  if (task == "countdown") return countdown_sample(config.countdown, config.seed, s, draw);
  if (task == "addition") return addition_sample(config.addition, config.seed, s, draw);
  return arithmetic_sample(config.arithmetic, config.seed, s, draw);
}

// One draw, posed in one of config.languages (phrasing.hpp): chosen from its own stream, so the
// problems drawn are the same whatever the languages (open_dataset checked their names).
task_sample builtin_draw(const dataset_config& config, const std::string& task, split s, std::uint64_t draw) {
  auto sample = builtin_task_draw(config, task, s, draw);
  if (config.languages.size() <= 1 && (config.languages.empty() || config.languages[0] == "en")) return sample;
  sample_rng pick(config.seed ^ 0x1a46ull, s, draw);
  const auto& language = config.languages[pick.next() % config.languages.size()];
  pose(task, language, sample.prompt.text);
  sample.prompt.language = language;
  return sample;
}

// Sample k of `task` on side `s`: the first of its draws whose problem lies on that side.
std::optional<task_sample> builtin_sample(const dataset_config& config, const std::string& task, split s,
                                          std::uint64_t k) {
  for (std::uint64_t attempt = 0; attempt < kSideDraws; ++attempt) {
    auto sample = builtin_draw(config, task, s, k * kSideDraws + attempt);
    if (split_of(problem_key(sample.prompt), config.eval_fraction) == s) return sample;
  }
  return std::nullopt;
}

// Built-in training tasks interleaved: index i is task i % k, sample i / k of that task.
class builtin_dataset final : public prompt_dataset {
 public:
  builtin_dataset(dataset_config config, std::uint64_t size) : config_(std::move(config)), size_(size) {}
  std::uint64_t size() const override { return size_; }
  task_sample at(std::uint64_t index) const override {
    const auto& task = config_.tasks[index % config_.tasks.size()];
    auto sample = builtin_sample(config_, task, split::train, index / config_.tasks.size());
    // open_dataset probed the task's train side; a miss now would need ~10^4 eval draws in a row.
    if (!sample) throw std::runtime_error("dataset: task " + task + " has no training problems left");
    return *sample;
  }

 private:
  dataset_config config_;
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

namespace {

status check_builtin_tasks(const dataset_config& config) {
  if (config.tasks.empty()) return make_error(errc::invalid_argument, "dataset: no tasks (valid: addition, arithmetic, countdown)");
  if (config.languages.empty()) return make_error(errc::invalid_argument, "dataset.languages: empty (e.g. [\"en\"])");
  for (const auto& language : config.languages) {
    std::string probe;
    if (auto problem = pose("arithmetic", language, probe); !problem.empty()) {
      return make_error(errc::invalid_argument, "dataset.languages: " + problem);
    }
  }
  for (const auto& task : config.tasks) {
    if (task != "arithmetic" && task != "countdown" && task != "addition") {
      return make_error(errc::invalid_argument,
                        "dataset: unknown built-in task '" + task + "' (valid: addition, arithmetic, countdown)");
    }
    if (!builtin_sample(config, task, split::train, 0)) {
      return make_error(errc::invalid_argument, "dataset: task " + task + " has no problems on the train side of "
                                                "the split (its problem space is too small; enlarge it)");
    }
  }
  return ok_status();
}

result<std::vector<task_sample>> read_jsonl_file(const std::string& file, const dataset_config& config) {
  auto text = read_text(file);
  if (!text) return text.error();
  return parse_jsonl(*text, file, config.prompt_template);
}

// Distinct eval-side problems of the built-in tasks, interleaved, until `limit` or until every
// task's eval share runs dry: a task whose last 64 draws found only problems already held is
// done (a small problem space yields fewer than `limit`, and the report says how many).
held_out_set builtin_held_out(const dataset_config& config, std::uint64_t limit) {
  constexpr int kDry = 64;
  held_out_set out;
  std::set<std::string> seen;
  const std::size_t n = config.tasks.size();
  std::vector<std::uint64_t> next(n, 0);
  std::vector<int> repeats(n, 0);  // draws in a row that found only problems already held
  auto dry = [&] { return std::all_of(repeats.begin(), repeats.end(), [](int r) { return r >= kDry; }); };
  for (std::size_t t = 0; out.samples.size() < limit && !dry(); t = (t + 1) % n) {
    if (repeats[t] >= kDry) continue;
    auto sample = builtin_sample(config, config.tasks[t], split::eval, next[t]++);
    if (!sample) {
      repeats[t] = kDry;  // no eval-side problem within kSideDraws: the share is empty
    } else if (!seen.insert(problem_key(sample->prompt)).second) {
      ++out.duplicates_dropped;
      ++repeats[t];
    } else {
      repeats[t] = 0;
      out.samples.push_back(std::move(*sample));
    }
  }
  return out;
}

}  // namespace

result<held_out_set> open_held_out(const dataset_config& config, std::uint64_t limit) {
  if (config.eval_file.empty()) {
    if (!config.train_file.empty()) {
      return make_error(errc::invalid_argument, "dataset: a train_file needs an eval_file for held-out evaluation");
    }
    if (auto checked = check_builtin_tasks(config); !checked) return checked.error();
    return builtin_held_out(config, limit);
  }
  auto eval = read_jsonl_file(config.eval_file, config);
  if (!eval) return eval.error();
  std::set<std::string> train_keys, seen;
  if (!config.train_file.empty()) {
    auto train = read_jsonl_file(config.train_file, config);
    if (!train) return train.error();
    for (const auto& t : *train) train_keys.insert(problem_key(t.prompt));
  } else {
    // Built-in training with a JSONL eval set: a record on the train side of the split may be
    // drawn for training, so it cannot be held out.
    if (auto checked = check_builtin_tasks(config); !checked) return checked.error();
  }
  held_out_set out;
  for (auto& sample : *eval) {
    if (out.samples.size() >= limit) break;
    const auto key = problem_key(sample.prompt);
    const bool trained = config.train_file.empty() ? split_of(key, config.eval_fraction) == split::train
                                                   : train_keys.count(key) > 0;
    if (trained) {
      ++out.train_overlap_dropped;
    } else if (!seen.insert(key).second) {
      ++out.duplicates_dropped;
    } else {
      out.samples.push_back(std::move(sample));
    }
  }
  if (out.samples.empty()) {
    return make_error(errc::invalid_argument, config.eval_file + ": no held-out record left (" +
                                                  std::to_string(out.train_overlap_dropped) + " also in training, " +
                                                  std::to_string(out.duplicates_dropped) + " repeats)");
  }
  return out;
}

result<std::unique_ptr<prompt_dataset>> open_dataset(const dataset_config& config, split s) {
  if (s == split::eval) {
    auto held_out = open_held_out(config, config.eval_size);
    if (!held_out) return held_out.error();
    return std::unique_ptr<prompt_dataset>(new memory_dataset(std::move(held_out->samples)));
  }
  if (!config.train_file.empty()) {
    auto samples = read_jsonl_file(config.train_file, config);
    if (!samples) return samples.error();
    return std::unique_ptr<prompt_dataset>(new memory_dataset(std::move(*samples)));
  }
  if (auto checked = check_builtin_tasks(config); !checked) return checked.error();
  return std::unique_ptr<prompt_dataset>(new builtin_dataset(config, config.train_size));
}

}  // namespace aha::actors::tasks
