// metrics: the run's per-step record. record(step, values) appends one JSON line to
// <run_dir>/metrics.jsonl — {"step", "time" (unix s), "elapsed" (s), every value given, the
// latest gauges} — and refreshes a one-line progress display on stderr: rewritten in place when
// stderr is a terminal, else printed every `log_interval`. gauge(values) only updates the gauges.
// With `tensorboard`, each line also goes live to TensorBoard event files, <run_dir>/tb/<stage>/
// (report/tensorboard.hpp); the run rewrites them from metrics.jsonl when it ends.
// Handles record / gauge / flush (interfaces.hpp, metrics_actor). Tested by metrics.test.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/interfaces.hpp"
#include "core/config.hpp"
#include "core/result.hpp"

namespace aha::actors {

struct metrics_config {
  bool progress = true;                             // show the progress line on stderr
  std::chrono::milliseconds log_interval{10000};    // when stderr is not a terminal: a line this often
  // Keys shown in the progress line, matched against the end of each metric's name
  // ("reward_mean" shows "grpo/reward_mean"); empty: the first five metrics of the step.
  std::vector<std::string> progress_keys = {"loss", "reward_mean", "accuracy", "idle_fraction"};
  bool tensorboard = true;  // also write each line to tb/<stage>/ event files beside metrics.jsonl, live
};
template <class V>
void describe(V& v, metrics_config& c) {
  v.field("progress", c.progress, "show a live progress line on stderr");
  v.field("log_interval", c.log_interval, "progress line period when stderr is not a terminal (duration)",
          config::range{0, 86400});
  v.field("progress_keys", c.progress_keys, "metric names (suffixes) shown in the progress line");
  v.field("tensorboard", c.tensorboard, "write TensorBoard event files (tb/<stage>/ beside metrics.jsonl) as steps come");
}

// The progress line for one step: "step 12  loss 0.1234  reward_mean 0.5000  (35s)".
std::string progress_line(std::uint64_t step, const metric_map& values, const std::vector<std::string>& keys,
                          double elapsed_seconds);

// Opens (appends to) `jsonl_path`, creating its folder, and spawns the actor.
result<metrics_actor> spawn_metrics(caf::actor_system& sys, const metrics_config& config, const std::string& jsonl_path,
                                    threading mode = threading::detached);

}  // namespace aha::actors
