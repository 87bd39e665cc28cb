// Deterministic tests of the watchdog (CAF test coordinator, a clock advanced by hand): a part
// that holds work without progress is named once with what it holds, a silent actor is named as
// not answering, progress re-arms the report, and idle or progressing actors are never named.
#include <catch2/catch.hpp>

#include <memory>

#include "actors/actor_test_support.hpp"
#include "actors/supervision/watchdog.hpp"

using namespace aha::actors;
using aha::actors::testing::ask;

namespace {

using clock_type = std::chrono::steady_clock;
using set_atom = caf::atom_constant<caf::atom("set")>;

// A watched actor whose progress report the test sets; `silent` ones never answer.
caf::behavior scripted(caf::event_based_actor* self, std::shared_ptr<progress_list> script, bool silent) {
  return {
      [=](progress_atom) -> caf::result<progress_list> {
        if (silent) return self->make_response_promise<progress_list>();  // never delivered
        return *script;
      },
  };
}

// Collects what the watchdog reports.
caf::behavior listener(caf::event_based_actor*, std::shared_ptr<std::vector<stall>> heard) {
  return {[=](stalled_atom, const stall& s) { heard->push_back(s); }};
}

struct watchdog_fixture : testing::deterministic_system {
  std::shared_ptr<clock_type::time_point> now = std::make_shared<clock_type::time_point>(clock_type::now());
  std::shared_ptr<std::vector<stall>> heard = std::make_shared<std::vector<stall>>();
  watchdog_actor dog;
  watchdog_fixture() {
    watchdog_config config;
    config.every = std::chrono::milliseconds(1000);
    config.stall_after = std::chrono::milliseconds(30000);
    config.now = [n = now] { return *n; };
    actors.push_back(sys->spawn(listener, heard));
    dog = spawn_watchdog(*sys, config, actors.back(), metrics_actor{});
    run();
  }
  std::vector<caf::actor> actors;  // every scripted actor, stopped with the fixture
  ~watchdog_fixture() {
    caf::anon_send_exit(dog, caf::exit_reason::user_shutdown);
    for (auto& a : actors) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    run();
  }
  caf::actor scripted_actor(std::shared_ptr<progress_list> script, bool silent) {
    actors.push_back(sys->spawn(scripted, std::move(script), silent));
    return actors.back();
  }
  void watch(const std::string& name, caf::actor who) {
    caf::anon_send(dog, watch_atom::value, name, who);
    run();
  }
  // Advances the clock by `seconds` in probe intervals (each one fires the tick and its probes).
  void pass(int seconds) {
    for (int i = 0; i < seconds; ++i) {
      *now += std::chrono::seconds(1);
      fire_timeouts();
    }
  }
};

progress_report pool(std::uint64_t held, std::uint64_t done) {
  return {"grader pool sandbox", "tasks", held, done, "task 123 (accuracy, prompt 45) on a remote worker, 31 s old"};
}

}  // namespace

TEST_CASE("watchdog: a pool holding tasks without finishing any is named once, with its oldest task") {
  watchdog_fixture f;
  auto script = std::make_shared<progress_list>(progress_list{pool(8, 10)});
  f.watch("grader", f.scripted_actor(script, false));
  f.pass(29);
  CHECK(f.heard->empty());  // not yet stall_after
  f.pass(3);
  REQUIRE(f.heard->size() == 1);
  const auto& s = f.heard->front();
  CHECK(s.watched == "grader");
  CHECK(s.part == "grader pool sandbox");
  CHECK(s.answering);
  CHECK(s.seconds >= 30);
  CHECK(s.line.find("grader pool sandbox: 8 tasks in flight, none done for 3") == 0);
  CHECK(s.line.find("oldest: task 123") != std::string::npos);
  f.pass(60);
  CHECK(f.heard->size() == 1);  // once per stall

  // Progress re-arms it: a later stall is a new report.
  *script = {pool(8, 11)};
  f.pass(2);
  CHECK(f.heard->size() == 1);
  f.pass(35);
  CHECK(f.heard->size() == 2);
  auto stats = ask<std::vector<stall>>(*f.sys, f.dog, stats_atom::value);
  f.run();
  REQUIRE(stats->value);
  CHECK(stats->value->size() == 2);
}

TEST_CASE("watchdog: an actor that does not answer is named as not answering") {
  watchdog_fixture f;
  f.watch("learner", f.scripted_actor(std::make_shared<progress_list>(), true));
  f.pass(29);
  CHECK(f.heard->empty());
  f.pass(3);
  REQUIRE(f.heard->size() == 1);
  CHECK(f.heard->front().watched == "learner");
  CHECK_FALSE(f.heard->front().answering);
  CHECK(f.heard->front().line.find("learner: has not answered for 3") == 0);
  f.pass(60);
  CHECK(f.heard->size() == 1);
}

TEST_CASE("watchdog: idle actors, progressing actors and replaced actors are never named") {
  watchdog_fixture f;
  auto idle = std::make_shared<progress_list>(progress_list{{"learner", "steps", 0, 3, ""}});
  auto busy = std::make_shared<progress_list>(progress_list{pool(8, 0)});
  f.watch("learner", f.scripted_actor(idle, false));  // holds nothing: waits on others
  f.watch("grader", f.scripted_actor(busy, false));
  for (std::uint64_t done = 1; done <= 20; ++done) {
    *busy = {pool(8, done * 3)};  // finishes tasks every 5 s
    f.pass(5);
  }
  CHECK(f.heard->empty());
  *busy = {pool(0, 60)};  // drained
  // A silent actor replaced under the same name before stall_after: the replacement answers.
  f.watch("generator/0", f.scripted_actor(std::make_shared<progress_list>(), true));
  f.pass(10);
  f.watch("generator/0", f.scripted_actor(idle, false));
  f.pass(40);
  CHECK(f.heard->empty());
}

TEST_CASE("watchdog: a run where everyone waits on someone else is named as a run-wide stall, after twice stall_after") {
  watchdog_fixture f;
  auto gate = std::make_shared<progress_list>(progress_list{
      {"rollout gate", "acquires", 0, 12, "an acquire of 2 groups; learner at version 5, 4 of 4 slots in flight"}});
  auto learner = std::make_shared<progress_list>(progress_list{{"learner", "steps", 0, 5, ""}});
  f.watch("rollout gate", f.scripted_actor(gate, false));
  f.watch("learner", f.scripted_actor(learner, false));
  f.pass(55);
  CHECK(f.heard->empty());  // each alone holds nothing: no actor of its own is stalled
  f.pass(10);
  REQUIRE(f.heard->size() == 1);
  CHECK(f.heard->front().watched == "run");
  CHECK(f.heard->front().line.find("no actor finished any work for 6") == 0);
  CHECK(f.heard->front().line.find("rollout gate: an acquire of 2 groups") != std::string::npos);
  f.pass(100);
  CHECK(f.heard->size() == 1);
  *learner = {{"learner", "steps", 0, 6, ""}};  // progress re-arms it
  f.pass(30);
  CHECK(f.heard->size() == 1);
}
