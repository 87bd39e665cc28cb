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

status validate(const run_config& config) {
  std::vector<std::string> problems;
  const bool trains_grpo = config.grpo.learner.steps > 0;
  const auto& gen = config.generator;
  const std::uint64_t window =
      static_cast<std::uint64_t>(config.grpo.learner.groups_per_step) * (std::uint64_t{config.run.max_staleness} + 1);
  if (trains_grpo && gen.prompts_per_batch > window) {
    // The gate admits a batch only when all of it can be consumed within eta: a larger one never is.
    problems.push_back("generator.prompts_per_batch = " + std::to_string(gen.prompts_per_batch) +
                       " is larger than the staleness window grpo.learner.groups_per_step x (run.max_staleness + 1) = " +
                       std::to_string(window) + ": use at most " + std::to_string(window) +
                       ", or raise groups_per_step or max_staleness");
  }
  if (trains_grpo && gen.max_outstanding_groups < gen.prompts_per_batch) {
    problems.push_back("generator.max_outstanding_groups = " + std::to_string(gen.max_outstanding_groups) +
                       " is smaller than generator.prompts_per_batch = " + std::to_string(gen.prompts_per_batch) +
                       ": a generator would never start a batch; use at least " + std::to_string(gen.prompts_per_batch));
  }
  if (trains_grpo && !(gen.temperature > 0)) {
    problems.push_back("generator.temperature = " + std::to_string(gen.temperature) +
                       ": GRPO samples and trains at this temperature and needs it > 0 (e.g. 1.0); "
                       "greedy decoding belongs to eval.temperature = 0");
  }
  for (auto k : config.eval.pass_at) {
    if (k < 1 || k > config.eval.samples) {
      problems.push_back("eval.pass_at holds " + std::to_string(k) + ": each k must be in [1, eval.samples = " +
                         std::to_string(config.eval.samples) + "] (pass@k needs at least k samples per prompt)");
    }
  }
  if (problems.empty()) return ok_status();
  std::string message;
  for (const auto& p : problems) message += (message.empty() ? "" : "\n") + p;
  return make_error(errc::invalid_argument, message);
}

}  // namespace aha::actors
