// The joining side of the cluster (`aha node --join HOST:PORT`): connects to the controller's
// registry (actors/cluster.hpp), proves it knows the cluster secret and checks that the
// controller does too, builds the built-in rewards from the settings the controller sends, and
// offers its reward workers (cluster.node.cpu_workers / sandbox_workers / checker_workers; the
// sandbox from grader.sandbox). Then it supervises: a worker that dies (a crash, or killed by the grader
// at a deadline) is replaced and offered again. It ends when the controller says the run is
// over (done), when `stop` is set (a signal), or when the controller is gone and cannot be joined
// again within cluster.node.join_timeout (cluster.node.rejoin; a cut link that comes back).
// Tested end to end by tests/cluster.test.cpp (as a real process).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>

#include "actors/cluster.hpp"
#include "core/result.hpp"
#include "sandbox/sandbox_config.hpp"

namespace aha::actors {

enum class node_end {
  run_over,         // the controller said the run is over
  stopped,          // `stop` was set (SIGINT / SIGTERM)
  controller_lost,  // the controller disappeared without saying so
};

struct node_setup {
  std::string join;                   // the controller's HOST:PORT
  cluster_config cluster;             // secret, heartbeats, timeouts, cluster.node
  sandbox::sandbox_config sandbox;    // this host's sandbox pool (for sandbox workers)
  bool require_sandbox = true;        // false: offer no sandbox workers when the sandbox cannot start
  std::uint32_t threads = 0;          // CAF scheduler threads; 0 = number of cores
  // Called once the node's end is decided, before its workers and actor system are torn down
  // (aha node bounds that teardown with it: a node has nothing left to save).
  std::function<void(node_end)> on_leaving;
};

struct node_outcome {
  node_end end = node_end::run_over;
  std::uint64_t workers_offered = 0;  // including replacements
  std::uint64_t worker_restarts = 0;  // workers that died and were replaced
  std::uint64_t rejoins = 0;          // joins after losing the controller (cluster.node.rejoin)
};

// Runs the node; returns when it ends, or an error when it could not join (unreachable,
// refused: wrong secret, another version, a name already in use).
result<node_outcome> run_node(const node_setup& setup, const std::atomic<bool>& stop, std::ostream& log);

}  // namespace aha::actors
