// The cluster across real processes: this test is the controller side (replay buffer, built-in
// grader, the published registry) and starts `aha node --join 127.0.0.1:PORT` (the built aha
// binary, fork/exec). Checks: groups graded partly by the node's workers (math and sandboxed
// countdown), a node killed (SIGKILL) or frozen (SIGSTOP) mid-work has its tasks re-queued and
// graded locally, a wrong secret is refused with the reason on both sides, a node joins mid-run
// and leaves when the run is over, and `aha train` with a node reports the remote work.
// Hang guards only; no timing assertions.
#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <caf/io/all.hpp>
#include <nlohmann/json.hpp>

#include "actors/cluster_auth.hpp"
#include "actors/controller.hpp"
#include "actors/replay_buffer.hpp"
#include "actors/replay_store.hpp"
#include "actors/tasks/arithmetic.hpp"
#include "actors/tasks/countdown.hpp"
#include "core/test_port.hpp"
#include "tests/aha_process.hpp"
#include "tests/tiny_run.hpp"

// LibTorch pulls in glog, whose CHECK would replace Catch2's: include Catch2 last.
#undef CHECK
#include <catch2/catch.hpp>

namespace fs = std::filesystem;
using namespace aha;
using namespace aha::actors;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr auto kGuard = std::chrono::seconds(25);  // hang guard of every wait

// `aha ARGS...` in a child process (tests/aha_process.hpp), with this file's hang guard on wait().
class aha_process : public aha::testing::aha_process {
 public:
  using aha::testing::aha_process::aha_process;
  int wait() {
    auto status = wait_within(kGuard);
    REQUIRE(status);
    return *status;
  }
};

// Polls `done` until it holds (hang guard: kGuard).
template <class F>
void wait_until(F done, const std::string& what) {
  auto until = clock_type::now() + kGuard;
  while (!done()) {
    if (clock_type::now() > until) FAIL("timed out waiting for " << what);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

cluster_config test_cluster() {
  cluster_config c;
  c.listen = "127.0.0.1:0";
  c.secret = "test-secret";
  c.heartbeat = std::chrono::milliseconds(200);
  c.connection_timeout = std::chrono::milliseconds(2000);
  return c;
}

// The controller's side: replay buffer, built-in grader (1 local cpu and 1 sandbox worker) and
// the published registry; its log lines are collected.
struct controller_side {
  std::string dir;
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  replay_buffer_actor replay;
  grader_actor grader;
  cluster_door door;
  std::mutex mutex;
  std::vector<std::string> lines;
  std::vector<std::string> node_logs;

  // Every accuracy check sleeps `accuracy_latency`; a check's deadline is `deadline`.
  explicit controller_side(std::chrono::milliseconds accuracy_latency,
                           std::chrono::milliseconds deadline = std::chrono::seconds(20)) {
    dir = (fs::temp_directory_path() / ("aha-cluster-" + std::to_string(::getpid()))).string();
    fs::remove_all(dir);
    cfg.set("scheduler.max-threads", 2);
    add_message_types(cfg);
    configure_middleman(cfg, test_cluster());
    sys = std::make_unique<caf::actor_system>(cfg);
    replay_buffer_config rc;
    rc.dir = dir + "/replay";
    rc.sync = false;
    replay = *spawn_replay_buffer(*sys, rc);
    grader_config gc;
    gc.cpu_workers = 1;
    gc.sandbox_workers = 1;
    gc.checker_workers = 1;  // (default 16) so that the node's checker workers get countdown tasks too
    gc.sandbox.workers = 1;
    gc.rewards.extra_latency = accuracy_latency;  // keeps tasks in flight long enough to kill a node under them
    gc.rewards.math_deadline = gc.rewards.code_deadline = gc.rewards.cheap_deadline = deadline;
    auto spawned = spawn_builtin_grader(*sys, gc, replay);
    REQUIRE(spawned.ok());
    grader = *spawned;
    auto opened = open_cluster(*sys, test_cluster(), gc.rewards, grader, metrics_actor{}, [this](const std::string& l) {
      std::lock_guard<std::mutex> lock(mutex);
      lines.push_back(l);
    });
    REQUIRE(opened.ok());
    door = *opened;
  }
  ~controller_side() {
    close_cluster(*sys, door);
    caf::anon_send_exit(grader, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(replay, caf::exit_reason::user_shutdown);
    grader = nullptr;  // a handle keeps its actor (and a detached one's thread) alive
    replay = nullptr;
    door = {};
    sys.reset();
    fs::remove_all(dir);
    for (const auto& path : node_logs) fs::remove(path);
  }
  std::string join_address() const { return "127.0.0.1:" + std::to_string(door.at.port); }
  std::string log() {
    std::lock_guard<std::mutex> lock(mutex);
    std::string out;
    for (const auto& l : lines) out += l + "\n";
    return out;
  }
  grader_stats grading() {
    caf::scoped_actor self{*sys};
    grader_stats out;
    self->request(grader, std::chrono::seconds(10), stats_atom::value).receive([&](grader_stats& s) { out = s; }, [](caf::error&) {});
    return out;
  }
  cluster_stats cluster() { return stats_of(*sys, door); }
  // `aha node --join` this controller, with a small sandbox of its own.
  // `sandbox` workers for each of the sandbox and checker pools.
  std::unique_ptr<aha_process> start_node(const std::string& name, std::uint32_t cpu, std::uint32_t sandbox,
                                          const std::string& secret = "test-secret") {
    node_logs.push_back(dir + "-" + name + ".log");
    return std::make_unique<aha_process>(
        std::vector<std::string>{"node", "--join", join_address(), "--secret", secret, "--name", name, "--cpu-workers",
                                 std::to_string(cpu), "--sandbox-workers", std::to_string(sandbox), "--checker-workers",
                                 std::to_string(sandbox), "--set",
                                 "grader.sandbox.workers=1", "--set", "grader.sandbox.host_id_base=3100000", "--set",
                                 "run.threads=1", "--set", "cluster.heartbeat=\"200ms\"", "--set",
                                 "cluster.connection_timeout=\"2s\""},
        node_logs.back());
  }
};

// A group of `size` answers to one prompt: even samples are the demonstration (right), odd wrong.
std::pair<protocol::prompt, std::vector<protocol::rollout>> group_of(const tasks::task_sample& s, std::uint32_t size) {
  std::vector<protocol::rollout> rollouts;
  for (std::uint32_t i = 0; i < size; ++i) {
    protocol::rollout r;
    r.prompt_id = s.prompt.id;
    r.sample_index = i;
    r.completion_text = i % 2 == 0 ? s.demonstration : "<think>?</think><answer>0</answer>";
    rollouts.push_back(r);
  }
  return {s.prompt, rollouts};
}

// Checks a graded group: every component ok, right answers 1.1 (accuracy + 0.1 format), wrong 0.1.
void check_graded(const protocol::scored_group& g) {
  INFO(g.source.text);
  for (std::size_t i = 0; i < g.rewards.size(); ++i) {
    CHECK(g.rewards[i] == Approx(i % 2 == 0 ? 1.1f : 0.1f));
    for (const auto& c : g.verdicts[i].components) {
      INFO(c.detail);
      CHECK(c.status == protocol::verdict_status::ok);
    }
  }
}

// Asks the grader for a group of `size` answers to `s` (the reply: hang guard kGuard).
auto request_grade(caf::scoped_actor& self, controller_side& c, const tasks::task_sample& s, std::uint32_t size) {
  auto [prompt, rollouts] = group_of(s, size);
  return self->request(c.grader, kGuard, grade_atom::value, prompt, rollouts);
}

// Waits for a requested group and checks it (check_graded).
template <class Handle>
void receive_graded(Handle& handle) {
  handle.receive([&](protocol::scored_group& g) { check_graded(g); },
                 [&](caf::error& e) { FAIL("grading failed: " << describe(e)); });
}

// Grades `samples` at once (groups of `size`) and checks every group.
void grade(controller_side& c, const std::vector<tasks::task_sample>& samples, std::uint32_t size) {
  caf::scoped_actor self{*c.sys};
  std::vector<decltype(request_grade(self, c, samples.front(), size))> pending;
  for (const auto& s : samples) pending.push_back(request_grade(self, c, s, size));
  for (auto& handle : pending) receive_graded(handle);
}

// Grades a group of `size` answers to `s`, sending `sig` to the node once it holds one of the
// tasks; checks that the group is graded in full all the same.
void grade_while_signalled(controller_side& c, aha_process& node, int sig, const tasks::task_sample& s,
                           std::uint32_t size) {
  caf::scoped_actor self{*c.sys};
  auto pending = request_grade(self, c, s, size);
  wait_until([&] { return c.grading().remote_in_flight_tasks > 0; }, "a task on the node");
  node.signal(sig);
  receive_graded(pending);
}

// A node told that the run is over exits 0 within the guard, its own teardown complete (not cut
// short by aha node's 5 s bound, which would hide a teardown hang: actors/node.cpp says why its
// workers are not detached). A node still running is killed by ~aha_process.
void check_left_cleanly(aha_process& node) {
  auto status = node.wait_within(kGuard);
  INFO(node.log());
  REQUIRE(status);
  CHECK(WIFEXITED(*status));
  CHECK(WEXITSTATUS(*status) == 0);
  CHECK(node.log().find("shutdown did not finish") == std::string::npos);
}

tasks::task_sample arithmetic(std::uint64_t index) { return tasks::arithmetic_sample({}, 2, tasks::split::eval, index); }

}  // namespace

TEST_CASE("cluster: a node grades with the controller and, killed mid-work, has its tasks re-queued", "[integration]") {
  controller_side c(std::chrono::milliseconds(300));
  auto node = c.start_node("node-1", 2, 1);
  wait_until([&] { return c.grading().remote_workers == 4; }, "node-1's four workers");
  CHECK(c.cluster().nodes == 1);
  CHECK(c.log().find("'node-1'") != std::string::npos);

  // 1. Math and sandboxed countdown groups, graded by local and remote workers alike.
  auto countdown = tasks::countdown_sample({}, 2, tasks::split::eval, 3);
  grade(c, {arithmetic(1), countdown, arithmetic(2)}, 4);
  auto before = c.grading();
  CHECK(before.remote_tasks > 0);
  CHECK(before.requeued == 0);

  // 2. SIGKILL while the node's workers hold tasks: they are re-queued and graded locally.
  grade_while_signalled(c, *node, SIGKILL, arithmetic(3), 8);
  auto after = c.grading();
  CHECK(after.requeued >= 1);
  CHECK(after.remote_workers_lost == 4);
  CHECK(after.remote_workers == 0);
  CHECK(after.reward_errors == 0);
  wait_until([&] { return c.cluster().lost == 1; }, "the registry to notice");
  CHECK(WIFSIGNALED(node->wait()));
  INFO(c.log());
  CHECK(c.log().find("'node-1' is gone") != std::string::npos);

  // 3. A node joins mid-run, grades, and leaves when the controller says the run is over.
  auto second = c.start_node("node-2", 1, 0);
  wait_until([&] { return c.grading().remote_workers == 1; }, "node-2's worker");
  grade(c, {arithmetic(4), arithmetic(5)}, 4);
  CHECK(c.grading().remote_tasks > after.remote_tasks);
  close_cluster(*c.sys, c.door);
  check_left_cleanly(*second);
  CHECK(second->log().find("finished the run") != std::string::npos);
  c.door = {};
}

TEST_CASE("cluster: a node with the wrong secret is refused, with the reason on both sides", "[integration]") {
  controller_side c(std::chrono::milliseconds(0));
  auto intruder = c.start_node("intruder", 1, 0, "not-the-secret");
  int status = intruder->wait();
  INFO(intruder->log());
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  CHECK(intruder->log().find("does not know the cluster secret") != std::string::npos);
  CHECK(c.cluster().refused == 1);
  CHECK(c.cluster().nodes == 0);
  CHECK(c.grading().remote_workers == 0);
  CHECK(c.log().find("refused a node") != std::string::npos);
}

TEST_CASE("cluster: a frozen node (SIGSTOP) is noticed by the connection timeout and its tasks re-queued",
          "[integration]") {
  controller_side c(std::chrono::milliseconds(300));
  auto node = c.start_node("frozen", 2, 0);
  wait_until([&] { return c.grading().remote_workers == 2; }, "the node's workers");
  grade_while_signalled(c, *node, SIGSTOP, arithmetic(6), 6);
  auto s = c.grading();
  CHECK(s.requeued >= 1);
  CHECK(s.remote_workers_lost == 2);
  wait_until([&] { return c.cluster().lost == 1; }, "the registry to notice");
}

TEST_CASE("cluster: a node's worker past its deadline is killed and its node offers a replacement", "[integration]") {
  controller_side c(std::chrono::milliseconds(1500), std::chrono::milliseconds(300));
  auto node = c.start_node("slow", 2, 0);
  wait_until([&] { return c.grading().remote_workers == 2; }, "the node's workers");
  caf::scoped_actor self{*c.sys};
  auto pending = request_grade(self, c, arithmetic(7), 3);
  pending.receive(
      [&](protocol::scored_group& g) {
        for (const auto& v : g.verdicts) CHECK(v.components.at(0).status == protocol::verdict_status::timeout);
      },
      [&](caf::error& e) { FAIL("grading failed: " << describe(e)); });
  CHECK(c.grading().remote_workers_lost >= 1);
  // Each killed worker ends once its check returns; the node replaces and offers it again.
  wait_until([&] { return c.grading().remote_workers == 2 && c.cluster().offered_workers >= 3; },
             "the node's replacement workers");
  CHECK(c.cluster().lost == 0);
}

namespace {

}  // namespace

TEST_CASE("cluster: aha train waits for a node, grades on it, and reports the remote work", "[integration]") {
  const std::string listen = "127.0.0.1:" + std::to_string(aha::testing::free_loopback_port());
  auto config = aha::testing::tiny_run_config(
      "cluster-train", {"grpo.learner.steps=2", "grader.cpu_workers=1", "cluster.secret=\"train-secret\"",
                        "cluster.wait_for_nodes=1", "cluster.wait_timeout=\"20s\"", "cluster.listen=" + listen});
  REQUIRE(config.ok());
  const std::string dir = config->run.dir;
  aha_process node({"node", "--join", listen, "--secret", "train-secret", "--name", "trainer-node", "--cpu-workers",
                    "2", "--sandbox-workers", "0", "--checker-workers", "0", "--set", "run.threads=1"},
                   dir + "-node.log");
  auto report = run_training(*config, std::cerr);
  REQUIRE(report.ok());
  CHECK(report->nodes_joined == 1);
  CHECK(report->remote_tasks > 0);
  auto json = nlohmann::json::parse(std::ifstream(fs::path(dir) / "report.json"));
  CHECK(json["cluster"]["nodes_joined"] == 1);
  CHECK(json["cluster"]["remote_tasks"].get<std::uint64_t>() > 0);
  std::ifstream written(fs::path(dir) / "config.toml");
  std::string shown(std::istreambuf_iterator<char>(written), {});
  CHECK(shown.find("train-secret") == std::string::npos);  // redacted
  check_left_cleanly(node);
  fs::remove_all(dir);
  fs::remove(dir + "-node.log");
}

// A node runs a generator for the GRPO stage: its replica gets the learner's weights streamed,
// version by version, and its rollouts (behaviour log-probs included) are graded and trained on
// like a local generator's. Checked from the run's own artifacts: the replay buffer holds
// consumed groups sampled on the node, within the staleness bound of the step that took them.
TEST_CASE("cluster: a node's generator samples with streamed weights and its groups are trained", "[integration]") {
  const std::string listen = "127.0.0.1:" + std::to_string(aha::testing::free_loopback_port());
  auto config = aha::testing::tiny_run_config(
      "cluster-gen", {"grpo.learner.steps=6", "grader.cpu_workers=1", "cluster.secret=\"gen-secret\"",
                      "cluster.wait_for_nodes=1", "cluster.wait_timeout=\"20s\"", "cluster.listen=" + listen,
                      "run.max_staleness=1"});
  REQUIRE(config.ok());
  const std::string dir = config->run.dir;
  aha_process node({"node", "--join", listen, "--secret", "gen-secret", "--name", "gen-node", "--cpu-workers", "1",
                    "--sandbox-workers", "0", "--checker-workers", "0", "--set", "run.threads=1", "--set",
                    "cluster.node.generators=1"},
                   dir + "-node.log");
  auto report = run_training(*config, std::cerr);
  INFO(node.log());
  REQUIRE(report.ok());
  REQUIRE(report->nodes.count("gen-node"));
  const auto& n = report->nodes.at("gen-node");
  CHECK(n.generators == 1);
  CHECK(n.rollouts > 0);
  CHECK(n.weight_versions >= 2);      // the first version, and at least one the learner made
  CHECK(n.full_versions >= 1);
  CHECK(n.delta_versions >= 1);       // later versions went as deltas against the one it held
  CHECK(n.weight_bytes > 0);
  CHECK(report->dropped_stale == 0);
  CHECK(report->gate.unmatched == 0);
  auto json = nlohmann::json::parse(std::ifstream(fs::path(dir) / "report.json"));
  CHECK(json["cluster"]["nodes"]["gen-node"]["rollouts"].get<std::uint64_t>() == n.rollouts);

  // From the replay buffer: groups sampled on the node were stored with their behaviour
  // log-probs and consumed.
  replay_store_options options;
  options.dir = (fs::path(dir) / config->replay.dir).string();
  options.read_only = true;
  auto store = replay_store::open(options);
  REQUIRE(store.ok());
  std::uint64_t from_node = 0, consumed_from_node = 0;
  for (const auto& [id, entry] : (*store)->entries()) {
    auto group = (*store)->get(id);
    REQUIRE(group.ok());
    const auto& rollouts = group->rollouts;
    REQUIRE_FALSE(rollouts.empty());
    if (rollouts.front().generator.rfind("gen-node/", 0) != 0) continue;
    ++from_node;
    for (const auto& r : rollouts) CHECK(r.behaviour_logprobs.size() == r.completion_tokens.size());
    if (entry.consumed) ++consumed_from_node;
  }
  CHECK(from_node > 0);
  CHECK(consumed_from_node > 0);
  // From metrics.jsonl: no step trained a group more than eta versions behind its weights.
  std::ifstream metrics(fs::path(dir) / "metrics.jsonl");
  std::uint64_t steps_seen = 0;
  for (std::string line; std::getline(metrics, line);) {
    auto m = nlohmann::json::parse(line);
    for (auto it = m.begin(); it != m.end(); ++it) {
      const auto suffix = it.key().rfind("staleness/", 0) == 0 ? it.key().substr(10) : std::string();
      if (suffix.empty() || !std::all_of(suffix.begin(), suffix.end(), ::isdigit)) continue;
      ++steps_seen;
      const auto lag = std::stoul(suffix);
      if (lag > config->run.max_staleness) CHECK(it.value().get<double>() == 0.0);
    }
  }
  CHECK(steps_seen > 0);
  check_left_cleanly(node);
  fs::remove_all(dir);
  fs::remove(dir + "-node.log");
}

namespace {

// A registry double for the measurement below: takes any node that knows the secret and keeps
// the workers it offers, so that the test can talk to them directly.
cluster_registry_actor spawn_open_registry(caf::actor_system& sys, const std::string& secret, const reward_config& rewards,
                                           std::shared_ptr<std::vector<caf::actor>> offered) {
  return sys.spawn([=](cluster_registry_actor::pointer) -> cluster_registry_actor::behavior_type {
    return {
        [](hello_atom, std::uint32_t) { return std::string("bench-challenge"); },
        [=](join_atom, const protocol::node_registration& reg, const std::string& challenge, const std::string& nonce,
            const caf::actor&) -> caf::result<std::string, std::string> {
          return {auth::controller_proof(secret, challenge, nonce, reg.node_id), config::to_toml(rewards)};
        },
        [=](offer_atom, const std::string&, const std::vector<std::string>&, const std::vector<std::string>&,
            const std::vector<caf::actor>& workers) {
          offered->insert(offered->end(), workers.begin(), workers.end());
          return static_cast<std::uint32_t>(workers.size());
        },
        [](host_atom, const std::string&, std::uint32_t, const caf::actor&) { return caf::ok_atom::value; },
        [](hosts_atom, const caf::actor&) {
          return caf::make_result(std::vector<std::string>{}, std::vector<std::uint32_t>{}, std::vector<caf::actor>{});
        },
        [=](stats_atom) {
          cluster_stats out;  // a reply orders the offer's writes before the test's reads
          out.offered_workers = offered->size();
          return out;
        },
        [](done_atom) { return caf::ok_atom::value; },
    };
  });
}

// Median and 99th percentile of `rounds` sequential math checks on `worker`, microseconds.
std::pair<double, double> time_checks(caf::actor_system& sys, const caf::actor& worker, std::uint32_t spec,
                                      const protocol::prompt& p, const protocol::rollout& r, int rounds) {
  caf::scoped_actor self{sys};
  std::vector<double> us;
  for (int i = 0; i < rounds; ++i) {
    auto start = clock_type::now();
    self->request(worker, std::chrono::seconds(10), work_atom::value, spec, p, r)
        .receive([](protocol::reward_component&) {}, [](caf::error& e) { FAIL(describe(e)); });
    us.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - start).count());
  }
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us[us.size() * 99 / 100]};
}

}  // namespace

// Not run by CTest (hidden): `build/tests/tests_tests "[cluster_bench]"`. docs/cluster.md has the numbers.
TEST_CASE("cluster bench: one math check on a local worker vs on a node's worker", "[.][cluster_bench]") {
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", 2);
  add_message_types(cfg);
  configure_middleman(cfg, test_cluster());
  caf::actor_system sys{cfg};
  reward_config rewards;
  auto offered = std::make_shared<std::vector<caf::actor>>();
  auto registry = spawn_open_registry(sys, "bench-secret", rewards, offered);
  auto port = sys.middleman().publish(registry, 0, "127.0.0.1", true);
  REQUIRE(port);
  const std::string log = (fs::temp_directory_path() / ("aha-cluster-bench-" + std::to_string(::getpid()))).string();
  aha_process node({"node", "--join", "127.0.0.1:" + std::to_string(*port), "--secret", "bench-secret", "--cpu-workers",
                    "1", "--sandbox-workers", "0", "--checker-workers", "0"},
                   log);
  wait_until([&] { return stats_of(sys, cluster_door{registry, {}}).offered_workers > 0; }, "the node's worker");
  auto specs = make_builtin_rewards(rewards, nullptr);
  REQUIRE(specs.ok());
  auto local = caf::actor_cast<caf::actor>(
      spawn_reward_worker(sys, std::make_shared<const std::vector<reward_spec>>(*specs), threading::detached));
  auto sample = arithmetic(1);
  auto [prompt, rollouts] = group_of(sample, 1);
  const int rounds = 2000;
  for (const auto& [label, worker] : {std::pair<const char*, caf::actor>{"local", local}, {"node", offered->front()}}) {
    time_checks(sys, worker, 0, prompt, rollouts[0], 200);  // warm-up
    auto [median, p99] = time_checks(sys, worker, 0, prompt, rollouts[0], rounds);
    std::printf("%-6s math check (accuracy.math, %zu-byte completion): median %.0f us, p99 %.0f us over %d\n", label,
                rollouts[0].completion_text.size(), median, p99, rounds);
  }
  caf::anon_send_exit(local, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(registry, caf::exit_reason::user_shutdown);
  offered->clear();
  local = nullptr;
  registry = nullptr;
  node.signal(SIGTERM);
  node.wait();
  fs::remove(log);
}
