// Integration tests of the whole topology in one process: the built-in tiny model goes through
// SFT and GRPO with the real generator, grader (math verifier + sandbox), replay buffer, gate and
// learner. Checks the report, the metrics, the staleness bound in sync and async mode, and a
// golden run (fixed seed, recorded SFT losses within tolerance).

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include <torch/cuda.h>

#include "actors/controller.hpp"

// LibTorch pulls in glog, whose CHECK would replace Catch2's: include Catch2 last.
#undef CHECK
#include <catch2/catch.hpp>

namespace fs = std::filesystem;
using aha::actors::run_config;

namespace {

// A small but complete recipe: both tasks, both reward paths.
run_config small_recipe(const std::string& name, const std::string& mode, std::uint64_t grpo_steps) {
  std::string dir = (fs::temp_directory_path() / ("aha-test-" + name + "-" + std::to_string(::getpid()))).string();
  fs::remove_all(dir);
  auto config = aha::config::load_string<run_config>(R"(
[run]
seed = 7
threads = 1
[prompts.dataset]
tasks = ["arithmetic", "countdown"]
eval_size = 16
[generator]
group_size = 4
prompts_per_batch = 2
max_new_tokens = 24
[sft]
steps = 8
batch_size = 8
[grpo.learner]
groups_per_step = 2
[eval]
prompts = 8
[metrics]
progress = false
)",
                                                     {"run.dir=" + dir, "run.mode=" + mode,
                                                      "grpo.learner.steps=" + std::to_string(grpo_steps)});
  REQUIRE(config.ok());
  return *config;
}

std::vector<nlohmann::json> metric_lines(const std::string& dir) {
  std::ifstream in(fs::path(dir) / "metrics.jsonl");
  std::vector<nlohmann::json> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

std::vector<nlohmann::json> grpo_lines(const std::vector<nlohmann::json>& lines) {
  std::vector<nlohmann::json> out;
  for (const auto& l : lines) {
    if (l.contains("grpo/loss")) out.push_back(l);
  }
  return out;
}

}  // namespace

TEST_CASE("pipeline: async run of SFT and GRPO writes its report, metrics and checkpoint", "[integration]") {
  auto config = small_recipe("async", "async", 4);
  std::ostringstream log;
  auto report = aha::actors::run_training(config, log);
  INFO(log.str());
  REQUIRE(report.ok());
  CHECK(report->sft_steps == 8);
  CHECK(report->grpo_steps == 4);
  CHECK(report->after_grpo.prompts == 8);
  auto json = nlohmann::json::parse(std::ifstream(fs::path(config.run.dir) / "report.json"));
  for (const char* key : {"sft_accuracy", "grpo_accuracy", "steps", "wall_seconds"}) CHECK(json.contains(key));
  // A normal async run drops nothing (the buffer serves the oldest version first, so a group graded
  // after newer ones is still trained in time), and the gate's books balance
  // (tests/staleness.test.cpp forces drops with a grader slow on some groups).
  CHECK(json["dropped_stale"] == 0);
  CHECK(json["gate"]["unmatched"] == 0);
  CHECK(json["gate"]["dropped"] == json["dropped_stale"]);
  CHECK(json["gate"]["granted"] == json["gate"]["consumed"].get<std::uint64_t>() +
                                       json["gate"]["dropped"].get<std::uint64_t>() +
                                       json["gate"]["released"].get<std::uint64_t>() +
                                       json["gate"]["in_flight"].get<std::uint64_t>());
  CHECK(json["rollouts_consumed"] == 4 * 8);  // measured: steps x groups_per_step x group_size here
  auto grpo = grpo_lines(metric_lines(config.run.dir));
  REQUIRE(grpo.size() == 4);
  for (const auto& line : grpo) {
    CHECK(line["rollouts"] == 8);  // groups_per_step x group_size
    CHECK(line.contains("reward_mean"));
    CHECK(line.contains("learner/idle_fraction"));
    CHECK(line["replay/dropped_stale"] == 0);
    // eta = 1: nothing older than one version is ever consumed.
    for (auto& [key, value] : line.items()) {
      if (key.rfind("staleness/", 0) == 0) CHECK(std::stoi(key.substr(10)) <= 1);
    }
  }
  CHECK(fs::exists(fs::path(config.run.dir) / "checkpoint" / "model.safetensors"));
  CHECK(fs::exists(fs::path(config.run.dir) / "checkpoint" / "optimizer.pt"));
  CHECK(fs::exists(fs::path(config.run.dir) / "checkpoint" / "aha_tokenizer.json"));  // the tiny model's vocabulary
  auto state = nlohmann::json::parse(std::ifstream(fs::path(config.run.dir) / "checkpoint" / "trainer_state.json"));
  CHECK(state["stage"] == "grpo");
  CHECK(state["grpo_step"] == 4);
  CHECK(state["sft_steps"] == 8);
  fs::remove_all(config.run.dir);
}

TEST_CASE("pipeline: sync mode consumes only groups of the learner's current version", "[integration]") {
  auto config = small_recipe("sync", "sync", 3);
  std::ostringstream log;
  auto report = aha::actors::run_training(config, log);
  INFO(log.str());
  REQUIRE(report.ok());
  auto lines = metric_lines(config.run.dir);
  auto grpo = grpo_lines(lines);
  REQUIRE(grpo.size() == 3);
  for (const auto& line : grpo) CHECK(line.value("staleness/0", 0.0) == 1.0);

  // Golden run: seed 7, one LibTorch thread. The SFT stage is sequential and seeded, so its losses
  // are recorded values (1% tolerance for BLAS differences between CPUs). A change of the model,
  // tokenizer, tasks or optimizer shows up here first. Re-recorded when run.seed began to seed
  // the data and the split became a function of each problem (the demonstrations changed).
  std::vector<double> sft_losses;
  for (const auto& line : lines) {
    if (line.contains("sft/loss")) sft_losses.push_back(line["sft/loss"].get<double>());
  }
  REQUIRE(sft_losses.size() == 8);
  CHECK(sft_losses.front() == Approx(4.7308).epsilon(0.01));
  CHECK(sft_losses.back() == Approx(3.7421).epsilon(0.01));
  fs::remove_all(config.run.dir);
}

TEST_CASE("pipeline: a malformed recipe is refused before anything runs", "[integration]") {
  auto bad = aha::config::load_string<run_config>("[grpo.learner]\nstep = 3\n", {}, "bad.toml");
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Catch::Contains("bad.toml:2") && Catch::Contains("did you mean 'steps'"));
}

TEST_CASE("pipeline: an unusable model.device is refused with what to change", "[integration]") {
  auto config = small_recipe("device", "async", 1);
  std::ostringstream log;
  config.model.device = "gpu0";
  auto bad = aha::actors::run_training(config, log);
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Catch::Contains("model.device") && Catch::Contains("cpu, cuda or cuda:N"));
  if (!torch::cuda::is_available()) {
    fs::remove_all(config.run.dir);
    config.model.device = "cuda";
    auto no_gpu = aha::actors::run_training(config, log);
    REQUIRE_FALSE(no_gpu.ok());
    CHECK_THAT(no_gpu.error().message, Catch::Contains("no CUDA device"));
  }
  fs::remove_all(config.run.dir);
}

TEST_CASE("pipeline: every recipe in configs/ loads and resolves", "[integration]") {
  int recipes = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(AHA_SOURCE_DIR) / "configs")) {
    if (entry.path().extension() != ".toml") continue;
    INFO(entry.path().string());
    auto config = aha::config::load<run_config>(entry.path().string(), {});
    REQUIRE(config.ok());
    aha::actors::resolve(*config);
    ++recipes;
  }
  CHECK(recipes >= 2);
}

TEST_CASE("pipeline: stale behaviour policies (eta 2, 2 mini-batches x 2 epochs) train stably, weights away from 1",
          "[integration]") {
  auto config = small_recipe("stale", "async", 6);
  config.run.max_staleness = 2;
  config.grpo.ppo_epochs = 2;
  config.grpo.mini_batches = 2;
  config.generator.top_p = 0.95;  // behaviour log-probs of the truncated sampler, pi_prox rebuilt the same way
  // A learning signal: a longer cold start and the lenient (quarter-step) format reward give groups
  // whose rewards differ, so the weights move and a stale group's pi_prox leaves its pi_behaviour.
  config.sft.steps = 40;
  config.sft.optimizer.lr = 3e-3;
  config.grader.rewards.format_mode = "lenient";
  std::ostringstream log;
  auto report = aha::actors::run_training(config, log);
  INFO(log.str());
  REQUIRE(report.ok());
  auto json = nlohmann::json::parse(std::ifstream(fs::path(config.run.dir) / "report.json"));
  CHECK(json.contains("grading_failures_masked"));
  auto grpo = grpo_lines(metric_lines(config.run.dir));
  REQUIRE(grpo.size() == 6);
  std::size_t stale_steps = 0, corrected_steps = 0, moved_steps = 0;
  for (const auto& line : grpo) {
    INFO(line.dump());
    CHECK(line["grpo/updates"] == 4);
    CHECK(std::isfinite(line["grpo/loss"].get<double>()));
    CHECK(std::isfinite(line["grpo/grad_norm"].get<double>()));
    CHECK(line["grpo/entropy"].get<double>() > 0.05);  // no collapse onto one token
    CHECK(line["grpo/importance_weight"].get<double>() > 0.0);
    CHECK(line["grpo/importance_weight"].get<double>() <= config.grpo.loss.behaviour_weight_cap);
    // Updates 2-4 see pi_theta != pi_old whenever update 1 moved the weights; a step whose groups
    // all have equal rewards has no gradient (dynamic sampling aside), and its ratio stays 1.
    if (line["grpo/grad_norm"].get<double>() > 0) CHECK(line["grpo/ratio_deviation"].get<double>() > 0.0);
    moved_steps += line["grpo/ratio_deviation"].get<double>() > 0.0 ? 1 : 0;
    double stale = 0;
    for (auto& [key, value] : line.items()) {
      if (key.rfind("staleness/", 0) == 0 && std::stoi(key.substr(10)) >= 1) stale += value.get<double>();
      if (key.rfind("staleness/", 0) == 0) CHECK(std::stoi(key.substr(10)) <= 2);
    }
    // A group sampled by an older version has pi_prox != pi_behaviour on its tokens once the
    // versions between them moved the weights.
    if (stale > 0) {
      ++stale_steps;
      corrected_steps += line["grpo/importance_weight_deviation"].get<double>() > 1e-3 ? 1 : 0;
    }
  }
  CHECK(moved_steps > 0);
  CHECK(corrected_steps > 0);
  // With eta = 2 the generators run ahead of the learner (a 24-token group is quicker than four
  // updates); a run without one stale group would not test the correction at all.
  CHECK(stale_steps > 0);
  fs::remove_all(config.run.dir);
}

TEST_CASE("pipeline: on-policy groups (sync) under top-p keep behaviour weights at 1 with PPO updates",
          "[integration]") {
  // The behaviour weight's numerator is pi_old rebuilt as the same truncated sampler the generator
  // drew from: on-policy it is 1 (not the kept mass), whatever top-p cut.
  auto config = small_recipe("onpolicy", "sync", 2);
  config.grpo.ppo_epochs = 2;
  config.grpo.mini_batches = 2;
  config.generator.top_p = 0.8;
  std::ostringstream log;
  auto report = aha::actors::run_training(config, log);
  INFO(log.str());
  REQUIRE(report.ok());
  auto grpo = grpo_lines(metric_lines(config.run.dir));
  REQUIRE(grpo.size() == 2);
  for (const auto& line : grpo) {
    INFO(line.dump());
    CHECK(line.value("staleness/0", 0.0) == 1.0);
    CHECK(line["grpo/importance_weight_deviation"].get<double>() < 1e-3);
    CHECK(line["grpo/importance_weight"].get<double>() == Approx(1.0).margin(1e-3));
  }
  fs::remove_all(config.run.dir);
}
