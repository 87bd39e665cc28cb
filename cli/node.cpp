// `aha node --join HOST:PORT [CONFIG] [--secret S | --secret-file F] [--tls-dir DIR] [--name N] [--cpu-workers N]
// [--sandbox-workers N] [--checker-workers N] [--set key=value ...]`: offers this host's reward workers to a running
// controller (`aha train` with cluster.listen) until its run is over (actors/node.hpp). CONFIG, a
// recipe, is optional: its [cluster] and [grader.sandbox] sections apply; flags win over it.
// Exit status: 0 when the run ended or on SIGINT/SIGTERM (130 on a second one: no clean-up); 1
// when it could not join (unreachable, wrong secret, another version) or lost the controller; 2
// for a usage error.
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <thread>

#include <unistd.h>

#include "actors/node.hpp"
#include "actors/run_config.hpp"
#include "cli/command.hpp"

namespace {

constexpr const char* kName = "node";
constexpr const char* kUsage =
    "usage: aha node --join HOST:PORT [CONFIG] [--secret S | --secret-file F] [--tls-dir DIR] [--name N] [--cpu-workers N] "
    "[--sandbox-workers N] [--checker-workers N] [--set key=value ...]";
std::atomic<bool> g_stop{false};

// The first SIGINT/SIGTERM leaves cleanly (workers finish their check); a second one exits at once.
void on_signal(int) {
  if (g_stop.exchange(true)) ::_exit(130);
}

// Once the node's end is decided it has nothing left to save, so its teardown is bounded: CAF's
// shutdown has been seen to hang intermittently (under load) after the controller ended the run.
constexpr auto kTeardownLimit = std::chrono::seconds(5);
int exit_code(aha::actors::node_end end) { return end == aha::actors::node_end::controller_lost ? 1 : 0; }
void bound_teardown(aha::actors::node_end end) {
  std::thread([end] {
    std::this_thread::sleep_for(kTeardownLimit);
    std::cerr << "aha node: shutdown did not finish within 5 s; exiting without it" << std::endl;
    std::_Exit(exit_code(end));
  }).detach();
}

bool parse_count(const std::optional<std::string>& text, std::uint32_t& out) {
  if (!text) return true;
  try {
    std::size_t used = 0;
    auto value = std::stoul(*text, &used);
    if (used != text->size() || value > 1024) return false;
    out = static_cast<std::uint32_t>(value);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

int node(aha::cli::arguments& args) {
  auto overrides = args.options("--set");
  auto join = args.option("--join"), secret = args.option("--secret"), secret_file = args.option("--secret-file");
  auto name = args.option("--name"), cpu = args.option("--cpu-workers"), sandbox = args.option("--sandbox-workers");
  auto checker = args.option("--checker-workers"), tls_dir = args.option("--tls-dir");
  auto positional = args.positionals();
  if (auto unknown = args.unknown_options(); !unknown.empty()) return aha::cli::usage_error(kName, unknown);
  if (!join || positional.size() > 1) return aha::cli::usage_error(kName, kUsage);
  auto config = positional.empty() ? aha::config::load_string<aha::actors::run_config>("", overrides, "--set")
                                   : aha::config::load<aha::actors::run_config>(positional[0], overrides);
  if (!config) {
    std::cerr << config.error().message << "\n";
    return 2;
  }
  auto& cluster = config->cluster;
  // A secret from the command line replaces the recipe's, whichever form that used.
  if (secret || secret_file) cluster.secret = secret.value_or(""), cluster.secret_file = secret_file.value_or("");
  if (name) cluster.node.name = *name;
  if (tls_dir) cluster.tls_dir = *tls_dir;
  if (!parse_count(cpu, cluster.node.cpu_workers) || !parse_count(sandbox, cluster.node.sandbox_workers) ||
      !parse_count(checker, cluster.node.checker_workers)) {
    return aha::cli::usage_error(kName, "--cpu-workers, --sandbox-workers and --checker-workers take a count from 0 to 1024");
  }
  aha::actors::node_setup setup{*join, cluster, config->grader.sandbox, config->grader.require_sandbox,
                                config->run.threads, bound_teardown};
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  auto outcome = aha::actors::run_node(setup, g_stop, std::cerr);
  if (!outcome) {
    std::cerr << "aha node: " << outcome.error().message << "\n";
    return 1;
  }
  std::cerr << "aha node: offered " << outcome->workers_offered << " workers (" << outcome->worker_restarts
            << " replacements, " << outcome->rejoins << " rejoins)\n";
  return exit_code(outcome->end);
}

}  // namespace

AHA_COMMAND("node", "offer this host's reward workers to a running controller (aha node --join HOST:PORT)", node);
