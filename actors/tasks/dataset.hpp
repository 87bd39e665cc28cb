// prompt_dataset: one epoch of prompts, indexable (so a cursor can resume anywhere and any
// prompt id can be regenerated). Made from built-in task generators (arithmetic, countdown;
// train or eval split) or loaded from JSONL: {"task":"math","prompt","gold"} or
// {"task":"code","prompt","tests"|"test_code"}, optional "id", "language". Tested by tasks.test.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "actors/tasks/arithmetic.hpp"
#include "actors/tasks/countdown.hpp"
#include "actors/tasks/task.hpp"
#include "core/config.hpp"
#include "core/result.hpp"

namespace aha::actors::tasks {

class prompt_dataset {
 public:
  virtual ~prompt_dataset() = default;
  virtual std::uint64_t size() const = 0;
  // The sample at `index` < size(); demonstration is "" when the source has none.
  virtual task_sample at(std::uint64_t index) const = 0;
};

// Where prompts come from: built-in tasks (mixed in equal parts, interleaved) or a JSONL file.
struct dataset_config {
  std::vector<std::string> tasks = {"arithmetic", "countdown"};  // built-in tasks (when no file)
  std::string train_file;                 // JSONL; replaces the built-in tasks when set
  std::string eval_file;                  // JSONL held-out set (built-ins use the eval split)
  std::string prompt_template = "{prompt}";  // applied to JSONL prompts; {prompt} is the record's text
  std::uint64_t seed = 1;                 // built-in generation seed
  std::uint64_t train_size = 20000;       // built-in prompts per epoch (all tasks together)
  std::uint64_t eval_size = 200;          // built-in held-out prompts
  arithmetic_config arithmetic;
  countdown_config countdown;
};
template <class V>
void describe(V& v, dataset_config& c) {
  v.field("tasks", c.tasks, "built-in tasks mixed in equal parts: arithmetic, countdown");
  v.field("train_file", c.train_file, "JSONL training prompts (replaces the built-in tasks)");
  v.field("eval_file", c.eval_file, "JSONL held-out prompts");
  v.field("prompt_template", c.prompt_template, "template for JSONL prompts; {prompt} is replaced");
  v.field("seed", c.seed, "seed of the built-in task generators");
  v.field("train_size", c.train_size, "built-in prompts per epoch", config::range{1, 4e9});
  v.field("eval_size", c.eval_size, "built-in held-out prompts", config::range{0, 4e9});
  v.section("arithmetic", c.arithmetic, "the built-in arithmetic task");
  v.section("countdown", c.countdown, "the built-in countdown task");
}

// The train or eval split described by `config`; errors name the file:line or the task.
result<std::unique_ptr<prompt_dataset>> open_dataset(const dataset_config& config, split s);

// Parses JSONL text (`origin` names it in errors).
result<std::vector<task_sample>> parse_jsonl(const std::string& text, const std::string& origin,
                                             const std::string& prompt_template);

}  // namespace aha::actors::tasks
