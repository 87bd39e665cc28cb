// prompt_dataset: one epoch of prompts, indexable (so a cursor can resume anywhere and any
// prompt id can be regenerated). Made from built-in task generators (arithmetic, addition,
// countdown) or loaded from JSONL: {"task":"math","prompt","gold"} or
// {"task":"code","prompt","tests"|"test_code"}, optional "id", "language". The held-out set is
// disjoint from training by construction (split.hpp) and deduplicated. Tested by tasks.test.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "actors/tasks/addition.hpp"
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
  std::vector<std::string> tasks = {"addition", "countdown"};  // built-in tasks (when no file)
  std::string train_file;                 // JSONL; replaces the built-in tasks when set
  std::string eval_file;                  // JSONL held-out set (built-ins use the eval split)
  std::string prompt_template = "{prompt}";  // applied to JSONL prompts; {prompt} is the record's text
  std::uint64_t seed = 0;                 // built-in generation seed; 0 = run.seed
  std::uint64_t train_size = 20000;       // built-in prompts per epoch (all tasks together)
  std::uint64_t eval_size = 200;          // built-in held-out prompts (distinct problems)
  double eval_fraction = 0.1;             // share of each built-in problem space held out
  std::vector<std::string> languages = {"en"};  // built-in prompts posed in these, drawn per prompt (phrasing.hpp)
  addition_config addition;
  arithmetic_config arithmetic;
  countdown_config countdown;
};
template <class V>
void describe(V& v, dataset_config& c) {
  v.field("tasks", c.tasks, "built-in tasks mixed in equal parts: addition, arithmetic, countdown");
  v.field("train_file", c.train_file, "JSONL training prompts (replaces the built-in tasks)");
  v.field("eval_file", c.eval_file, "JSONL held-out prompts");
  v.field("prompt_template", c.prompt_template, "template for JSONL prompts; {prompt} is replaced");
  v.field("seed", c.seed, "seed of the built-in task generators (0 = run.seed)");
  v.field("train_size", c.train_size, "built-in prompts per epoch", config::range{1, 4e9});
  v.field("eval_size", c.eval_size, "built-in held-out prompts (distinct problems)", config::range{0, 4e9});
  v.field("eval_fraction", c.eval_fraction,
          "share of each built-in task's problems held out (a problem's side is a hash of its text)",
          config::range{0.001, 0.5});
  v.field("languages", c.languages,
          "languages the built-in prompts are posed in, one drawn per prompt: en, fr, de, es (one problem, one split "
          "side in every language)");
  v.section("addition", c.addition, "the built-in column addition/subtraction task");
  v.section("arithmetic", c.arithmetic, "the built-in arithmetic task");
  v.section("countdown", c.countdown, "the built-in countdown task");
}

// The training prompts described by `config`; errors name the file:line or the task. Built-in
// tasks yield only problems on the train side of the split.
result<std::unique_ptr<prompt_dataset>> open_dataset(const dataset_config& config, split s = split::train);

// The held-out set: at most `limit` distinct problems, none of them a training problem. Built-in
// tasks draw eval-side problems until `limit` distinct ones are found (or the task's eval share
// runs out); a JSONL eval file loses records whose problem also occurs in the train file, and
// repeats. The counts say what was dropped, so the report can show it.
struct held_out_set {
  std::vector<task_sample> samples;
  std::uint64_t duplicates_dropped = 0;     // repeats of a problem already in the set
  std::uint64_t train_overlap_dropped = 0;  // JSONL records also in the train file
};
result<held_out_set> open_held_out(const dataset_config& config, std::uint64_t limit);

// Parses JSONL text (`origin` names it in errors).
result<std::vector<task_sample>> parse_jsonl(const std::string& text, const std::string& origin,
                                             const std::string& prompt_template);

}  // namespace aha::actors::tasks
