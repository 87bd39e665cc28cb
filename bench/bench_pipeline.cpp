// `aha bench pipeline [CONFIG] [--steps N] [--latency MS] [--set key=value ...]`: the same recipe
// run in sync mode and in async mode with every rollout's grading slowed by a fixed latency (a
// remote sandbox), plus an async run whose graders keep up. Prints rollouts/s (consumed, as
// counted by the learner), the async/sync ratio, the learner's idle fraction and the groups
// dropped as stale; the last line is one JSON object of the figures.
// The latency is added to every accuracy check (rewards.extra_latency), which runs on the
// grader's cpu_workers in parallel; by default it is chosen so that grading a group takes as long
// as generating one ("grading as slow as generation").
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "actors/controller.hpp"
#include "cli/command.hpp"

namespace {

namespace fs = std::filesystem;

struct run_figures {
  double rollouts_per_s = 0;
  double idle_fraction = 0;
  double seconds = 0;
  std::uint64_t dropped_stale = 0;  // groups too stale to train (their prompts were asked again)
};

aha::result<run_figures> run_once(aha::actors::run_config config, const std::string& label, std::ostream& log) {
  config.run.dir = (fs::temp_directory_path() / ("aha-bench-pipeline-" + label + "-" + std::to_string(::getpid()))).string();
  config.run.name = label;
  config.sft.steps = 0;
  config.eval.prompts = 0;
  std::ostringstream quiet;
  auto report = aha::actors::run_training(config, quiet);
  std::error_code ignored;
  fs::remove_all(config.run.dir, ignored);
  if (!report) return report.error();
  log << std::left << std::setw(22) << label << std::right << std::setw(8) << report->grpo_steps << std::setw(14)
      << std::fixed << std::setprecision(1) << report->rollouts_per_second << std::setw(14) << std::setprecision(3)
      << report->learner_idle_fraction << std::setw(10) << std::setprecision(1) << report->grpo_seconds << std::setw(9) << report->dropped_stale << "\n";
  return run_figures{report->rollouts_per_second, report->learner_idle_fraction, report->grpo_seconds,
                     report->dropped_stale};
}

int bench_pipeline(aha::cli::arguments& args) {
  auto overrides = args.options("--set");
  auto steps = args.option("--steps");
  auto latency = args.option("--latency");
  auto positional = args.positionals();
  if (auto unknown = args.unknown_options(); !unknown.empty()) return aha::cli::usage_error("bench pipeline", unknown);
  std::string recipe = positional.empty() ? std::string(AHA_SOURCE_DIR) + "/configs/tiny_r1.toml" : positional[0];
  overrides.push_back("grpo.learner.steps=" + steps.value_or("12"));
  auto config = aha::config::load<aha::actors::run_config>(recipe, overrides);
  if (!config) {
    std::cerr << config.error().message << "\n";
    return 2;
  }
  std::cout << std::left << std::setw(22) << "run" << std::right << std::setw(8) << "steps" << std::setw(14)
            << "rollouts/s" << std::setw(14) << "learner idle" << std::setw(10) << "seconds" << std::setw(9) << "stale" << "\n";
  // 1. Graders that keep up: the async pipeline's learner should rarely wait.
  auto keeping_up = *config;
  keeping_up.run.mode = aha::actors::run_mode::async;
  auto fast = run_once(keeping_up, "async, fast grading", std::cout);
  if (!fast) return std::cerr << fast.error().message << "\n", 1;
  // 2. Grading as slow as generation (per group of G rollouts), unless given.
  double generation_ms_per_group =
      1000.0 / std::max(1e-9, fast->rollouts_per_s / static_cast<double>(config->generator.group_size));
  // G checks per group spread over cpu_workers: group grading time = latency x G / workers.
  double latency_ms = latency ? std::stod(*latency)
                              : generation_ms_per_group * config->grader.cpu_workers / config->generator.group_size;
  auto slowed = *config;
  slowed.grader.rewards.extra_latency = std::chrono::milliseconds(static_cast<std::int64_t>(latency_ms));
  // The simulated remote grader has one concurrency for every task: batched checkers (countdown)
  // get the cpu pool's worker count, else their many cheap workers would hide the latency.
  slowed.grader.checker_workers = slowed.grader.cpu_workers;
  auto sync_config = slowed;
  sync_config.run.mode = aha::actors::run_mode::sync;
  auto sync = run_once(sync_config, "sync, slow grading", std::cout);
  if (!sync) return std::cerr << sync.error().message << "\n", 1;
  slowed.run.mode = aha::actors::run_mode::async;
  auto async = run_once(slowed, "async, slow grading", std::cout);
  if (!async) return std::cerr << async.error().message << "\n", 1;
  double ratio = async->rollouts_per_s / std::max(1e-9, sync->rollouts_per_s);
  std::cout << "grading latency " << std::setprecision(1) << latency_ms << " ms per rollout; async/sync throughput "
            << std::setprecision(2) << ratio << "x; learner idle with fast grading " << std::setprecision(3)
            << fast->idle_fraction << "\n";
  nlohmann::json figures{{"async_over_sync", ratio},
                         {"learner_idle_fraction", fast->idle_fraction},
                         {"sync_rollouts_per_s", sync->rollouts_per_s},
                         {"async_rollouts_per_s", async->rollouts_per_s},
                         {"fast_async_rollouts_per_s", fast->rollouts_per_s},
                         {"grading_latency_ms", latency_ms},
                         {"dropped_stale", {{"sync", sync->dropped_stale}, {"async", async->dropped_stale},
                                            {"fast_async", fast->dropped_stale}}}};
  std::cout << figures.dump() << "\n";
  return 0;
}

}  // namespace

AHA_COMMAND("bench pipeline", "async vs sync throughput with slow grading, and the learner's idle fraction",
            bench_pipeline);
