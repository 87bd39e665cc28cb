// Tests of the distill stage (pipeline/distill_stage.hpp) over a whole tiny run: a teacher (the
// tiny model after a cold start) distils into a smaller student (the built-in "micro" model);
// the traces file holds only answers an independent check finds correct and readable; the
// student's checkpoint loads with the student's architecture; report.json's stage entry has the
// teacher, the student and the baseline side by side; a run stopped after the distill stage
// resumes with the student as its policy and does not distil again; malformed distill entries get
// clear errors; every recipe in configs/ loads and validates. Single-digit sums: the run takes
// a few tens of seconds on two cores.

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "actors/controller.hpp"
#include "actors/tasks/task.hpp"
#include "core/fault_point.hpp"
#include "core/test_skip.hpp"
#include "model/char_tokenizer.hpp"
#include "model/hf_checkpoint.hpp"
#include "pipeline/runner.hpp"
#include "rewards/format_reward.hpp"
#include "tests/tiny_run.hpp"

// LibTorch pulls in glog, whose CHECK would replace Catch2's: include Catch2 last.
#undef CHECK
#include <catch2/catch.hpp>

#include "tests/staged_run.hpp"  // after Catch2: it uses its macros

namespace fs = std::filesystem;
using aha::actors::run_config;
using aha::testing::config_error;
using aha::testing::read_json;
using aha::testing::read_jsonl;
using aha::testing::staged_run;

namespace {

// A cold start makes the tiny model a teacher that gets some single-digit sums right; the distill
// stage samples it, keeps the verified traces and trains the micro student on them; an eval
// stage after it runs on whatever the policy then is.
const char* kDistill = R"(
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
name = "distill"
kind = "distill"
[stages.rejection]
prompts = 24
samples = 6
keep = 2
max_chars = 40
[stages.distill.student]
builtin = "micro"
[stages.sft]
steps = 20
[stages.sft.optimizer]
lr = 3e-3
warmup_steps = 5
[[stages]]
name = "check"
kind = "eval"
)";

}  // namespace

TEST_CASE("distill: a smaller student learns from verified traces, the report has teacher, student and baseline, "
          "a resume does not distil again",
          "[integration]") {
  auto config = staged_run("distill", kDistill);
  const fs::path dir = config.run.dir;
  const bool stop_between = aha::fault::kCompiledIn;
  std::ostringstream log;
  if (stop_between) {
    // Stops right after stage 2 ("distill") is checkpointed and its entry written.
    auto fired = std::make_shared<std::atomic<int>>(0);
    aha::fault::arm("pipeline.between_stages", [fired] {
      if (fired->fetch_add(1) == 1) throw std::runtime_error("injected fault after the distill stage");
    });
  }
  auto first = aha::actors::run_training(config, log);
  aha::fault::disarm_all();
  INFO(log.str());
  if (stop_between) {
    REQUIRE_FALSE(first.ok());
    CHECK_THAT(first.error().message, Catch::Contains("distill"));
    auto state = read_json(dir / "checkpoint" / "trainer_state.json");
    CHECK(state["stage_name"] == "distill");
    CHECK(state["stage_done"] == true);
    CHECK(state["stage"] == "distill");
  } else {
    REQUIRE(first.ok());
  }

  // 1. The traces, re-graded here without the grader: the tagged answer is the gold sum, the
  //    format strict, the language the prompt's, the length bound held, at most keep = 2 per
  //    prompt, no repeat.
  const fs::path traces = dir / "distill.jsonl";
  REQUIRE(fs::exists(traces));
  auto kept = read_jsonl(traces);
  REQUIRE(kept.size() > 0);
  std::map<std::string, std::set<std::string>> per_prompt;
  for (const auto& line : kept) {
    const std::string completion = line["completion"];
    CHECK(aha::actors::tasks::tagged_answer(completion) == line["gold"].get<std::string>());
    CHECK(aha::rewards::format_reward(completion, aha::rewards::format_mode::strict) == 1.0f);
    CHECK(aha::rewards::language_consistency(completion, line["language"].get<std::string>()) == 1.0f);
    CHECK(completion.size() <= 40);
    CHECK(per_prompt[line["prompt"].get<std::string>()].insert(completion).second);
  }
  for (const auto& [prompt, completions] : per_prompt) CHECK(completions.size() <= 2);
  // The student trained on those traces and nothing else; the baseline on the training split.
  auto examples = read_jsonl(dir / "stages" / "distill" / "sft_examples.jsonl");
  CHECK(examples.size() == 20 * config.sft.batch_size);
  for (const auto& e : examples) CHECK(per_prompt.count(e["prompt"].get<std::string>()) == 1);
  CHECK(read_jsonl(dir / "stages" / "distill" / "baseline_sft_examples.jsonl").size() == 20 * config.sft.batch_size);

  // 2. The student's checkpoints have the student's architecture, not the teacher's.
  const auto micro = aha::pipeline::builtin_model_config("micro", aha::model::char_tokenizer().vocab_size());
  REQUIRE(micro.ok());
  for (const fs::path& folder : {dir / "checkpoint", dir / "stages" / "distill" / "student"}) {
    auto architecture = aha::model::read_model_config(folder.string());
    REQUIRE(architecture.ok());
    CHECK(architecture->hidden_size == micro->hidden_size);
    CHECK(architecture->num_hidden_layers == micro->num_hidden_layers);
    auto loaded = aha::model::load_pretrained(folder.string());
    REQUIRE(loaded.ok());
  }

  // 3. A resume continues with the eval stage on the student, without distilling again.
  if (stop_between) {
    config.run.resume = true;
    std::ostringstream resumed_log;
    auto resumed = aha::actors::run_training(config, resumed_log);
    INFO(resumed_log.str());
    INFO((resumed.ok() ? std::string() : resumed.error().message));
    REQUIRE(resumed.ok());
    CHECK(resumed_log.str().find("continuing with \"check\"") != std::string::npos);
    CHECK(resumed_log.str().find("distill:") == std::string::npos);
    CHECK(resumed_log.str().find("sft step") == std::string::npos);
    CHECK(read_jsonl(traces) == kept);  // untouched
  }

  // 4. report.json: the distill entry has the three side by side; its accuracy is the student's,
  //    which the eval stage after it (the same greedy policy, reloaded after a resume) repeats.
  auto json = read_json(dir / "report.json");
  REQUIRE(json["stages"].size() == 3);
  const auto& entry = json["stages"][1];
  CHECK(entry["kind"] == "distill");
  CHECK(entry["steps"] == 20);
  const auto& d = entry["details"];
  for (const char* who : {"teacher", "student", "baseline"}) {
    INFO(who);
    REQUIRE(d.contains(who));
    CHECK(d[who]["accuracy"].get<double>() >= 0.0);
    CHECK(d[who]["accuracy"].get<double>() <= 1.0);
  }
  CHECK(d["student"]["accuracy"] == entry["accuracy"]);
  CHECK(d["student"]["model"] == "builtin micro");
  CHECK(d["student"]["parameters"].get<std::int64_t>() == aha::model::parameter_count(*micro));
  CHECK(d["teacher"]["model"] == "the run's policy");
  // The teacher is the cold-start policy: its held-out accuracy is the eval after "cold".
  CHECK(d["teacher"]["accuracy"] == json["stages"][0]["accuracy"]);
  CHECK(d["traces"]["kept"] == kept.size());
  CHECK(d["traces"]["sampled"] == 24 * 6);
  CHECK(json["stages"][2]["accuracy"] == entry["accuracy"]);
  CHECK(json["train_eval_overlap"] == 0);
  // The audit read the traces and both students' examples beside the cold start's.
  CHECK(json["split_audit"]["sft_examples"] == (150 + 20 + 20) * config.sft.batch_size + kept.size());
  CHECK(json["sft_steps"] == 150 + 20);
  fs::remove_all(dir);
}

TEST_CASE("distill: malformed distill entries get a clear error", "[integration]") {
  const std::string stage = "[[stages]]\nname = \"d\"\nkind = \"distill\"\n";
  CHECK_THAT(config_error(stage + "[stages.rejection]\nsamples = 2\nkeep = 3\n"), Catch::Contains("rejection.keep"));
  CHECK_THAT(config_error(stage + "[stages.rejection]\ntemperature = 0.0\n"), Catch::Contains("rejection.temperature"));
  CHECK_THAT(config_error(stage + "[stages.distill.student]\nbuiltin = \"huge\"\n"), Catch::Contains("micro"));
  CHECK_THAT(config_error(stage + "[stages.distill]\nteachr = \"x\"\n"), Catch::Contains("teachr"));
  CHECK_THAT(config_error(stage + "data = \"x.jsonl\"\n"), Catch::Contains("belong to sft stages"));
  // An sft stage may train on a distill stage's traces; a well-formed entry is accepted.
  CHECK(config_error(stage + "[[stages]]\nname = \"s\"\nkind = \"sft\"\nfrom_stage = \"d\"\n") == "");
  CHECK(config_error(stage) == "");
  // The student is [model] unless the stage says otherwise.
  auto config = aha::config::load_string<run_config>("[model]\nbuiltin = \"micro\"\n" + stage);
  REQUIRE(config.ok());
  CHECK(config->stages[0].distill.student.builtin == "micro");
}

TEST_CASE("distill: a teacher that cannot be loaded is a clear error", "[integration]") {
  auto config = staged_run("distill-noteacher", R"(
[[stages]]
name = "d"
kind = "distill"
[stages.distill]
teacher = "/nonexistent/teacher"
)");
  std::ostringstream log;
  auto report = aha::actors::run_training(config, log);
  REQUIRE_FALSE(report.ok());
  CHECK_THAT(report.error().message, Catch::Contains("distill.teacher = \"/nonexistent/teacher\""));
  fs::remove_all(config.run.dir);
}

TEST_CASE("configs: every recipe in configs/ loads, resolves and validates", "[integration]") {
  std::size_t recipes = 0;
  for (const auto& entry : fs::directory_iterator(fs::path(AHA_SOURCE_DIR) / "configs")) {
    if (entry.path().extension() != ".toml") continue;
    INFO(entry.path().string());
    auto config = aha::config::load<run_config>(entry.path().string(), {});
    INFO((config.ok() ? std::string() : config.error().message));
    REQUIRE(config.ok());
    aha::actors::resolve(*config);
    auto valid = aha::actors::validate(*config);
    INFO((valid ? std::string() : valid.error().message));
    CHECK(valid.ok());
    // What `aha config show` prints (and a run directory's config.toml holds) reads back the same.
    auto again = aha::config::load_string<run_config>(aha::config::to_toml(*config));
    INFO((again.ok() ? std::string() : again.error().message));
    REQUIRE(again.ok());
    REQUIRE(again->stages.size() == config->stages.size());
    for (std::size_t i = 0; i < config->stages.size(); ++i) {
      CHECK(again->stages[i].kind == config->stages[i].kind);
      CHECK(again->stages[i].distill.student.builtin == config->stages[i].distill.student.builtin);
      CHECK(again->stages[i].distill.student.path == config->stages[i].distill.student.path);
    }
    ++recipes;
  }
  CHECK(recipes >= 5);  // tiny_r1, r1_tiny, r1_zero_qwen_gpu, distill_tiny, r1_qwen_gpu
  // The distill recipe's student is the smaller built-in model, its teacher the run's policy.
  auto distill = aha::config::load<run_config>(std::string(AHA_SOURCE_DIR) + "/configs/distill_tiny.toml", {});
  REQUIRE(distill.ok());
  REQUIRE(distill->stages.size() == 3);
  CHECK(distill->stages[2].kind == aha::actors::stage_kind::distill);
  CHECK(distill->stages[2].distill.student.builtin == "micro");
  CHECK(distill->model.builtin == "tiny");
  CHECK(distill->stages[2].distill.teacher.empty());
}
