// Deterministic protocol tests of the grader (CAF test coordinator) with local test-double
// rewards: routing by task and weighted totals, advantages and storage before the reply,
// deadlines as timeout verdicts (and a sandbox run killed at its reward's deadline), a crashed
// worker's task re-queued, and backpressure.
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <stdexcept>
#include <unistd.h>

#include "actors/actor_test_support.hpp"
#include "actors/grader.hpp"
#include "actors/replay_buffer.hpp"
#include "core/fault_point.hpp"
#include "core/test_skip.hpp"
#include "sandbox/pool.hpp"

using namespace aha;
using namespace aha::actors;
using aha::actors::testing::ask;

namespace {

protocol::reward_component value_of(float v) {
  protocol::reward_component c;
  c.value = v;
  return c;
}

// accuracy: 1 when the completion equals the gold (math only); format: 0.5 for everything.
std::vector<reward_spec> test_specs() {
  reward_spec accuracy{"accuracy", protocol::reward_kind::accuracy, 1.0f, std::chrono::milliseconds(100), {"math"}, "cpu",
                       [](const protocol::prompt& p, const protocol::rollout& r) {
                         return value_of(r.completion_text == p.gold ? 1.0f : 0.0f);
                       }};
  reward_spec format{"format", protocol::reward_kind::format, 0.2f, std::chrono::milliseconds(100), {}, "cheap",
                     [](const protocol::prompt&, const protocol::rollout&) { return value_of(0.5f); }};
  return {accuracy, format};
}

protocol::prompt math_prompt(std::uint64_t id, const std::string& gold) {
  protocol::prompt p;
  p.id = id;
  p.task = "math";
  p.gold = gold;
  return p;
}

std::vector<protocol::rollout> rollouts(std::vector<std::string> texts, std::uint64_t version = 3) {
  std::vector<protocol::rollout> out;
  for (std::uint32_t i = 0; i < texts.size(); ++i) {
    protocol::rollout r;
    r.sample_index = i;
    r.completion_text = texts[i];
    r.weight_version = version + i;
    out.push_back(r);
  }
  return out;
}

bool is_worker(caf::resumable* job) {
  auto* actor = dynamic_cast<caf::local_actor*>(job);
  return actor && std::string(actor->name()) == "reward_worker";
}

// Every component of every verdict is ok (nothing timed out or failed).
void check_all_ok(const protocol::scored_group& g) {
  for (const auto& v : g.verdicts) {
    for (const auto& c : v.components) CHECK(c.status == protocol::verdict_status::ok);
  }
}

struct grader_fixture : testing::deterministic_system {
  std::string dir;
  replay_buffer_actor replay;
  grader_actor grader;
  explicit grader_fixture(grader_config config = {}) {
    dir = (std::filesystem::temp_directory_path() / ("aha_grader_" + std::to_string(::getpid()))).string();
    std::filesystem::remove_all(dir);
    replay_buffer_config rc;
    rc.dir = dir;
    rc.sync = false;
    replay = *spawn_replay_buffer(*sys, rc, threading::scheduled);
    auto spawned = spawn_grader(*sys, config, replay, test_specs(), {{"cpu", 2}, {"cheap", 1}}, threading::scheduled);
    REQUIRE(spawned.ok());
    grader = *spawned;
    run();
  }
  // Runs everything except the reward workers (their work stays queued).
  void run_without_workers() { sched->run_jobs_filtered([](caf::resumable* job) { return !is_worker(job); }); }
  grader_stats stats() {
    auto s = ask<grader_stats>(*sys, grader, stats_atom::value);
    run();
    return *s->value;
  }
  ~grader_fixture() {
    caf::anon_send_exit(grader, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(replay, caf::exit_reason::user_shutdown);
    run();
    grader = nullptr;
    replay = nullptr;
    std::filesystem::remove_all(dir);
  }
};

}  // namespace

TEST_CASE("grader: routes by task, weights components, computes advantages, stores before replying") {
  grader_fixture f;
  auto group = ask<protocol::scored_group>(*f.sys, f.grader, grade_atom::value, math_prompt(7, "19"),
                                           rollouts({"19", "20", "19", "x"}));
  f.run();
  REQUIRE(group->value);
  const auto& g = *group->value;
  CHECK(g.group_id == 1);  // the replay buffer's id: the reply came after the ack
  REQUIRE(g.verdicts.size() == 4);
  CHECK(g.rewards == std::vector<float>{1.1f, 0.1f, 1.1f, 0.1f});
  CHECK(g.advantages[0] > 0);
  CHECK(g.advantages[1] < 0);
  CHECK(g.min_weight_version == 3);
  CHECK(g.verdicts[2].sample_index == 2);
  REQUIRE(g.verdicts[0].components.size() == 2);
  CHECK(g.verdicts[0].components[0].kind == protocol::reward_kind::accuracy);
  CHECK(g.verdicts[0].components[1].weight == Approx(0.2f));
  auto stored = ask<replay_stats>(*f.sys, f.replay, stats_atom::value);
  f.run();
  CHECK(stored->value->puts == 1);

  protocol::prompt code = math_prompt(8, "");
  code.task = "code";  // only the task-agnostic format reward applies
  auto verdicts = ask<std::vector<protocol::reward_verdict>>(*f.sys, f.grader, score_atom::value, code, rollouts({"a"}));
  f.run();
  REQUIRE(verdicts->value);
  REQUIRE(verdicts->value->at(0).components.size() == 1);
  CHECK(verdicts->value->at(0).total == Approx(0.1f));
  CHECK(f.stats().groups == 2);
}

TEST_CASE("grader: a reward that misses its deadline is a counted timeout verdict, not a hang") {
  grader_fixture f;
  auto group = ask<protocol::scored_group>(*f.sys, f.grader, grade_atom::value, math_prompt(1, "2"), rollouts({"2", "3"}));
  f.run_without_workers();
  CHECK(!group->answered());
  CHECK(f.sched->has_pending_timeout());
  for (int round = 0; round < 4 && !group->answered(); ++round) {
    f.sched->trigger_timeouts();  // every deadline passes before any worker runs
    f.run_without_workers();
  }
  f.run();
  REQUIRE(group->value);
  for (const auto& v : group->value->verdicts) {
    for (const auto& c : v.components) {
      CHECK(c.status == protocol::verdict_status::timeout);
      CHECK(c.value == 0.0f);
    }
  }
  CHECK(group->value->rewards == std::vector<float>{0.0f, 0.0f});
  auto s = f.stats();
  CHECK(s.reward_timeouts == 4);
  CHECK(s.in_flight_tasks == 0);
  // The replaced workers grade the next group normally.
  auto next = ask<protocol::scored_group>(*f.sys, f.grader, grade_atom::value, math_prompt(2, "2"), rollouts({"2"}));
  f.run();
  REQUIRE(next->value);
  CHECK(next->value->rewards == std::vector<float>{1.1f});
}

TEST_CASE("grader: a worker that dies mid-task is replaced and its task re-queued") {
  if (!fault::kCompiledIn) AHA_SKIP("fault points are compiled out (AHA_FAULT_POINTS=OFF)");
  grader_fixture f;
  fault::arm("reward_worker.crash", [] {
    fault::disarm_all();  // only the first task crashes its worker
    throw std::runtime_error("injected worker crash");
  });
  auto group = ask<protocol::scored_group>(*f.sys, f.grader, grade_atom::value, math_prompt(1, "5"), rollouts({"5", "6"}));
  f.run();
  fault::disarm_all();
  REQUIRE(group->value);
  CHECK(group->value->rewards == std::vector<float>{1.1f, 0.1f});  // nothing lost, nothing zeroed
  check_all_ok(*group->value);
  auto s = f.stats();
  CHECK(s.worker_restarts == 1);
  CHECK(s.requeued == 1);
  CHECK(s.reward_errors == 0);
}

TEST_CASE("grader: progress names each pool's held tasks and oldest, and restart(pool) re-queues a stuck pool's tasks") {
  grader_fixture f;
  auto group = ask<protocol::scored_group>(*f.sys, f.grader, grade_atom::value, math_prompt(1, "5"), rollouts({"5", "6"}));
  f.run_without_workers();  // the workers are stuck: tasks dispatched, never answered
  auto progress = ask<progress_list>(*f.sys, f.grader, progress_atom::value);
  f.run_without_workers();
  REQUIRE(progress->value);
  std::map<std::string, progress_report> by_name;
  for (const auto& r : *progress->value) by_name[r.name] = r;
  REQUIRE(by_name.count("grader pool cpu"));
  CHECK(by_name["grader pool cpu"].held == 2);  // two accuracy tasks, one per worker
  CHECK(by_name["grader pool cpu"].done == 0);
  CHECK(by_name["grader pool cheap"].held == 2);  // one running, one queued behind it
  CHECK(by_name["grader pool cpu"].oldest.find("(accuracy, prompt 1) on a local worker") != std::string::npos);

  auto restarted = ask<std::uint32_t>(*f.sys, f.grader, restart_atom::value, std::string("cpu"));
  f.run_without_workers();  // the restart lands while the workers are still stuck
  f.run();                  // the replacements (and the rest) run now
  REQUIRE(restarted->value);
  CHECK(*restarted->value == 2);
  REQUIRE(group->value);
  CHECK(group->value->rewards == std::vector<float>{1.1f, 0.1f});  // re-graded, nothing zeroed
  check_all_ok(*group->value);
  auto s = f.stats();
  CHECK(s.worker_restarts == 2);
  CHECK(s.requeued == 2);
  auto unknown = ask<std::uint32_t>(*f.sys, f.grader, restart_atom::value, std::string("gpu"));
  f.run();
  CHECK(unknown->error);
}

TEST_CASE("grader: beyond max_pending_groups a request is refused at once (backpressure)") {
  grader_config config;
  config.max_pending_groups = 1;
  grader_fixture f(config);
  auto first = ask<protocol::scored_group>(*f.sys, f.grader, grade_atom::value, math_prompt(1, "1"), rollouts({"1"}));
  f.run_without_workers();
  auto second = ask<protocol::scored_group>(*f.sys, f.grader, grade_atom::value, math_prompt(2, "1"), rollouts({"1"}));
  f.run_without_workers();
  REQUIRE(second->error);
  CHECK(errc_of(*second->error) == errc::resource_limit);
  CHECK(!first->answered());
  CHECK(f.stats().pending_groups == 1);
  f.run();
  REQUIRE(first->value);
  auto empty = ask<protocol::scored_group>(*f.sys, f.grader, grade_atom::value, math_prompt(3, "1"), rollouts({}));
  f.run();
  CHECK(empty->error);
}

TEST_CASE("grader: a spec on a pool without workers is a spawn error") {
  testing::deterministic_system t;
  auto spawned = spawn_grader(*t.sys, {}, replay_buffer_actor{}, test_specs(), {{"cpu", 1}}, threading::scheduled);
  REQUIRE(!spawned.ok());
  CHECK(spawned.error().message.find("cheap") != std::string::npos);
}

namespace {

// A worker from outside the grader (as a node's would be) that behaves as told.
enum class remote_behaviour { crash, never_answer };

caf::actor spawn_remote_double(caf::actor_system& sys, remote_behaviour behaviour) {
  return sys.spawn([behaviour](caf::event_based_actor* self) -> caf::behavior {
    return {
        [=](work_atom, std::uint32_t, const protocol::prompt&, const protocol::rollout&) -> caf::result<protocol::reward_component> {
          if (behaviour == remote_behaviour::crash) throw std::runtime_error("the node went away");
          return self->make_response_promise<protocol::reward_component>();  // never delivered
        },
    };
  });
}

// A node's contact as the grader sees it: answers probe (reachable), or never (unreachable).
caf::actor spawn_contact(caf::actor_system& sys, bool reachable) {
  return sys.spawn([reachable](caf::event_based_actor* self) -> caf::behavior {
    return {[=](probe_atom) -> caf::result<caf::ok_atom> {
      if (reachable) return caf::ok_atom::value;
      return self->make_response_promise<caf::ok_atom>();  // a cut link: nothing comes back
    }};
  });
}

// Offers `worker` (its node's `contact`, may be invalid) to the grader's "cpu" pool and checks that it was taken.
void offer(grader_fixture& f, const caf::actor& worker, const caf::actor& contact = {}) {
  auto taken = ask<caf::ok_atom>(*f.sys, f.grader, offer_atom::value, std::string("cpu"), worker, contact);
  f.run_without_workers();
  REQUIRE(taken->value);
}

}  // namespace

TEST_CASE("grader: an offered worker takes tasks like a local one") {
  grader_fixture f;
  auto specs = std::make_shared<const std::vector<reward_spec>>(test_specs());
  offer(f, caf::actor_cast<caf::actor>(spawn_reward_worker(*f.sys, specs, threading::scheduled)));
  CHECK(f.stats().remote_workers == 1);
  // Three accuracy tasks: two local workers and the offered one take one each.
  auto group = ask<protocol::scored_group>(*f.sys, f.grader, grade_atom::value, math_prompt(1, "4"),
                                           rollouts({"4", "5", "4"}));
  f.run();
  REQUIRE(group->value);
  CHECK(group->value->rewards == std::vector<float>{1.1f, 0.1f, 1.1f});
  auto s = f.stats();
  CHECK(s.remote_tasks == 1);
  CHECK(s.remote_workers == 1);
  auto refused = ask<caf::ok_atom>(*f.sys, f.grader, offer_atom::value, std::string("gpu"),
                                   caf::actor_cast<caf::actor>(spawn_reward_worker(*f.sys, specs, threading::scheduled)), caf::actor{});
  f.run();
  REQUIRE(refused->error);
  CHECK(errc_of(*refused->error) == errc::invalid_argument);
}

TEST_CASE("grader: an offered worker that dies has its task re-queued and its slot dropped, not respawned") {
  grader_fixture f;
  offer(f, spawn_remote_double(*f.sys, remote_behaviour::crash));
  auto group = ask<protocol::scored_group>(*f.sys, f.grader, grade_atom::value, math_prompt(1, "4"),
                                           rollouts({"4", "5", "4"}));
  f.run();
  REQUIRE(group->value);
  CHECK(group->value->rewards == std::vector<float>{1.1f, 0.1f, 1.1f});  // graded locally after the loss
  check_all_ok(*group->value);
  auto s = f.stats();
  CHECK(s.remote_workers_lost == 1);
  CHECK(s.remote_workers == 0);
  CHECK(s.requeued == 1);
  CHECK(s.worker_restarts == 0);  // only the grader's own workers are respawned
  CHECK(s.remote_tasks == 0);
}

TEST_CASE("grader: an offered worker past its deadline gives a timeout verdict and is dropped") {
  grader_fixture f;
  auto silent = spawn_remote_double(*f.sys, remote_behaviour::never_answer);
  offer(f, silent);
  auto group = ask<protocol::scored_group>(*f.sys, f.grader, grade_atom::value, math_prompt(1, "4"),
                                           rollouts({"4", "5", "4"}));
  f.run();
  CHECK(!group->answered());  // the silent worker holds the third accuracy task
  f.fire_timeouts();
  REQUIRE(group->value);
  CHECK(group->value->verdicts.at(2).components.at(0).status == protocol::verdict_status::timeout);
  CHECK(group->value->verdicts.at(0).components.at(0).status == protocol::verdict_status::ok);
  // The timed-out rollout is no wrong answer: it leaves the group's statistics (advantage 0), and
  // the others' advantages are those of the group without it.
  const auto& g = *group->value;
  auto without = group_advantages({g.rewards[0], g.rewards[1]});
  CHECK(g.advantages[2] == 0.0f);
  CHECK(g.advantages[0] == Approx(without[0]));
  CHECK(g.advantages[1] == Approx(without[1]));
  auto s = f.stats();
  CHECK(s.grading_failures_masked == 1);
  CHECK(s.reward_timeouts == 1);
  CHECK(s.remote_workers == 0);
  CHECK(s.remote_workers_lost == 1);
  CHECK(s.in_flight_tasks == 0);
}

TEST_CASE("grader: a node's worker past its deadline: a node that answers the probe gets a timeout verdict") {
  grader_fixture f;
  offer(f, spawn_remote_double(*f.sys, remote_behaviour::never_answer), spawn_contact(*f.sys, true));
  auto group = ask<protocol::scored_group>(*f.sys, f.grader, grade_atom::value, math_prompt(1, "4"),
                                           rollouts({"4", "5", "4"}));
  f.run();
  CHECK(!group->answered());
  // Timeouts one at a time, earliest first: the deadlines (the probe is answered at once).
  while (!group->answered() && f.sched->trigger_timeout()) f.run();
  REQUIRE(group->value);
  CHECK(group->value->verdicts.at(2).components.at(0).status == protocol::verdict_status::timeout);
  auto s = f.stats();
  CHECK(s.reward_timeouts == 1);
  CHECK(s.requeued_unreachable == 0);
  CHECK(s.remote_workers_lost == 1);
}

TEST_CASE("grader: a node's worker past its deadline whose node does not answer is re-queued, not a timeout") {
  grader_fixture f;
  offer(f, spawn_remote_double(*f.sys, remote_behaviour::never_answer), spawn_contact(*f.sys, false));
  auto group = ask<protocol::scored_group>(*f.sys, f.grader, grade_atom::value, math_prompt(1, "4"),
                                           rollouts({"4", "5", "4"}));
  f.run();
  CHECK(!group->answered());
  // Timeouts one at a time, earliest first: the deadlines (the node is probed), then the probe's
  // (node_probe), which comes before the worker's own reply timeout (deadline + 30 s).
  while (!group->answered() && f.sched->trigger_timeout()) f.run();
  REQUIRE(group->value);
  CHECK(group->value->rewards == std::vector<float>{1.1f, 0.1f, 1.1f});  // graded locally after the re-queue
  check_all_ok(*group->value);
  auto s = f.stats();
  CHECK(s.reward_timeouts == 0);
  CHECK(s.requeued_unreachable == 1);
  CHECK(s.requeued == 1);
  CHECK(s.remote_workers == 0);
  CHECK(s.remote_workers_lost == 1);
  CHECK(s.grading_failures_masked == 0);
}

TEST_CASE("grader: a sandbox run still going at its reward's deadline is killed and its slot freed") {
  sandbox::sandbox_config sc;
  sc.workers = 1;  // one slot: the follow-up run can only start once the killed one is gone
  auto created = sandbox::pool::create(sc);
  if (!created) FAIL("sandbox unavailable: " << created.error().message);
  std::shared_ptr<sandbox::pool> pool = std::move(*created);
  // A reward whose program sleeps a minute (its own wall limit); the reward's deadline is 500 ms.
  reward_spec slow{"slow", protocol::reward_kind::accuracy, 1.0f, std::chrono::milliseconds(500), {}, "sandbox",
                   [pool](const protocol::prompt&, const protocol::rollout&) {
                     protocol::sandbox_request request;
                     request.source = "import time\ntime.sleep(60)\n";
                     request.wall_ms = 60000;
                     auto reply = pool->run(request);
                     protocol::reward_component c;
                     c.detail = reply.error;
                     return c;
                   }};
  testing::deterministic_system s;
  std::string dir = (std::filesystem::temp_directory_path() / ("aha_grader_kill_" + std::to_string(::getpid()))).string();
  replay_buffer_config rc;
  rc.dir = dir;
  rc.sync = false;
  auto replay = *spawn_replay_buffer(*s.sys, rc, threading::scheduled);
  auto spawned = spawn_grader(*s.sys, grader_config{}, replay, {slow}, {{"sandbox", 1}}, threading::scheduled);
  REQUIRE(spawned.ok());
  const auto start = std::chrono::steady_clock::now();
  // Deterministic scheduler: the grader's own deadline message never fires here, so the worker's
  // answer shows what the sandbox did at the deadline.
  auto verdicts = ask<std::vector<protocol::reward_verdict>>(*s.sys, *spawned, score_atom::value, math_prompt(1, ""),
                                                             rollouts({"a"}));
  s.run();
  REQUIRE(verdicts->value);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  REQUIRE(verdicts->value->at(0).components.size() == 1);
  CHECK(verdicts->value->at(0).components[0].detail == "cancelled: the caller's deadline passed");
  CHECK(elapsed >= std::chrono::milliseconds(500));
  CHECK(elapsed < std::chrono::seconds(10));  // hang guard; the run's own limit was a minute
  protocol::sandbox_request next;
  next.source = "print('next')";
  CHECK(pool->run(next).stdout_data == "next\n");  // outside any reward: no deadline
  caf::anon_send_exit(*spawned, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(replay, caf::exit_reason::user_shutdown);
  s.run();
  std::filesystem::remove_all(dir);
}
