// Tests of the metrics actor: JSONL lines with step, time, the given values and the latest
// gauges, and the live TensorBoard event file beside them; the progress line's key selection.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "actors/actor_test_support.hpp"
#include "actors/metrics.hpp"

using namespace aha;
using namespace aha::actors;

TEST_CASE("metrics: one JSON line per record, with gauges, appended") {
  auto dir = std::filesystem::temp_directory_path() / ("aha_metrics_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto path = (dir / "run" / "metrics.jsonl").string();
  {
    testing::deterministic_system t;
    metrics_config config;
    config.progress = false;
    auto metrics = spawn_metrics(*t.sys, config, path, threading::scheduled);
    REQUIRE(metrics.ok());
    caf::anon_send(*metrics, gauge_atom::value, metric_map{{"replay/ready", 4}});
    caf::anon_send(*metrics, record_atom::value, std::uint64_t{1}, metric_map{{"grpo/loss", 0.5}, {"grpo/reward_mean", 0.25}});
    caf::anon_send(*metrics, gauge_atom::value, metric_map{{"replay/ready", 7}});
    caf::anon_send(*metrics, record_atom::value, std::uint64_t{2}, metric_map{{"grpo/loss", std::nan("")}});
    auto flushed = testing::ask<caf::ok_atom>(*t.sys, *metrics, caf::flush_atom::value);
    t.run();
    CHECK(flushed->value);
    caf::anon_send_exit(*metrics, caf::exit_reason::user_shutdown);
    t.run();
  }
  std::ifstream in(path);
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["step"] == 1);
  CHECK(lines[0]["grpo/reward_mean"] == 0.25);
  CHECK(lines[0]["replay/ready"] == 4);
  CHECK(lines[0]["time"].get<double>() > 1.6e9);
  CHECK(lines[1]["replay/ready"] == 7);
  CHECK(lines[1]["grpo/loss"].is_null());  // NaN is not JSON
  // The same lines went live to TensorBoard: one event file in tb/grpo/ (the stage of "grpo/" keys).
  std::vector<std::filesystem::path> events;
  for (const auto& f : std::filesystem::directory_iterator(dir / "run" / "tb" / "grpo")) events.push_back(f.path());
  REQUIRE(events.size() == 1);
  CHECK(events[0].filename().string().find("events.out.tfevents.") == 0);
  CHECK(std::filesystem::file_size(events[0]) > 100);  // the file version and two events
  std::filesystem::remove_all(dir);
}

TEST_CASE("metrics: the progress line shows the chosen keys by suffix") {
  metric_map values{{"grpo/loss", 0.125}, {"grpo/reward_mean", 0.5}, {"learner/version", 3}};
  auto line = progress_line(12, values, {"loss", "reward_mean"}, 35.6);
  CHECK(line == "step 12  loss 0.1250  reward_mean 0.5000  (35s)");
  auto all = progress_line(1, values, {}, 0);
  CHECK(all.find("version 3.0000") != std::string::npos);
}
