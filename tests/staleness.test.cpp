// The staleness bound over whole runs (actors/rollout_gate.hpp, actors/controller.hpp): a grader
// that holds some groups until many later ones are stored forces stale drops, and the run still
// completes with the gate's books balanced; a resume with many rewound groups (and groups newer
// than the checkpoint) completes and never trains on a group newer than its learner; config
// combinations the gate could never admit are refused with one line naming the key.
// Deterministic in what is checked: the held groups are released by a count of commits, not a
// clock; the only timeouts are hang guards.

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "actors/controller.hpp"
#include "actors/replay_store.hpp"
#include "core/fault_point.hpp"
#include "tests/tiny_run.hpp"

// LibTorch pulls in glog, whose CHECK would replace Catch2's: include Catch2 last.
#undef CHECK
#include <catch2/catch.hpp>

namespace fs = std::filesystem;
using aha::actors::run_config;

namespace {

run_config tiny_run(const std::string& name, std::vector<std::string> overrides) {
  overrides.push_back("sft.steps=0");
  overrides.push_back("eval.prompts=0");  // reward workers grade only GRPO groups (the hold counts their hits)
  auto config = aha::testing::tiny_run_config("staleness-" + name, overrides);
  REQUIRE(config.ok());
  return *config;
}

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

// No slot leaked or made up: what entered the gate left it or is still in flight.
void check_gate_books(const nlohmann::json& gate) {
  INFO(gate.dump());
  CHECK(gate["unmatched"] == 0);
  CHECK(gate["preexisting"].get<std::uint64_t>() + gate["granted"].get<std::uint64_t>() ==
        gate["consumed"].get<std::uint64_t>() + gate["dropped"].get<std::uint64_t>() +
            gate["released"].get<std::uint64_t>() + gate["in_flight"].get<std::uint64_t>());
}

// A grader that is sometimes far slower than the rest: one reward task at a time (the first at
// least `every` hits after the last hold) waits until `overtakers` more commits reached the replay
// buffer, or a hang guard passes. The other reward worker keeps grading meanwhile.
struct slow_grader {
  std::mutex mutex;
  std::condition_variable changed;
  std::uint64_t commits = 0;
  int hits = 0;
  int next_hold = 3;
  int holds = 0;
  bool holding = false;
  int holds_released = 0;  // holds that ended because the overtakers were stored

  int holds_timed_out = 0;  // holds that ended at the guard

  void arm(int max_holds, int every, std::uint64_t overtakers,
           std::chrono::milliseconds guard = std::chrono::seconds(30)) {
    aha::fault::arm("replay.after_commit", [this] {
      std::lock_guard<std::mutex> lock(mutex);
      ++commits;
      changed.notify_all();
    });
    aha::fault::arm("reward_worker.crash", [this, max_holds, every, overtakers, guard] {
      std::unique_lock<std::mutex> lock(mutex);
      if (++hits < next_hold || holding || holds >= max_holds) return;
      holding = true;
      ++holds;
      const std::uint64_t target = commits + overtakers;
      if (changed.wait_for(lock, guard, [&] { return commits >= target; })) {
        ++holds_released;
      } else {
        ++holds_timed_out;
      }
      holding = false;
      next_hold = hits + every;
    });
  }
  int released() {
    std::lock_guard<std::mutex> lock(mutex);
    return holds_released;
  }
  int timed_out() {
    std::lock_guard<std::mutex> lock(mutex);
    return holds_timed_out;
  }
};

}  // namespace

TEST_CASE("staleness: a grader slow on some groups forces stale drops when the learner does not wait, and the run "
          "completes with no slot leaked",
          "[integration]") {
#ifndef AHA_FAULT_POINTS
  FAIL("this test needs fault points (configure with AHA_FAULT_POINTS=ON)");
#else
  // eta = 1, B = 2: a window of 4 groups. Before the fix each stale drop kept its slot, and three
  // drops wedged this run until run.max_wall. expiring_wait = 0: the learner trains what is ready.
  auto config = tiny_run("slow-grader", {"grpo.learner.steps=40", "run.max_staleness=1", "run.max_wall=180s",
                                         "grpo.learner.expiring_wait=0s", "grader.rewards.math_deadline=60s",
                                         "grader.rewards.cheap_deadline=60s"});
  slow_grader grader;
  grader.arm(4, 40, 10);  // four held groups, each overtaken by >= 10 stored groups (>= 3 versions)
  std::ostringstream log;
  auto report = aha::actors::run_training(config, log);
  aha::fault::disarm_all();
  INFO(log.str());
  REQUIRE(report.ok());
  CHECK(report->grpo_steps == 40);
  REQUIRE(grader.released() == 4);
  CHECK(report->dropped_stale >= 4);  // each held group came back more than eta versions old
  auto json = read_json(fs::path(config.run.dir) / "report.json");
  CHECK(json["dropped_stale"] == report->dropped_stale);
  check_gate_books(json["gate"]);
  CHECK(json["gate"]["dropped"] == report->dropped_stale);
  CHECK(json["gate"]["consumed"] == 40 * 2);
  CHECK(json["gate"]["in_flight"].get<std::uint64_t>() <= json["gate"]["window"].get<std::uint64_t>());
  CHECK(report->rollouts_consumed == 40 * 2 * 4);
  // The dropped groups' prompts were asked again.
  auto cursor = read_json(fs::path(config.run.dir) / config.prompts.state_file);
  CHECK(cursor["requeued"].get<std::uint64_t>() >= report->dropped_stale);
  fs::remove_all(config.run.dir);
#endif
}

TEST_CASE("staleness: the learner waits for a group graded late instead of training past it, and drops nothing",
          "[integration]") {
#ifndef AHA_FAULT_POINTS
  FAIL("this test needs fault points (configure with AHA_FAULT_POINTS=ON)");
#else
  // The same slow grader, but the learner waits for groups that would age out (generously here:
  // the holds end at a 2 s guard, since the window stops the 10 overtakers from ever being stored).
  auto config = tiny_run("late-group", {"grpo.learner.steps=40", "run.max_staleness=1", "run.max_wall=180s",
                                        "grpo.learner.expiring_wait=120s", "grader.rewards.math_deadline=60s",
                                        "grader.rewards.cheap_deadline=60s"});
  slow_grader grader;
  grader.arm(4, 40, 10, std::chrono::seconds(2));
  std::ostringstream log;
  auto report = aha::actors::run_training(config, log);
  aha::fault::disarm_all();
  INFO(log.str());
  REQUIRE(report.ok());
  CHECK(report->grpo_steps == 40);
  CHECK(grader.timed_out() == 4);  // every held group was waited for: nothing overtook it by 10
  CHECK(grader.released() == 0);
  CHECK(report->dropped_stale == 0);
  auto json = read_json(fs::path(config.run.dir) / "report.json");
  check_gate_books(json["gate"]);
  CHECK(json["gate"]["consumed"] == 40 * 2);
  // Nothing trained was more than eta versions old, and the learner never gave up waiting.
  std::ifstream metrics(fs::path(config.run.dir) / "metrics.jsonl");
  int grpo_lines = 0;
  for (std::string line; std::getline(metrics, line);) {
    auto m = nlohmann::json::parse(line);
    if (!m.contains("learner/expiring_give_ups")) continue;
    ++grpo_lines;
    CHECK(m["learner/expiring_give_ups"] == 0);
    for (auto& [key, value] : m.items()) {
      if (key.rfind("staleness/", 0) == 0) CHECK(std::stoi(key.substr(10)) <= 1);
    }
  }
  CHECK(grpo_lines == 40);
  fs::remove_all(config.run.dir);
#endif
}

TEST_CASE("staleness: a resume with many rewound groups, some newer than the checkpoint, completes within the bound",
          "[integration]") {
#ifndef AHA_FAULT_POINTS
  FAIL("this test needs fault points (configure with AHA_FAULT_POINTS=ON)");
#else
  // No GRPO checkpoint before the crash: every group of the crashed run is rewound, most made by
  // weights (versions 1..9) that the resumed run, starting again at version 0, never had.
  auto config = tiny_run("rewound", {"grpo.learner.steps=12", "grpo.learner.checkpoint_every=1000",
                                     "run.max_staleness=1", "run.max_wall=180s"});
  const fs::path dir = config.run.dir;
  aha::fault::arm("learner.after_consume", [] { throw std::runtime_error("injected fault at learner.after_consume"); },
                  9);
  std::ostringstream crash_log;
  auto crashed = aha::actors::run_training(config, crash_log);
  aha::fault::disarm_all();
  INFO(crash_log.str());
  REQUIRE_FALSE(crashed.ok());

  config.run.resume = true;
  std::ostringstream log;
  auto resumed = aha::actors::run_training(config, log);
  INFO(log.str());
  REQUIRE(resumed.ok());
  CHECK(resumed->grpo_steps == 12);
  CHECK_THAT(log.str(), Catch::Contains("20 of them consumed after the checkpoint"));
  CHECK_THAT(log.str(), Catch::Contains("re-based to it"));
  auto json = read_json(dir / "report.json");
  check_gate_books(json["gate"]);
  CHECK(json["gate"]["preexisting"].get<std::uint64_t>() >= 20);  // leftovers retired through the gate
  CHECK(json["gate"]["consumed"] == 12 * 2);

  // Every group consumed after the resume was made (per the index) by a version no newer than the
  // learner that consumed it, and at most eta older: version == step in this run.
  aha::actors::replay_store_options options;
  options.dir = (dir / config.replay.dir).string();
  options.read_only = true;
  auto store = aha::actors::replay_store::open(options);
  REQUIRE(store.ok());
  std::uint64_t consumed = 0;
  for (const auto& [id, entry] : (*store)->entries()) {
    if (!entry.consumed) continue;
    ++consumed;
    INFO("group " << id << " version " << entry.weight_version << " consumed at step " << entry.consumed_step);
    CHECK(entry.weight_version <= entry.consumed_step);
    CHECK(entry.consumed_step - entry.weight_version <= 1);
  }
  CHECK(consumed == 12 * 2);
  fs::remove_all(dir);
#endif
}

TEST_CASE("staleness: configs the gate could never admit, or GRPO at temperature 0, are refused by key",
          "[integration]") {
  auto config = tiny_run("config", {"grpo.learner.steps=1"});
  REQUIRE(aha::actors::validate(config).ok());

  auto big = config;
  big.generator.prompts_per_batch = 5;  // window: 2 x (1 + 1) = 4
  big.generator.max_outstanding_groups = 8;
  auto refused = aha::actors::validate(big);
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.error().message,
             Catch::Contains("generator.prompts_per_batch = 5") && Catch::Contains("use at most 4"));

  auto few = config;
  few.generator.max_outstanding_groups = 1;
  refused = aha::actors::validate(few);
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.error().message, Catch::Contains("generator.max_outstanding_groups = 1"));

  auto greedy = config;
  greedy.generator.temperature = 0;
  refused = aha::actors::validate(greedy);
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.error().message, Catch::Contains("generator.temperature") && Catch::Contains("> 0"));
  std::ostringstream log;
  auto run = aha::actors::run_training(greedy, log);  // refused before anything runs
  REQUIRE_FALSE(run.ok());
  CHECK_FALSE(fs::exists(greedy.run.dir));

  greedy.grpo.learner.steps = 0;  // no GRPO: nothing trains at that temperature
  CHECK(aha::actors::validate(greedy).ok());

  int recipes = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(AHA_SOURCE_DIR) / "configs")) {
    if (entry.path().extension() != ".toml") continue;
    INFO(entry.path().string());
    auto recipe = aha::config::load<run_config>(entry.path().string(), {});
    REQUIRE(recipe.ok());
    aha::actors::resolve(*recipe);
    CHECK(aha::actors::validate(*recipe).ok());
    for (auto mode : {"sync", "async"}) {
      recipe->run.mode = std::string(mode) == "sync" ? aha::actors::run_mode::sync : aha::actors::run_mode::async;
      auto again = *recipe;
      aha::actors::resolve(again);
      CHECK(aha::actors::validate(again).ok());
    }
    ++recipes;
  }
  CHECK(recipes >= 2);
}
