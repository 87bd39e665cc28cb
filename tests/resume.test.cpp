// Resume and supervision tests of the whole run (actors/controller.hpp), with the named fault
// points of core/fault_point.hpp: a learner that dies between a step's consumption and the next
// checkpoint (the state a kill -9 leaves on disk) is resumed with `run.resume` and finishes with
// nothing lost; a generator that dies holding a sampled batch has its prompts re-issued; a new run
// refuses a used run directory; the tiny model's checkpoint loads back for `aha eval`.
// The invariant checked after each run: every prompt ever handed out has a group in the replay
// buffer or waits in the cursor to be re-issued (none lost), and none was handed out twice fresh.

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "actors/checkpoint.hpp"
#include "actors/controller.hpp"
#include "actors/replay_store.hpp"
#include "core/fault_point.hpp"
#include "core/test_skip.hpp"
#include "model/char_tokenizer.hpp"
#include "model/optimizer.hpp"
#include "tests/tiny_run.hpp"

// LibTorch pulls in glog, whose CHECK would replace Catch2's: include Catch2 last.
#undef CHECK
#include <catch2/catch.hpp>

namespace fs = std::filesystem;
using aha::actors::run_config;

namespace {

// A few seconds per run on two cores (tests/tiny_run.hpp).
run_config tiny_run(const std::string& name, std::uint64_t sft_steps, std::uint64_t grpo_steps) {
  auto config = aha::testing::tiny_run_config("resume-" + name, {"sft.steps=" + std::to_string(sft_steps),
                                                                  "grpo.learner.steps=" + std::to_string(grpo_steps),
                                                                  "grpo.optimizer.total_steps=" + std::to_string(grpo_steps)});
  REQUIRE(config.ok());
  return *config;
}

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

struct replay_view {
  std::map<std::uint64_t, aha::actors::replay_entry> entries;
  std::map<std::uint64_t, std::uint64_t> prompt_of;  // group id -> prompt id
  std::uint64_t learner_step = 0;
};

replay_view read_replay(const run_config& config) {
  aha::actors::replay_store_options options;
  options.dir = (fs::path(config.run.dir) / config.replay.dir).string();
  options.read_only = true;
  auto store = aha::actors::replay_store::open(options);
  REQUIRE(store.ok());
  replay_view view;
  view.entries = (*store)->entries();
  view.learner_step = (*store)->learner_step();
  for (const auto& [id, entry] : view.entries) view.prompt_of[id] = (*store)->get(id)->source.id;
  return view;
}

// Every prompt handed out fresh has a group in the replay buffer or waits to be re-issued.
void check_no_prompt_lost(const run_config& config) {
  auto cursor = read_json(fs::path(config.run.dir) / config.prompts.state_file);
  auto replay = read_replay(config);
  std::set<std::uint64_t> accounted;
  for (const auto& [group, prompt] : replay.prompt_of) accounted.insert(prompt);
  for (auto id : cursor["outstanding"].get<std::vector<std::uint64_t>>()) accounted.insert(id);
  std::uint64_t fresh = cursor["issued"].get<std::uint64_t>() - cursor["reissued"].get<std::uint64_t>();
  CHECK(accounted.size() == fresh);
  for (auto id : cursor["stored"].get<std::vector<std::uint64_t>>()) {
    bool has_group = false;
    for (const auto& [group, prompt] : replay.prompt_of) has_group = has_group || prompt == id;
    CHECK(has_group);
  }
}

// Throws from a fault point once, on its (skip+1)-th hit: the actor running there dies.
void arm_once(const std::string& point, int skip) {
  auto fired = std::make_shared<std::atomic<bool>>(false);
  aha::fault::arm(
      point,
      [fired, point] {
        if (!fired->exchange(true)) throw std::runtime_error("injected fault at " + point);
      },
      skip);
}

}  // namespace

TEST_CASE("resume: a run killed after a step's consumption resumes from its checkpoint and loses nothing",
          "[integration]") {
  if (!aha::fault::kCompiledIn) AHA_SKIP("fault points are compiled out (AHA_FAULT_POINTS=OFF)");
  auto config = tiny_run("crash", 4, 5);
  const fs::path dir = config.run.dir;
  std::ostringstream log;
  // Steps 0 and 1 are trained and checkpointed (checkpoint_every = 2); step 2's consumption is
  // durable, then the learner dies before any checkpoint has step 2's weights.
  arm_once("learner.after_consume", 2);
  auto crashed = aha::actors::run_training(config, log);
  aha::fault::disarm_all();
  INFO(log.str());
  REQUIRE_FALSE(crashed.ok());
  CHECK_THAT(crashed.error().message, Catch::Contains("learner"));
  auto state = read_json(dir / "checkpoint" / "trainer_state.json");
  CHECK(state["stage"] == "grpo");
  CHECK(state["grpo_step"] == 2);
  auto before = read_replay(config);
  CHECK(before.learner_step == 2);
  std::set<std::uint64_t> consumed_at_step_2, unconsumed_before;
  for (const auto& [id, entry] : before.entries) {
    if (entry.consumed && entry.consumed_step == 2) consumed_at_step_2.insert(id);
    if (!entry.consumed) unconsumed_before.insert(id);
  }
  CHECK(consumed_at_step_2.size() == 2);
  check_no_prompt_lost(config);

  // A new run may not reuse the directory; --resume continues it.
  std::ostringstream refused_log;
  auto refused = aha::actors::run_training(config, refused_log);
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.error().message, Catch::Contains("--resume"));

  config.run.resume = true;
  std::ostringstream resumed_log;
  auto resumed = aha::actors::run_training(config, resumed_log);
  INFO(resumed_log.str());
  REQUIRE(resumed.ok());
  CHECK(resumed->resumed_from_step == 2);
  CHECK(resumed->grpo_steps == 5);
  CHECK(resumed->sft_steps == 4);  // from the checkpoint: SFT is not run again
  CHECK(resumed_log.str().find("sft step") == std::string::npos);
  state = read_json(dir / "checkpoint" / "trainer_state.json");
  CHECK(state["grpo_step"] == 5);
  CHECK(state["weight_version"] == 5);
  CHECK(state["sft_steps"] == 4);

  // The optimizer continued from its checkpoint: 2 steps before the crash + 3 after.
  aha::model::transformer probe(aha::model::tiny_config(aha::model::char_tokenizer().vocab_size()));
  aha::model::optimizer optimizer(probe->parameters(), {});
  REQUIRE(optimizer.load((dir / "checkpoint" / "optimizer.pt").string()).ok());
  CHECK(optimizer.steps_taken() == 5);

  // The groups step 2 consumed, and every group unconsumed at the crash, were trained after the
  // resume (or, had one gone stale, its prompt was asked again); consumption continued from step 2.
  CHECK_THAT(resumed_log.str(), Catch::Contains("2 of them consumed after the checkpoint"));
  auto after = read_replay(config);
  CHECK(after.learner_step == 4);
  std::map<std::uint64_t, int> groups_per_step;
  for (const auto& [id, entry] : after.entries) groups_per_step[entry.consumed_step] += entry.consumed ? 1 : 0;
  for (std::uint64_t step = 0; step < 5; ++step) CHECK(groups_per_step[step] == 2);  // step 2 once, not twice
  for (auto id : consumed_at_step_2) CHECK(after.entries.at(id).consumed);
  for (auto id : unconsumed_before) {
    bool asked_again = false;
    for (const auto& [other, prompt] : after.prompt_of) asked_again = asked_again || (other > id && prompt == after.prompt_of.at(id));
    CHECK((after.entries.at(id).consumed || asked_again));
  }
  check_no_prompt_lost(config);

  // The tiny model's checkpoint loads back with its character vocabulary.
  std::ostringstream eval_log;
  auto evaluated = aha::actors::run_evaluation(config, (dir / "checkpoint").string(), eval_log);
  INFO(eval_log.str());
  REQUIRE(evaluated.ok());
  CHECK(evaluated->prompts == 4);
  fs::remove_all(dir);
}

TEST_CASE("supervision: a generator that dies holding a batch has its prompts re-issued and the run completes",
          "[integration]") {
  if (!aha::fault::kCompiledIn) AHA_SKIP("fault points are compiled out (AHA_FAULT_POINTS=OFF)");
  auto config = tiny_run("generator", 0, 4);
  std::ostringstream log;
  arm_once("generator.before_hand_over", 1);  // the second batch, sampled, not yet handed to the grader
  auto report = aha::actors::run_training(config, log);
  aha::fault::disarm_all();
  INFO(log.str());
  REQUIRE(report.ok());
  CHECK(report->grpo_steps == 4);
  CHECK(report->generator_restarts == 1);
  CHECK(report->prompts_requeued == config.generator.prompts_per_batch);
  auto cursor = read_json(fs::path(config.run.dir) / config.prompts.state_file);
  CHECK(cursor["requeued"] == config.generator.prompts_per_batch);
  CHECK(cursor["reissued"] >= config.generator.prompts_per_batch);  // handed out again
  check_no_prompt_lost(config);
  fs::remove_all(config.run.dir);
}

TEST_CASE("resume: with nothing to resume, --resume starts a new run", "[integration]") {
  auto config = tiny_run("fresh", 0, 1);
  config.run.resume = true;
  std::ostringstream log;
  auto report = aha::actors::run_training(config, log);
  INFO(log.str());
  REQUIRE(report.ok());
  CHECK(report->grpo_steps == 1);
  CHECK(report->resumed_from_step == 0);
  CHECK_THAT(log.str(), Catch::Contains("starting a new one"));
  fs::remove_all(config.run.dir);
}
