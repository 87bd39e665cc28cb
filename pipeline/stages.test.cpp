// Tests of the stage pipeline (pipeline/runner.hpp) over the whole run: a four-stage recipe runs
// in order and report.json lists each stage; rejection sampling writes only answers that an
// independent check finds correct and readable, at most `keep` per prompt and no repeats, and the
// next SFT stage trains on exactly that file; a run stopped between stages resumes in the next
// one without redoing the finished one; malformed [[stages]] entries get a clear error; a recipe
// without [[stages]] keeps its legacy plan; built-in prompts posed in French are the same problems
// (one split side, one key) as in English. The tiny model on single-digit sums: a few seconds
// per stage on two cores.

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <cstdlib>
#include <iostream>
#include <stdexcept>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "actors/controller.hpp"
#include "actors/tasks/dataset.hpp"
#include "actors/tasks/split.hpp"
#include "core/fault_point.hpp"
#include "core/test_skip.hpp"
#include "pipeline/rejection_sampling.hpp"
#include "pipeline/runner.hpp"
#include "rewards/format_reward.hpp"
#include "tests/tiny_run.hpp"

// LibTorch pulls in glog, whose CHECK would replace Catch2's: include Catch2 last.
#undef CHECK
#include <catch2/catch.hpp>

#include "tests/staged_run.hpp"  // after Catch2: it uses its macros

namespace fs = std::filesystem;
using aha::actors::run_config;
using aha::testing::arm_once;
using aha::testing::config_error;
using aha::testing::read_json;
using aha::testing::read_jsonl;
using aha::testing::staged_run;

namespace {

// Single-digit sums (100 problems, a tenth held out): after a short cold start the tiny model
// answers some of them, so rejection sampling has correct samples to keep (after 40 SFT steps it
// had 3 correct of 144, none in the template: the format filter rejected them all).
const char* kPipeline = R"(
[prompts.dataset.arithmetic]
terms = 2
max_operand = 9
ops = "+"
[[stages]]
name = "cold"
kind = "sft"
[stages.sft]
steps = 150
[stages.sft.optimizer]
lr = 3e-3
warmup_steps = 10
[[stages]]
name = "rl"
kind = "grpo"
[stages.grader.rewards]
language_weight = 0.1
[stages.grpo.learner]
steps = 2
[[stages]]
name = "sample"
kind = "rejection_sample"
[stages.rejection]
prompts = 24
samples = 6
keep = 2
max_chars = 40
[[stages]]
name = "resft"
kind = "sft"
from_stage = "sample"
[stages.sft]
steps = 3
)";

}  // namespace

TEST_CASE("stages: a four-stage pipeline runs in order and its SFT stage trains on verified rejection samples",
          "[integration]") {
  auto config = staged_run("stages-four", kPipeline);
  const fs::path dir = config.run.dir;
  std::ostringstream log;
  auto report = aha::actors::run_training(config, log);
  INFO(log.str());
  REQUIRE(report.ok());

  // 1. report.json lists every stage in order, with its steps and held-out accuracy after it.
  auto json = read_json(dir / "report.json");
  REQUIRE(json["stages"].size() == 4);
  const std::vector<std::string> names{"cold", "rl", "sample", "resft"};
  const std::vector<std::string> kinds{"sft", "grpo", "rejection_sample", "sft"};
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(json["stages"][i]["name"] == names[i]);
    CHECK(json["stages"][i]["kind"] == kinds[i]);
    CHECK(json["stages"][i]["evaluated"] == true);
    CHECK(json["stages"][i]["accuracy"].get<double>() >= 0.0);
    CHECK(fs::exists(dir / ("eval_after_" + names[i] + ".jsonl")));
  }
  CHECK(json["stages"][0]["steps"] == 150);
  CHECK(json["stages"][1]["steps"] == 2);
  CHECK(json["stages"][2]["steps"] == 24 * 6);  // samples graded
  CHECK(json["grpo_accuracy"] == json["stages"][3]["accuracy"]);  // the report's final eval is the last stage's
  CHECK(json["train_eval_overlap"] == 0);

  // 2. The sampled set: re-graded here, without the grader: the tagged answer is the gold sum,
  //    the format is strict, the language is the prompt's, the length bound holds, at most `keep`
  //    per prompt, no repeat; the statistics agree with the file.
  const fs::path sampled = dir / "sample.jsonl";
  REQUIRE(fs::exists(sampled));
  auto kept = read_jsonl(sampled);
  const auto& stats = json["stages"][2]["details"];
  CHECK(stats["kept"] == kept.size());
  CHECK(stats["sampled"] == 24 * 6);
  CHECK(stats["correct"].get<std::uint64_t>() >= kept.size());
  INFO("rejection statistics: " << stats.dump());
  REQUIRE(kept.size() > 0);  // after 150 SFT steps the tiny model gets some single-digit sums right
  std::map<std::string, std::set<std::string>> per_prompt;
  for (const auto& line : kept) {
    const std::string completion = line["completion"];
    const std::string prompt = line["prompt"];
    CHECK(aha::actors::tasks::tagged_answer(completion) == line["gold"].get<std::string>());
    CHECK(aha::rewards::format_reward(completion, aha::rewards::format_mode::strict) == 1.0f);
    CHECK(aha::rewards::language_consistency(completion, line["language"].get<std::string>()) == 1.0f);
    CHECK(completion.size() <= 40);
    CHECK(line["components"]["accuracy"]["value"] == 1.0);
    CHECK(per_prompt[prompt].insert(completion).second);  // no repeat within a prompt
  }
  for (const auto& [prompt, completions] : per_prompt) CHECK(completions.size() <= 2);
  CHECK(stats["prompts_with_kept"] == per_prompt.size());
  // Every sample graded is in the stage's samples file; kept ones are among its correct ones.
  auto samples = read_jsonl(dir / "stages" / "sample" / "samples.jsonl");
  CHECK(samples.size() == 24 * 6);

  // 3. The SFT stage after it trained on that file and nothing else.
  auto examples = read_jsonl(dir / "stages" / "resft" / "sft_examples.jsonl");
  CHECK(examples.size() == 3 * config.sft.batch_size);
  for (const auto& e : examples) CHECK(per_prompt.count(e["prompt"].get<std::string>()) == 1);
  CHECK(json["stages"][3]["details"]["data"] == sampled.string());
  // The audit saw both SFT stages' examples and the GRPO stage's groups.
  CHECK(json["split_audit"]["sft_examples"] == (150 + 3) * config.sft.batch_size);
  CHECK(json["split_audit"]["grpo_groups"].get<std::uint64_t>() >= 2 * 2);

  // 4. The checkpoint names the last stage, done.
  auto state = read_json(dir / "checkpoint" / "trainer_state.json");
  CHECK(state["stage_index"] == 3);
  CHECK(state["stage_name"] == "resft");
  CHECK(state["stage_done"] == true);
  CHECK(state["sft_steps"] == 153);
  fs::remove_all(dir);
}

TEST_CASE("stages: a run stopped between stages resumes in the next stage and does not redo the finished one",
          "[integration]") {
  if (!aha::fault::kCompiledIn) AHA_SKIP("fault points are compiled out (AHA_FAULT_POINTS=OFF)");
  auto config = staged_run("stages-resume", R"(
[[stages]]
name = "cold"
kind = "sft"
[stages.sft]
steps = 6
[[stages]]
name = "rl"
kind = "grpo"
[stages.grpo.learner]
steps = 2
[[stages]]
name = "check"
kind = "eval"
)");
  const fs::path dir = config.run.dir;
  std::ostringstream log;
  arm_once("pipeline.between_stages", 0);  // stops right after stage "cold" is checkpointed
  auto stopped = aha::actors::run_training(config, log);
  aha::fault::disarm_all();
  INFO(log.str());
  REQUIRE_FALSE(stopped.ok());
  CHECK_THAT(stopped.error().message, Catch::Contains("cold"));
  auto state = read_json(dir / "checkpoint" / "trainer_state.json");
  CHECK(state["stage_index"] == 0);
  CHECK(state["stage_name"] == "cold");
  CHECK(state["stage_done"] == true);
  const auto examples_before = read_jsonl(dir / "stages" / "cold" / "sft_examples.jsonl");
  CHECK(examples_before.size() == 6 * config.sft.batch_size);

  config.run.resume = true;
  std::ostringstream resumed_log;
  auto resumed = aha::actors::run_training(config, resumed_log);
  INFO(resumed_log.str());
  REQUIRE(resumed.ok());
  CHECK(resumed_log.str().find("sft step") == std::string::npos);  // the finished stage did not run again
  CHECK(resumed_log.str().find("continuing with \"rl\"") != std::string::npos);
  auto json = read_json(dir / "report.json");
  REQUIRE(json["stages"].size() == 3);
  CHECK(json["stages"][0]["name"] == "cold");
  CHECK(json["stages"][0]["steps"] == 6);  // its figures came back from stages.json
  CHECK(json["stages"][0]["evaluated"] == true);
  CHECK(json["stages"][1]["name"] == "rl");
  CHECK(json["stages"][1]["steps"] == 2);
  CHECK(json["stages"][2]["kind"] == "eval");
  CHECK(json["sft_steps"] == 6);
  CHECK(read_jsonl(dir / "stages" / "cold" / "sft_examples.jsonl") == examples_before);  // untouched
  auto state_after = read_json(dir / "checkpoint" / "trainer_state.json");
  CHECK(state_after["stage_name"] == "check");
  CHECK(state_after["weight_version"].get<std::uint64_t>() >= 1);  // the GRPO stage's version carried on
  fs::remove_all(dir);
}

TEST_CASE("stages: malformed [[stages]] entries get a clear error", "[integration]") {
  CHECK_THAT(config_error("[[stages]]\nname = \"a\"\nkind = \"distil\"\n"), Catch::Contains("not one of: sft, grpo"));
  CHECK_THAT(config_error("[[stages]]\nkind = \"sft\"\n"), Catch::Contains("missing required key"));
  CHECK_THAT(config_error("[[stages]]\nname = \"a\"\n"), Catch::Contains("missing kind"));
  CHECK_THAT(config_error("[[stages]]\nname = \"a\"\nkind = \"sft\"\nstepz = 3\n"), Catch::Contains("stepz"));
  CHECK_THAT(config_error("[[stages]]\nname = \"a\"\nkind = \"sft\"\n[stages.run]\nseed = 2\n"), Catch::Contains("run"));
  CHECK_THAT(config_error("[[stages]]\nname = \"a\"\nkind = \"sft\"\n[[stages]]\nname = \"a\"\nkind = \"grpo\"\n"),
             Catch::Contains("unique"));
  CHECK_THAT(config_error("[[stages]]\nname = \"a b\"\nkind = \"sft\"\n"), Catch::Contains("letters, digits"));
  CHECK_THAT(config_error("[[stages]]\nname = \"a\"\nkind = \"sft\"\nfrom_stage = \"b\"\n"),
             Catch::Contains("names no earlier rejection_sample or distill stage"));
  CHECK_THAT(config_error("[[stages]]\nname = \"a\"\nkind = \"grpo\"\ndata = \"x.jsonl\"\n"),
             Catch::Contains("belong to sft stages"));
  CHECK_THAT(config_error("[[stages]]\nname = \"r\"\nkind = \"rejection_sample\"\n[stages.rejection]\nsamples = 2\nkeep = 3\n"),
             Catch::Contains("rejection.keep"));
  // A stage's own sections are checked like the run's, named by the stage.
  CHECK_THAT(config_error("[[stages]]\nname = \"g\"\nkind = \"grpo\"\n[stages.generator]\ntemperature = 0.0\n"),
             Catch::Contains("stages[0] \"g\": generator.temperature"));
  CHECK(config_error("[[stages]]\nname = \"a\"\nkind = \"sft\"\n") == "");
}

TEST_CASE("stages: a stage table overlays the run sections and a recipe without stages keeps the legacy plan",
          "[integration]") {
  auto config = aha::config::load_string<run_config>(R"(
[run]
dir = "/tmp/aha-plan"
[sft]
batch_size = 7
steps = 11
[grader.rewards]
format_weight = 0.5
[[stages]]
name = "a"
kind = "sft"
[stages.sft]
steps = 5
[[stages]]
name = "b"
kind = "grpo"
[stages.grader.rewards]
language_weight = 0.2
)");
  REQUIRE(config.ok());
  aha::actors::resolve(*config);
  auto a = aha::actors::stage_view(*config, 0);
  CHECK(a.sft.steps == 5);
  CHECK(a.sft.batch_size == 7);                         // the run's, not the default
  CHECK(a.grader.rewards.format_weight == 0.5f);        // inherited
  CHECK(a.replay.dir == "stages/a/replay");             // its own buffer
  CHECK(a.prompts.state_file == "stages/a/prompt_cursor.json");
  auto b = aha::actors::stage_view(*config, 1);
  CHECK(b.grader.rewards.language_weight == 0.2f);
  CHECK(b.grader.rewards.format_weight == 0.5f);
  CHECK(b.sft.steps == 11);
  auto plan = aha::pipeline::plan_stages(*config);
  REQUIRE(plan.size() == 2);
  CHECK(plan[0].examples_file == "/tmp/aha-plan/stages/a/sft_examples.jsonl");
  CHECK(plan[1].eval_file == "/tmp/aha-plan/eval_after_b.jsonl");
  // The resolved config (config.toml in the run directory) reads back to the same stages.
  auto again = aha::config::load_string<run_config>(aha::config::to_toml(*config));
  REQUIRE(again.ok());
  REQUIRE(again->stages.size() == 2);
  CHECK(again->stages[1].config.grader.rewards.language_weight == 0.2f);
  CHECK(again->stages[0].config.sft.steps == 5);

  // Without [[stages]]: SFT then GRPO on the run's own files, named as always.
  auto legacy = aha::config::load_string<run_config>("[run]\ndir = \"/tmp/aha-legacy\"\n[sft]\nsteps = 3\n");
  REQUIRE(legacy.ok());
  aha::actors::resolve(*legacy);
  auto legacy_plan = aha::pipeline::plan_stages(*legacy);
  REQUIRE(legacy_plan.size() == 2);
  CHECK(legacy_plan[0].name == "sft");
  CHECK(legacy_plan[0].examples_file == "/tmp/aha-legacy/sft_examples.jsonl");
  CHECK(legacy_plan[0].eval_file == "/tmp/aha-legacy/eval_after_sft.jsonl");
  CHECK(legacy_plan[1].name == "grpo");
  CHECK(legacy_plan[1].config.replay.dir == legacy->replay.dir);
  CHECK(legacy_plan[1].reference_dir == "/tmp/aha-legacy/reference");
  // A legacy checkpoint ("sft" done) resumes at GRPO; one inside GRPO resumes inside it.
  aha::actors::trainer_state sft_done;
  sft_done.stage = "sft";
  auto at = aha::pipeline::start_of(legacy_plan, sft_done, true);
  REQUIRE(at.ok());
  CHECK(at->index == 1);
  CHECK_FALSE(at->inside);
  aha::actors::trainer_state in_grpo;
  in_grpo.stage = "grpo";
  in_grpo.grpo_step = 4;
  at = aha::pipeline::start_of(legacy_plan, in_grpo, true);
  REQUIRE(at.ok());
  CHECK(at->index == 1);
  CHECK(at->inside);
  // A pipeline's checkpoint must name the recipe's stage at its index.
  aha::actors::trainer_state wrong;
  wrong.stage = "sft";
  wrong.stage_index = 0;
  wrong.stage_name = "zzz";
  wrong.stage_done = true;
  auto refused = aha::pipeline::start_of(plan, wrong, false);
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.error().message, Catch::Contains("\"zzz\""));
}

TEST_CASE("stages: readability filters of rejection sampling", "[integration]") {
  aha::actors::rejection_config settings;
  settings.max_chars = 40;
  auto good = aha::pipeline::check_readability("<think>3+4=7</think><answer>7</answer>", "en", settings, "strict");
  CHECK(good.readable());
  CHECK_FALSE(aha::pipeline::check_readability("7</answer>", "en", settings, "strict").format);
  CHECK_FALSE(aha::pipeline::check_readability("<think>3+4=7 " + std::string(40, '1') + "</think><answer>7</answer>",
                                               "en", settings, "strict")
                  .length);
  // A word outside the prompt's script is a mixed-language completion.
  CHECK_FALSE(aha::pipeline::check_readability("<think>\xd0\xbf\xd1\x80\xd0\xb8\xd0\xbc\xd0\xb5\xd1\x80</think><answer>7</answer>",
                                               "en", settings, "strict")
                  .language);
}

TEST_CASE("stages: built-in prompts posed in French are the same problems as in English", "[integration]") {
  aha::actors::tasks::dataset_config config;
  config.tasks = {"arithmetic"};
  config.seed = 5;
  config.train_size = 400;
  config.eval_size = 40;
  config.languages = {"en", "fr"};
  auto train = aha::actors::tasks::open_dataset(config, aha::actors::tasks::split::train);
  REQUIRE(train.ok());
  std::set<std::string> train_keys;
  std::size_t french = 0;
  for (std::uint64_t i = 0; i < (*train)->size(); ++i) {
    auto sample = (*train)->at(i);
    if (sample.prompt.language == "fr") {
      ++french;
      CHECK(sample.prompt.text.rfind("Calcule ", 0) == 0);
      // The phrase is not part of the problem: the same key as the English prompt.
      CHECK(aha::actors::tasks::problem_key(sample.prompt) ==
            aha::actors::tasks::problem_key("arithmetic", sample.prompt.text.substr(8)));
    } else {
      CHECK(sample.prompt.language == "en");
    }
    train_keys.insert(aha::actors::tasks::problem_key(sample.prompt));
  }
  CHECK(french > 100);
  CHECK(french < 300);
  // The held-out set mixes both languages and none of its problems is trained on in either.
  auto held_out = aha::actors::tasks::open_held_out(config, 40);
  REQUIRE(held_out.ok());
  for (const auto& s : held_out->samples) CHECK(train_keys.count(aha::actors::tasks::problem_key(s.prompt)) == 0);
  // English alone is the task's own prompt, unchanged.
  config.languages = {"en"};
  auto english = aha::actors::tasks::open_dataset(config, aha::actors::tasks::split::train);
  REQUIRE(english.ok());
  CHECK((*english)->at(0).prompt.text.find("Calcule") == std::string::npos);
  config.languages = {"xx"};
  auto bad = aha::actors::tasks::open_dataset(config, aha::actors::tasks::split::train);
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Catch::Contains("valid: en, fr, de, es"));
}

TEST_CASE("stages: configs/r1_tiny.toml lists R1's stages and validates", "[integration]") {
  auto config = aha::config::load<run_config>(std::string(AHA_SOURCE_DIR) + "/configs/r1_tiny.toml", {});
  REQUIRE(config.ok());
  aha::actors::resolve(*config);
  auto valid = aha::actors::validate(*config);
  INFO((valid ? std::string() : valid.error().message));
  REQUIRE(valid.ok());
  std::vector<std::string> kinds;
  for (const auto& s : config->stages) kinds.push_back(aha::actors::stage_kind_name(s.kind));
  CHECK(kinds == std::vector<std::string>{"sft", "grpo", "rejection_sample", "sft", "grpo"});
  CHECK(aha::actors::stage_view(*config, 1).grader.rewards.language_weight > 0);  // R1's language reward in RL
  CHECK(aha::actors::stage_view(*config, 0).grader.rewards.language_weight == 0);
  CHECK(config->stages[3].from_stage == "rejection");
}

// Not part of the suite (hidden tag): runs a whole recipe, as `aha train` would, for measurements:
//   build/pipeline/pipeline_tests "[.recipe]"   (AHA_RECIPE = another recipe, AHA_RECIPE_DIR = its run dir)
TEST_CASE("stages: run a whole recipe", "[.recipe]") {
  const char* recipe = std::getenv("AHA_RECIPE");
  const char* dir = std::getenv("AHA_RECIPE_DIR");
  auto config = aha::config::load<run_config>(recipe ? recipe : std::string(AHA_SOURCE_DIR) + "/configs/r1_tiny.toml",
                                              {std::string("run.dir=") + (dir ? dir : "/tmp/aha-r1_tiny")});
  REQUIRE(config.ok());
  auto report = aha::actors::run_training(*config, std::cerr);
  REQUIRE(report.ok());
}
