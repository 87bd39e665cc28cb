// Tests of the built-in rewards wired to the real implementations: math verifier for arithmetic,
// the R1 format reward, and the countdown checker run in the real sandbox pool (a correct answer,
// a wrong one, and attempts to cheat). Also the built-in grader end to end on both tasks.
#include <catch2/catch.hpp>

#include <filesystem>
#include <unistd.h>

#include "actors/actor_test_support.hpp"
#include "actors/grader.hpp"
#include "actors/replay_buffer.hpp"
#include "actors/tasks/arithmetic.hpp"
#include "actors/tasks/countdown.hpp"
#include "sandbox/pool.hpp"

using namespace aha;
using namespace aha::actors;

namespace {

std::shared_ptr<sandbox::pool> small_pool() {
  sandbox::sandbox_config config;
  config.workers = 2;
  auto created = sandbox::pool::create(config);
  if (!created) FAIL("sandbox unavailable: " << created.error().message);
  return std::shared_ptr<sandbox::pool>(std::move(*created));
}

const reward_spec& spec_named(const std::vector<reward_spec>& specs, const std::string& name) {
  for (const auto& s : specs) {
    if (s.name == name) return s;
  }
  FAIL("no reward named " << name);
  return specs.front();
}

protocol::rollout completion(const std::string& text) {
  protocol::rollout r;
  r.completion_text = text;
  return r;
}

}  // namespace

TEST_CASE("built-in rewards: arithmetic by the math verifier, format by the R1 template") {
  auto specs = make_builtin_rewards(reward_config{}, small_pool());
  REQUIRE(specs.ok());
  auto sample = tasks::arithmetic_sample({}, 1, tasks::split::train, 0);
  const auto& accuracy = spec_named(*specs, "accuracy.math");
  CHECK(accuracy.applies_to("arithmetic"));
  CHECK(!accuracy.applies_to("countdown"));
  CHECK(accuracy.fn(sample.prompt, completion(sample.demonstration)).value == 1.0f);
  CHECK(accuracy.fn(sample.prompt, completion("<think>no</think><answer>" + sample.prompt.gold + "1</answer>")).value == 0.0f);
  const auto& format = spec_named(*specs, "format");
  CHECK(format.fn(sample.prompt, completion(sample.demonstration)).value == 1.0f);
  CHECK(format.fn(sample.prompt, completion("19")).value == 0.0f);
  reward_config bad;
  bad.format_mode = "loose";
  CHECK(!make_builtin_rewards(bad, nullptr).ok());
  auto without = make_builtin_rewards(reward_config{}, nullptr, "no user namespaces");
  REQUIRE(without.ok());
  auto verdict = spec_named(*without, "accuracy.countdown").fn(sample.prompt, completion("<answer>1</answer>"));
  CHECK(verdict.status == protocol::verdict_status::error);
  CHECK(verdict.detail.find("no user namespaces") != std::string::npos);
}

TEST_CASE("built-in rewards: countdown answers are checked by a program in the sandbox") {
  auto specs = make_builtin_rewards(reward_config{}, small_pool());
  REQUIRE(specs.ok());
  const auto& accuracy = spec_named(*specs, "accuracy.countdown");
  CHECK(accuracy.pool == "checker");
  auto sample = tasks::countdown_sample({}, 1, tasks::split::train, 0);
  auto right = accuracy.fn(sample.prompt, completion(sample.demonstration));
  INFO(sample.prompt.text << " " << sample.demonstration << " -> " << right.detail);
  CHECK(right.status == protocol::verdict_status::ok);
  CHECK(right.value == 1.0f);
  protocol::prompt p;
  p.task = "countdown";
  p.tests = R"({"numbers":[3,5,7],"target":22})";
  p.gold = "22";
  CHECK(accuracy.fn(p, completion("<answer>3*5+7</answer>")).value == 1.0f);
  CHECK(accuracy.fn(p, completion("<answer>3*7+5</answer>")).value == 0.0f);       // 26
  CHECK(accuracy.fn(p, completion("<answer>22</answer>")).value == 0.0f);          // 22 not offered
  CHECK(accuracy.fn(p, completion("<answer>__import__('os').system('true')</answer>")).value == 0.0f);
  CHECK(accuracy.fn(p, completion("3*5+7")).value == 0.0f);                        // no <answer>
}

TEST_CASE("built-in grader: arithmetic and countdown groups end to end, stored in the replay buffer") {
  caf::actor_system_config cfg;
  add_message_types(cfg);
  cfg.set("scheduler.max-threads", 2);
  caf::actor_system sys{cfg};
  auto dir = (std::filesystem::temp_directory_path() / ("aha_builtin_grader_" + std::to_string(::getpid()))).string();
  std::filesystem::remove_all(dir);
  replay_buffer_config rc;
  rc.dir = dir;
  auto replay = spawn_replay_buffer(sys, rc);
  REQUIRE(replay.ok());
  grader_config config;
  config.sandbox.workers = 2;
  auto grader = spawn_builtin_grader(sys, config, *replay);
  REQUIRE(grader.ok());
  caf::scoped_actor self{sys};
  for (auto sample : {tasks::arithmetic_sample({}, 2, tasks::split::eval, 1), tasks::countdown_sample({}, 2, tasks::split::eval, 1)}) {
    std::vector<protocol::rollout> group = {completion(sample.demonstration), completion("<think>?</think><answer>0</answer>")};
    group[1].sample_index = 1;
    bool answered = false;
    self->request(*grader, std::chrono::seconds(60), grade_atom::value, sample.prompt, group)
        .receive(
            [&](const protocol::scored_group& g) {
              answered = true;
              INFO(sample.prompt.text);
              CHECK(g.rewards.at(0) == Approx(1.1f));  // accuracy 1 + 0.1 * format 1
              CHECK(g.rewards.at(1) == Approx(0.1f));
              CHECK(g.group_id > 0);
            },
            [&](const caf::error& e) { FAIL(describe(e)); });
    CHECK(answered);
  }
  self->send_exit(*grader, caf::exit_reason::user_shutdown);
  self->send_exit(*replay, caf::exit_reason::user_shutdown);
  std::filesystem::remove_all(dir);
}
