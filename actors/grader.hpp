// grader: grades a group of G rollouts. For each rollout and each reward spec whose tasks match
// the prompt's task it queues one task on the spec's worker pool (pull: a worker takes the next
// task when it is idle, so in-flight work is bounded by the pool size). Each task has a deadline;
// a late one becomes a verdict_status::timeout component (value 0, counted) and its worker is
// replaced. A worker that dies mid-task is respawned and its task re-queued (bounded attempts,
// then an error verdict) — never silently dropped. Workers offered from outside (a node's, see
// cluster.hpp) join a pool like local ones; a lost one's slot is dropped, its task re-queued.
// Totals are weighted sums; advantages are GRPO's over the rollouts whose grading succeeded (a
// timeout/error verdict gets advantage 0, counted in grading_failures_masked); the scored group goes to the replay buffer
// and grade() replies after its ack. Handles grade / score / offer / stats (interfaces.hpp,
// grader_actor). Tested by grader.test.cpp and tests/cluster.test.cpp (remote workers).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/advantages.hpp"
#include "actors/interfaces.hpp"
#include "actors/reward_workers.hpp"
#include "core/config.hpp"
#include "sandbox/sandbox_config.hpp"

namespace aha::actors {

struct grader_config {
  reward_config rewards;                        // which rewards, weights, deadlines
  bool std_normalise = true;                    // GRPO (on) or Dr. GRPO (off) advantages
  float advantage_eps = 1e-6f;                  // added to the group std
  std::uint32_t cpu_workers = 2;                // workers for math/format/language checks
  std::uint32_t sandbox_workers = 2;            // workers waiting on sandbox runs of programs (code)
  std::uint32_t checker_workers = 16;           // workers waiting on batched checker runs (countdown)
  std::uint32_t max_pending_groups = 256;       // grade/score requests in progress; more are refused
  std::uint32_t max_requeues = 2;               // re-queues of one task after worker deaths, then an error verdict
  std::chrono::milliseconds node_probe{2000};   // a remote task past its deadline: how long its node has to answer a probe
  std::chrono::milliseconds store_timeout{60000};  // replay buffer put request timeout
  sandbox::sandbox_config sandbox;              // the sandbox pool used by code and countdown rewards
  bool require_sandbox = true;                  // false: run without one when it cannot start (code and
                                                // countdown rewards then give counted error verdicts)
};
template <class V>
void describe(V& v, grader_config& c) {
  v.section("rewards", c.rewards, "reward components, weights and deadlines");
  v.field("std_normalise", c.std_normalise, "divide advantages by the group's reward std (false = Dr. GRPO)");
  v.field("advantage_eps", c.advantage_eps, "added to the group std", config::range{0, 1});
  v.field("cpu_workers", c.cpu_workers, "reward workers for math, format and language checks", config::range{1, 1024});
  v.field("sandbox_workers", c.sandbox_workers, "reward workers for sandboxed programs (code)", config::range{1, 1024});
  v.field("checker_workers", c.checker_workers,
          "reward workers for batched sandboxed checkers (countdown): their checks share runs, so more workers make "
          "bigger batches, not more processes",
          config::range{1, 1024});
  v.field("max_pending_groups", c.max_pending_groups, "groups in grading at once; more are refused",
          config::range{1, 1e6});
  v.field("max_requeues", c.max_requeues, "re-queues of a task whose worker died", config::range{0, 100});
  v.field("node_probe", c.node_probe,
          "a task on a node's worker past its deadline: the node must answer a probe within this, or it is "
          "unreachable and the task is re-queued instead of timing out (duration)", config::range{0.001, 3600});
  v.field("store_timeout", c.store_timeout, "timeout of the replay buffer write (duration)", config::range{0.001, 3600});
  v.field("require_sandbox", c.require_sandbox,
          "fail at start-up when the sandbox cannot start (false: code/countdown rewards become error verdicts)");
  v.section("sandbox", c.sandbox, "sandbox pool for code and countdown rewards");
}

// Spawns the grader with explicit reward specs; pool sizes by name (specs name their pool).
// `replay` may be invalid when only score() is used.
result<grader_actor> spawn_grader(caf::actor_system& sys, const grader_config& config, replay_buffer_actor replay,
                                  std::vector<reward_spec> specs, std::map<std::string, std::uint32_t> pool_sizes,
                                  threading mode = threading::detached);

// Spawns the grader with the built-in rewards (make_builtin_rewards), creating the sandbox pool
// from config.sandbox. Pools: "cpu" (cpu_workers), "sandbox" (sandbox_workers) and "checker"
// (checker_workers).
result<grader_actor> spawn_builtin_grader(caf::actor_system& sys, const grader_config& config,
                                          replay_buffer_actor replay);

}  // namespace aha::actors
