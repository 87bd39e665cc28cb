// The cluster on separate hosts: network namespaces joined by veth pairs (tests/netns.hpp), each
// with its own address, the controller (`aha train`) on one and `aha node`s on others, every one
// a real process, all traffic TLS (cluster.tls_dir). Checks: a run grades on a remote node and
// reports it; nodes holding another cluster's certificate, or none, never join and the run is
// unharmed; a link cut mid-run has the node's tasks re-queued and, once the link is back, the
// node joins again and grades. Skips visibly where namespaces cannot be made. Hang guards only.
#include <filesystem>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "actors/cluster_tls.hpp"
#include "actors/run_config.hpp"
#include "core/test_skip.hpp"
#include "tests/aha_process.hpp"
#include "tests/netns.hpp"
#include "tests/tiny_run.hpp"

#include <catch2/catch.hpp>

namespace fs = std::filesystem;
using namespace aha;
using aha::testing::aha_process;
using clock_type = std::chrono::steady_clock;

namespace {

constexpr auto kGuard = std::chrono::seconds(120);  // hang guard of a whole run
constexpr const char* kPort = "7070";              // free in a fresh namespace

// A run folder plus the cluster's secret and TLS folders; removed at the end.
struct cluster_files {
  fs::path root;
  explicit cluster_files(const std::string& name)
      : root(fs::temp_directory_path() / ("aha-hosts-" + name + "-" + std::to_string(::getpid()))) {
    fs::remove_all(root);
    fs::create_directories(root);
    std::ofstream(root / "secret") << "hosts-test-secret\n";
    REQUIRE(actors::tls::write_cluster_certs(root / "tls", 2).ok());
    REQUIRE(actors::tls::write_cluster_certs(root / "other-tls", 2).ok());
  }
  ~cluster_files() { fs::remove_all(root); }
  std::string path(const std::string& leaf) const { return (root / leaf).string(); }
};

// `aha train` on host 0 of a tiny run that listens on every address of host 0 with TLS.
std::unique_ptr<aha_process> start_controller(const testing::netns_hosts& hosts, const cluster_files& files,
                                              std::vector<std::string> overrides) {
  overrides.insert(overrides.end(), {"run.dir=\"" + files.path("run") + "\"", "cluster.listen=\"0.0.0.0:" + std::string(kPort) + "\"",
                                     "cluster.secret_file=\"" + files.path("secret") + "\"",
                                     "cluster.tls_dir=\"" + files.path("tls") + "\"", "cluster.heartbeat=\"200ms\"",
                                     "cluster.connection_timeout=\"2s\"", "cluster.wait_for_nodes=1",
                                     "cluster.wait_timeout=\"60s\"", "grader.cpu_workers=1"});
  auto config = testing::tiny_run_config("hosts", overrides);
  REQUIRE(config.ok());
  std::ofstream(files.path("run.toml")) << config::to_toml(*config);
  return std::make_unique<aha_process>(std::vector<std::string>{"train", files.path("run.toml")}, files.path("controller.log"),
                                       hosts.on(0));
}

// `aha node` on host `i`, joining host 0 over their link; `extra` flags last.
std::unique_ptr<aha_process> start_node(const testing::netns_hosts& hosts, const cluster_files& files, int i,
                                        const std::string& name, std::vector<std::string> extra) {
  std::vector<std::string> args{"node", "--join", hosts.address(0, i) + ":" + kPort, "--secret-file", files.path("secret"),
                                "--name", name, "--cpu-workers", "2", "--sandbox-workers", "0", "--checker-workers", "0",
                                "--set", "run.threads=1", "--set", "cluster.heartbeat=\"200ms\"", "--set",
                                "cluster.connection_timeout=\"2s\""};
  args.insert(args.end(), extra.begin(), extra.end());
  return std::make_unique<aha_process>(args, files.path(name + ".log"), hosts.on(i));
}

template <class F>
bool eventually(F done, std::chrono::seconds limit = std::chrono::seconds(60)) {
  auto until = clock_type::now() + limit;
  while (!done()) {
    if (clock_type::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

int exit_status(aha_process& p, std::chrono::seconds limit = kGuard) {
  auto status = p.wait_within(limit);
  INFO(p.log());
  REQUIRE(status);
  REQUIRE(WIFEXITED(*status));
  return WEXITSTATUS(*status);
}

nlohmann::json report_of(const cluster_files& files) {
  std::ifstream in(files.path("run") + "/report.json");
  REQUIRE(in);
  return nlohmann::json::parse(in);
}

}  // namespace

TEST_CASE("hosts: aha train on one host grades on an aha node on another over TLS and strangers never join",
          "[integration][netns]") {
  testing::netns_hosts hosts(3);
  if (hosts.unavailable()) AHA_SKIP(*hosts.unavailable());
  cluster_files files("train");
  auto controller = start_controller(hosts, files, {"grpo.learner.steps=3"});

  // 1. Strangers on host 2: another cluster's certificate; no TLS at all (refused before any
  //    connection: plain TCP beyond loopback); plain TCP forced against the TLS port.
  auto other_ca = start_node(hosts, files, 2, "other-ca",
                             {"--tls-dir", files.path("other-tls"), "--set", "cluster.node.join_timeout=\"4s\""});
  auto no_tls = start_node(hosts, files, 2, "no-tls", {});
  auto forced_plain = start_node(hosts, files, 2, "forced-plain",
                                 {"--set", "cluster.plaintext=true", "--set", "cluster.node.join_timeout=\"4s\""});
  CHECK(exit_status(*no_tls, std::chrono::seconds(30)) == 1);
  CHECK(no_tls->log().find("plain TCP beyond this host") != std::string::npos);
  CHECK(exit_status(*other_ca, std::chrono::seconds(30)) == 1);
  CHECK(other_ca->log().find("same cluster.tls_dir") != std::string::npos);
  CHECK(exit_status(*forced_plain, std::chrono::seconds(30)) == 1);
  CHECK(controller->running());  // still waiting for a member

  // 2. The member on host 1: the run waits for it, grades on it, and tells it the run is over.
  auto member = start_node(hosts, files, 1, "b", {"--tls-dir", files.path("tls")});
  CHECK(exit_status(*controller) == 0);
  CHECK(exit_status(*member, std::chrono::seconds(30)) == 0);
  CHECK(member->log().find("finished the run") != std::string::npos);
  auto report = report_of(files);
  CHECK(report["cluster"]["nodes_joined"] == 1);
  CHECK(report["cluster"]["nodes_refused"] == 0);  // the strangers never reached the registry
  CHECK(report["cluster"]["remote_tasks"].get<std::uint64_t>() > 0);
}

TEST_CASE("hosts: a link cut mid-run re-queues the node's tasks and the node joins again when it returns",
          "[integration][netns]") {
  testing::netns_hosts hosts(2);
  if (hosts.unavailable()) AHA_SKIP(*hosts.unavailable());
  cluster_files files("cut");
  // Slow checks keep the node's workers busy: the cut always catches tasks on them.
  auto controller = start_controller(hosts, files,
                                     {"grpo.learner.steps=24", "grader.rewards.extra_latency=\"150ms\"",
                                      "grader.node_probe=\"1s\""});
  auto node = start_node(hosts, files, 1, "b", {"--tls-dir", files.path("tls")});
  REQUIRE(eventually([&] { return node->log().find("joined") != std::string::npos; }));
  std::this_thread::sleep_for(std::chrono::seconds(3));  // grading on the node

  // 1. Cut the link: the node's tasks come back (deadline probe or connection timeout) and the
  //    node notices its controller is gone.
  REQUIRE(hosts.set_link(1, false));
  const bool lost = eventually([&] { return node->log().find("lost the controller") != std::string::npos; });
  INFO(node->log());
  CHECK(lost);
  std::this_thread::sleep_for(std::chrono::seconds(1));

  // 2. Restore it: the node joins again with fresh workers and grades until the run ends.
  REQUIRE(hosts.set_link(1, true));
  CHECK(eventually([&] { return node->log().find("again") != std::string::npos; }));
  CHECK(exit_status(*controller) == 0);
  CHECK(exit_status(*node, std::chrono::seconds(30)) == 0);
  INFO(controller->log());
  auto report = report_of(files);
  CHECK(report["cluster"]["nodes_joined"] == 2);
  CHECK(report["cluster"]["nodes_lost"] == 1);
  CHECK(report["reward_tasks_requeued"].get<std::uint64_t>() >= 1);
  CHECK(report["cluster"]["remote_tasks"].get<std::uint64_t>() > 0);
  CHECK(report["dropped_stale"] == 0);
}
