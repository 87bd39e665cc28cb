// Supervision of the whole run (actors/supervision/, the GRPO stage of actors/controller.cpp),
// with the named fault points of core/fault_point.hpp: a learner blocked inside a step is named
// by the watchdog, and the run either stops with that name (on_stall = stop) or goes on and
// finishes (on_stall = log); a generator that crashes on every batch is restarted with backoff
// and then given up on, with a clear error instead of restarting forever.

#include <atomic>
#include <chrono>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "actors/controller.hpp"
#include "core/fault_point.hpp"
#include "core/test_skip.hpp"
#include "tests/tiny_run.hpp"

// LibTorch pulls in glog, whose CHECK would replace Catch2's: include Catch2 last.
#undef CHECK
#include <catch2/catch.hpp>

namespace fs = std::filesystem;
using aha::actors::run_config;

namespace {

run_config supervised_run(const std::string& name, std::vector<std::string> overrides) {
  overrides.insert(overrides.end(), {"sft.steps=0", "grpo.optimizer.total_steps=6", "supervision.watch_every=100ms",
                                     "supervision.stall_after=1s"});
  auto config = aha::testing::tiny_run_config("supervision-" + name, overrides);
  REQUIRE(config.ok());
  return *config;
}

// Blocks the thread that reaches `point` once, for `how_long` (an actor stuck in a call).
void block_once(const std::string& point, std::chrono::milliseconds how_long, int skip) {
  auto fired = std::make_shared<std::atomic<bool>>(false);
  aha::fault::arm(
      point,
      [fired, how_long] {
        if (!fired->exchange(true)) std::this_thread::sleep_for(how_long);
      },
      skip);
}

}  // namespace

TEST_CASE("supervision: a learner stuck in a step is named by the watchdog and the run stops, resumable",
          "[integration]") {
  if (!aha::fault::kCompiledIn) AHA_SKIP("fault points are compiled out (AHA_FAULT_POINTS=OFF)");
  auto config = supervised_run("stop", {"grpo.learner.steps=6", "supervision.on_stall=stop"});
  block_once("learner.after_consume", std::chrono::milliseconds(4000), 1);
  std::ostringstream log;
  auto report = aha::actors::run_training(config, log);
  aha::fault::disarm_all();
  INFO(log.str());
  REQUIRE_FALSE(report.ok());
  CHECK_THAT(report.error().message, Catch::Contains("watchdog: learner: has not answered for"));
  CHECK_THAT(report.error().message, Catch::Contains("--resume"));
  CHECK_THAT(log.str(), Catch::Contains("watchdog: learner: has not answered for"));

  // The checkpoint it left resumes: the run finishes with every step.
  config.run.resume = true;
  std::ostringstream resumed_log;
  auto resumed = aha::actors::run_training(config, resumed_log);
  INFO(resumed_log.str());
  REQUIRE(resumed.ok());
  CHECK(resumed->grpo_steps == 6);
  fs::remove_all(config.run.dir);
}

TEST_CASE("supervision: with on_stall = log a stall is reported and counted, and the run finishes", "[integration]") {
  if (!aha::fault::kCompiledIn) AHA_SKIP("fault points are compiled out (AHA_FAULT_POINTS=OFF)");
  auto config = supervised_run("log", {"grpo.learner.steps=4", "supervision.on_stall=log"});
  block_once("learner.after_consume", std::chrono::milliseconds(2500), 1);
  std::ostringstream log;
  auto report = aha::actors::run_training(config, log);
  aha::fault::disarm_all();
  INFO(log.str());
  REQUIRE(report.ok());
  CHECK(report->grpo_steps == 4);
  CHECK(report->stalls >= 1);
  CHECK_THAT(log.str(), Catch::Contains("watchdog: learner: has not answered for"));
  fs::remove_all(config.run.dir);
}

TEST_CASE("supervision: a generator that crashes on every batch is restarted with backoff, then given up on",
          "[integration]") {
  if (!aha::fault::kCompiledIn) AHA_SKIP("fault points are compiled out (AHA_FAULT_POINTS=OFF)");
  auto config = supervised_run("crashloop", {"grpo.learner.steps=4", "supervision.max_restarts=2",
                                             "supervision.restart_backoff=50ms", "supervision.stall_after=60s"});
  aha::fault::arm("generator.before_hand_over", [] { throw std::runtime_error("injected: generation always fails"); });
  std::ostringstream log;
  auto report = aha::actors::run_training(config, log);
  aha::fault::disarm_all();
  INFO(log.str());
  REQUIRE_FALSE(report.ok());
  CHECK_THAT(report.error().message, Catch::Contains("generator/0 died 3 times within supervision.restart_window"));
  CHECK_THAT(log.str(), Catch::Contains("a replacement starts in 50 ms"));
  CHECK_THAT(log.str(), Catch::Contains("a replacement starts in 100 ms"));  // the backoff doubles
  fs::remove_all(config.run.dir);
}
