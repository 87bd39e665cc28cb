// The split audit of a whole run, from its artifacts: a tiny run writes every eval sample
// (eval_<stage>.jsonl), what SFT trained on (sft_examples.jsonl) and its replay store; the test
// recomputes from those files that no held-out prompt was trained on, and fails at any overlap.
// scripts/audit_run.py (an independent Python reading of the same files, with `aha replay
// inspect --json --all`) must agree. Also: the audit does notice a planted overlap.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "actors/controller.hpp"
#include "actors/replay_store.hpp"
#include "actors/run_audit.hpp"
#include "tests/tiny_run.hpp"

// LibTorch pulls in glog, whose CHECK would replace Catch2's: include Catch2 last.
#undef CHECK
#include <catch2/catch.hpp>

namespace fs = std::filesystem;

namespace {

std::vector<nlohmann::json> json_lines(const fs::path& file) {
  std::vector<nlohmann::json> out;
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}

std::string run_command(const std::string& command, int& status) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  char buffer[4096];
  while (p && std::fgets(buffer, sizeof buffer, p)) out += buffer;
  status = p ? ::pclose(p) : -1;
  return out;
}

}  // namespace

TEST_CASE("audit: no held-out prompt of a run was trained on, measured from its artifacts", "[integration]") {
  auto config = aha::testing::tiny_run_config("audit", {"sft.steps=6", "grpo.learner.steps=3"});
  REQUIRE(config.ok());
  std::ostringstream log;
  auto report = aha::actors::run_training(*config, log);
  INFO(log.str());
  REQUIRE(report.ok());
  const fs::path dir = config->run.dir;

  // 1. The artifacts are there, one line per sample and per example.
  auto sft = json_lines(dir / "sft_examples.jsonl");
  CHECK(sft.size() == 6 * config->sft.batch_size);
  std::set<std::string> evaluated;
  for (const char* stage : {"initial", "after_sft", "after_grpo"}) {
    auto samples = json_lines(dir / ("eval_" + std::string(stage) + ".jsonl"));
    CHECK(samples.size() == report->eval_prompts * config->eval.samples);
    for (const auto& s : samples) {
      for (const char* key : {"prompt", "gold", "completion", "answer", "verdict", "reward", "correct"}) CHECK(s.contains(key));
      evaluated.insert(s["task"].get<std::string>() + "\n" + s["prompt"].get<std::string>());
    }
  }
  CHECK(evaluated.size() == report->eval_prompts_unique);

  // 2. What was trained on, read here without the audit's code: SFT lines and consumed groups.
  std::set<std::string> trained;
  for (const auto& e : sft) trained.insert(e["task"].get<std::string>() + "\n" + e["prompt"].get<std::string>());
  aha::actors::replay_store_options options;
  options.dir = (dir / config->replay.dir).string();
  options.read_only = true;
  std::uint64_t consumed = 0;
  {
    auto store = aha::actors::replay_store::open(options);
    REQUIRE(store.ok());
    for (const auto& [id, entry] : (*store)->entries()) {
      if (!entry.consumed) continue;
      auto group = (*store)->get(id);
      REQUIRE(group.ok());
      trained.insert(group->source.task + "\n" + group->source.text);
      ++consumed;
    }
  }
  CHECK(consumed == 3 * config->grpo.learner.groups_per_step);
  std::size_t overlap = 0;
  for (const auto& e : evaluated) overlap += trained.count(e);
  CHECK(overlap == 0);

  // 3. The report says the same.
  auto json = nlohmann::json::parse(std::ifstream(dir / "report.json"));
  CHECK(json["train_eval_overlap"] == 0);
  CHECK(json["eval_prompts_unique"] == report->eval_prompts_unique);
  CHECK(json["split_audit"]["grpo_groups"] == consumed);
  CHECK(json["split_audit"]["sft_examples"] == sft.size());

  // 4. The independent Python audit agrees (it exits 1 at any overlap).
  int status = 0;
  auto out = run_command("python3 " AHA_SOURCE_DIR "/scripts/audit_run.py " + dir.string() + " --aha " AHA_BINARY, status);
  INFO(out);
  CHECK(status == 0);
  auto end = out.find_last_not_of('\n');
  REQUIRE(end != std::string::npos);
  auto begin = out.rfind('\n', end);
  auto audit = nlohmann::json::parse(out.substr(begin == std::string::npos ? 0 : begin + 1, end + 1 - (begin + 1)));
  CHECK(audit["train_eval_overlap"] == 0);
  CHECK(audit["grpo_groups"] == consumed);
  fs::remove_all(dir);
}

TEST_CASE("audit: a planted overlap is found", "[integration]") {
  const fs::path dir = fs::temp_directory_path() / ("aha-audit-planted-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  aha::protocol::prompt trained_one{};
  trained_one.task = "addition";
  trained_one.text = "12+30=";
  {
    std::ofstream sft(dir / "sft_examples.jsonl");
    aha::actors::write_sft_example(sft, 0, trained_one);
  }
  auto trained = aha::actors::read_trained_problems((dir / "sft_examples.jsonl").string(), (dir / "replay").string());
  REQUIRE(trained.ok());
  aha::protocol::prompt other = trained_one;
  other.text = "12+31=";
  aha::protocol::prompt same_spaced = trained_one;
  same_spaced.text = " 12+30= ";
  CHECK(aha::actors::count_overlap({other}, *trained) == 0);
  CHECK(aha::actors::count_overlap({other, same_spaced}, *trained) == 1);
  fs::remove_all(dir);
}
