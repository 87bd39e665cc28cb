// The small whole run of the tests in tests/ (resume, cluster): the built-in tiny model on
// arithmetic only, short completions, a small eval; a few seconds per run on two cores.
// Not a recipe for users (those are configs/*.toml).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <unistd.h>

#include "actors/run_config.hpp"

namespace aha::testing {

// Its sections (a recipe may append more after them, e.g. [[stages]]).
inline constexpr const char* kTinyRunToml = R"(
[run]
seed = 3
threads = 1
max_wall = "5m"
[prompts.dataset]
tasks = ["arithmetic"]
eval_size = 8
[generator]
group_size = 4
prompts_per_batch = 2
max_new_tokens = 16
[sft]
batch_size = 8
[grpo.learner]
groups_per_step = 2
checkpoint_every = 2
[eval]
prompts = 4
max_new_tokens = 16
[metrics]
progress = false
)";

// The run in a fresh folder <tmp>/aha-<name>-<pid>; `overrides` as with --set.
inline result<actors::run_config> tiny_run_config(const std::string& name, std::vector<std::string> overrides) {
  namespace fs = std::filesystem;
  const std::string dir = (fs::temp_directory_path() / ("aha-" + name + "-" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  overrides.insert(overrides.begin(), "run.dir=" + dir);
  return config::load_string<actors::run_config>(kTinyRunToml, overrides);
}

}  // namespace aha::testing
