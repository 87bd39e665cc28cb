// Crash tests of the whole run (issue 12): a process killed between the replay buffer's commit
// and the prompt cursor's save must not ask that prompt again after --resume (the fault point
// replay.after_commit stands in for the kill, deterministically); and `aha bench crash`, the
// SIGKILL harness, run short: 5 seeded kills, each life resumed, the audit finding no prompt lost
// and none duplicated, and a final checkpoint with every step. Timing only as a hang guard.

#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "actors/controller.hpp"
#include "actors/replay_store.hpp"
#include "core/fault_point.hpp"
#include "core/test_skip.hpp"
#include "tests/tiny_run.hpp"

// LibTorch pulls in glog, whose CHECK would replace Catch2's: include Catch2 last.
#undef CHECK
#include <catch2/catch.hpp>

namespace fs = std::filesystem;

namespace {

// Prompt id -> how many live groups (consumed or trainable) the run's replay store holds for it
// (read-only open). A group dropped as too stale is not its prompt's group: the prompt is asked
// again by design, and the drop is persisted in the store (replay_entry::dropped).
std::map<std::uint64_t, int> groups_per_prompt(const aha::actors::run_config& config) {
  aha::actors::replay_store_options options;
  options.dir = (fs::path(config.run.dir) / config.replay.dir).string();
  options.read_only = true;
  auto store = aha::actors::replay_store::open(options);
  REQUIRE(store.ok());
  std::map<std::uint64_t, int> out;
  for (const auto& [id, entry] : (*store)->entries()) {
    if (entry.dropped) continue;
    auto group = (*store)->get(id);
    REQUIRE(group.ok());
    ++out[group->source.id];
  }
  return out;
}

// Runs a command, returns its stdout.
std::string run_command(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  ::pclose(pipe);
  return out;
}

}  // namespace

TEST_CASE("crash: a group committed just before a crash is not asked for again on resume", "[integration]") {
  if (!aha::fault::kCompiledIn) AHA_SKIP("fault points are compiled out (AHA_FAULT_POINTS=OFF)");
  auto config = aha::testing::tiny_run_config("crash-after-commit", {"sft.steps=0", "grpo.learner.steps=6",
                                                                     "grpo.optimizer.total_steps=6"});
  REQUIRE(config.ok());
  // The fourth commit reaches RocksDB, then the replay buffer dies before the prompt source hears
  // that the group is stored: on disk, the state a SIGKILL at that moment leaves.
  auto fired = std::make_shared<std::atomic<bool>>(false);
  aha::fault::arm(
      "replay.after_commit",
      [fired] {
        if (!fired->exchange(true)) throw std::runtime_error("injected fault at replay.after_commit");
      },
      3);
  std::ostringstream log;
  auto crashed = aha::actors::run_training(*config, log);
  aha::fault::disarm_all();
  INFO(log.str());
  REQUIRE(fired->load());
  REQUIRE_FALSE(crashed.ok());
  const auto before = groups_per_prompt(*config);

  config->run.resume = true;
  std::ostringstream resumed_log;
  auto resumed = aha::actors::run_training(*config, resumed_log);
  INFO(resumed_log.str());
  REQUIRE(resumed.ok());
  CHECK(resumed->grpo_steps == 6);
  CHECK_THAT(resumed_log.str(), Catch::Contains("resume: prompt cursor"));
  // Every prompt that had a group at the crash still has exactly that one.
  const auto after = groups_per_prompt(*config);
  for (const auto& [prompt, groups] : before) {
    INFO("prompt " << prompt);
    CHECK(groups == 1);
    CHECK(after.at(prompt) == 1);
  }
  for (const auto& [prompt, groups] : after) {
    INFO("prompt " << prompt);
    CHECK(groups == 1);
  }
  fs::remove_all(config->run.dir);
}

TEST_CASE("crash: `aha bench crash` with 5 seeded SIGKILLs loses no prompt and duplicates none", "[integration]") {
  // About 30 s on two cores; the tests' CTest TIMEOUT is the hang guard.
  const auto output = run_command(std::string(AHA_BINARY) + " bench crash --kills 5 --seed 2 2>&1");
  INFO(output);
  std::istringstream lines(output);
  std::string last;
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.front() == '{') last = line;
  }
  auto figures = nlohmann::json::parse(last, nullptr, false);
  REQUIRE(figures.is_object());
  CHECK(figures["finished"] == true);
  CHECK(figures["kills"] == 5);
  CHECK(figures["resumes"].get<int>() >= 5);
  CHECK(figures["lost"] == 0);
  CHECK(figures["duplicated"] == 0);
  // Dropped groups are marked in the store and not counted as their prompt's: no prompt may have
  // two live groups unless both were trained (then it is duplicated, above).
  CHECK(figures["stored_twice"] == 0);
  CHECK(figures["trained_twice"] == 0);
  CHECK(figures["short_steps"] == 0);
  CHECK(figures["checkpoint_ok"] == true);
  CHECK(figures["scheduled"].get<int>() >= figures["consumed_groups"].get<int>());
}
