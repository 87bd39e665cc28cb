// Reward functions and the workers that run them. A reward_spec names one reward component
// (its kind, weight, deadline, which tasks it applies to, which worker pool runs it) and holds a
// plain blocking function; reward workers are actors (detached: their own thread) that run one
// spec at a time for the grader. make_builtin_rewards() wires the real implementations:
// rewards/ math verifier, format and language rewards, and sandbox/ + rewards/code_* for code
// and countdown. Tested by grader.test.cpp (test doubles) and reward_workers.test.cpp (real ones).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/interfaces.hpp"
#include "core/config.hpp"
#include "core/result.hpp"

namespace aha::sandbox {
class pool;
}

namespace aha::actors {

// A reward: returns the component's value and status; the grader fills in kind and weight.
// Must be thread-safe (several workers call it at once) and should respect its own time bound.
using reward_fn = std::function<protocol::reward_component(const protocol::prompt&, const protocol::rollout&)>;

struct reward_spec {
  std::string name;                               // "accuracy.math", "format", ...
  protocol::reward_kind kind = protocol::reward_kind::accuracy;
  float weight = 1.0f;                            // weight in the total
  std::chrono::milliseconds deadline{5000};       // a later result is a timeout verdict (value 0)
  std::vector<std::string> tasks;                 // prompt tasks it applies to; empty = every task
  std::string pool = "cpu";                       // worker pool that runs it
  reward_fn fn;

  bool applies_to(const std::string& task) const;
};

// Which built-in rewards run and how (part of grader_config).
struct reward_config {
  float accuracy_weight = 1.0f;
  float format_weight = 0.1f;                     // R1-style template reward
  float language_weight = 0.0f;                   // language consistency (0 = off)
  std::string format_mode = "strict";             // strict | lenient
  std::chrono::milliseconds math_deadline{2000};
  std::chrono::milliseconds code_deadline{15000};
  std::chrono::milliseconds cheap_deadline{1000};  // format and language
  std::chrono::milliseconds extra_latency{0};     // added to every accuracy check (simulates a remote grader)
};
template <class V>
void describe(V& v, reward_config& c) {
  v.field("accuracy_weight", c.accuracy_weight, "weight of the accuracy reward", config::range{0, 1e3});
  v.field("format_weight", c.format_weight, "weight of the <think>/<answer> format reward", config::range{0, 1e3});
  v.field("language_weight", c.language_weight, "weight of language consistency (0 = off)", config::range{0, 1e3});
  v.field("format_mode", c.format_mode, "format reward: strict (0/1) or lenient (quarters)");
  v.field("math_deadline", c.math_deadline, "deadline of one math check (duration)", config::range{0.001, 3600});
  v.field("code_deadline", c.code_deadline, "deadline of one sandboxed code check (duration)", config::range{0.001, 3600});
  v.field("cheap_deadline", c.cheap_deadline, "deadline of format/language checks (duration)", config::range{0.001, 3600});
  v.field("extra_latency", c.extra_latency, "sleep added to each accuracy check, to simulate slow graders (duration)",
          config::range{0, 3600});
}

// The built-in rewards: accuracy for math/arithmetic (math verifier, pool "cpu"), code (tests
// in the sandbox, one run per program, pool "sandbox"), countdown (a checker program in the
// sandbox, concurrent answers batched into one run: pool "checker");
// format and language (pool "cpu"). When `sandbox` is null the sandboxed rewards still exist but
// return error verdicts saying `sandbox_problem` (counted by the grader, never a silent zero).
result<std::vector<reward_spec>> make_builtin_rewards(const reward_config& config,
                                                      std::shared_ptr<sandbox::pool> sandbox,
                                                      std::string sandbox_problem = "no sandbox pool");

// Wraps every spec's function so that a sandbox run it starts is killed at the spec's deadline
// (sandbox::deadline_scope): its pool slot is free again when the grader gives up on the task,
// not only at the run's own limit. The scope starts when a worker takes the task, a little after
// the grader's deadline clock. Used for the controller's workers and for a node's alike.
std::vector<reward_spec> bounded_by_deadlines(std::vector<reward_spec> specs);

// ---- workers -----------------------------------------------------------------------------------

// work(spec index, prompt, rollout) -> the component (value, status, detail).
using reward_worker_actor = caf::typed_actor<caf::replies_to<work_atom, std::uint32_t, protocol::prompt,
                                                             protocol::rollout>::with<protocol::reward_component>>;

// A worker running specs[index].fn; an exception from the function becomes an error verdict.
reward_worker_actor spawn_reward_worker(caf::actor_system& sys, std::shared_ptr<const std::vector<reward_spec>> specs,
                                        threading mode);

}  // namespace aha::actors
