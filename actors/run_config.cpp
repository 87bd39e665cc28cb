// Derived settings of a run (actors/run_config.hpp).
#include "actors/run_config.hpp"

#include <thread>

namespace aha::actors {

std::vector<std::string> resolve(run_config& config) {
  std::vector<std::string> notes;
  if (config.run.dir.empty()) {
    config.run.dir = "runs/" + config.run.name;
    notes.push_back("run.dir = \"" + config.run.dir + "\" (from run.name)");
  }
  if (config.run.mode == run_mode::sync && config.run.max_staleness != 0) {
    config.run.max_staleness = 0;
    notes.push_back("run.max_staleness = 0 (mode = \"sync\" alternates strictly)");
  }
  // run.seed seeds everything, the built-in data included, unless a data seed is set.
  if (config.prompts.dataset.seed == 0) {
    config.prompts.dataset.seed = config.run.seed;
    notes.push_back("prompts.dataset.seed = " + std::to_string(config.run.seed) + " (run.seed)");
  }
  if (config.prompts.shuffle_seed == 0) {
    config.prompts.shuffle_seed = config.run.seed;
    notes.push_back("prompts.shuffle_seed = " + std::to_string(config.run.seed) + " (run.seed)");
  }
  if (config.run.threads == 0) {
    config.run.threads = std::max(1u, std::thread::hardware_concurrency());
    notes.push_back("run.threads = " + std::to_string(config.run.threads) + " (the number of cores)");
  }
  if (config.grpo.optimizer.total_steps == 0 && config.grpo.learner.steps > 0) {
    config.grpo.optimizer.total_steps = static_cast<std::int64_t>(config.grpo.learner.steps);
    notes.push_back("grpo.optimizer.total_steps = " + std::to_string(config.grpo.learner.steps) + " (grpo.learner.steps)");
  }
  if (config.sft.optimizer.total_steps == 0 && config.sft.steps > 0) {
    config.sft.optimizer.total_steps = static_cast<std::int64_t>(config.sft.steps);
    notes.push_back("sft.optimizer.total_steps = " + std::to_string(config.sft.steps) + " (sft.steps)");
  }
  return notes;
}

}  // namespace aha::actors
