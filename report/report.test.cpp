// Tests of reading a run directory (run_files.hpp) and of report.html (html_report.hpp): stages
// from keys, a torn last line, the x axis across stages, every plot with its series in the SVG,
// the eval table from report.json, and a page even without report.json.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <unistd.h>

#include "report/html_report.hpp"
#include "report/run_files.hpp"
#include "report/tensorboard.hpp"

using namespace aha::report;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("aha_report_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Three SFT steps (numbered from 0) and three GRPO steps (from 1), as a run writes them.
void write_metrics(const fs::path& dir) {
  std::ofstream out(dir / "metrics.jsonl");
  for (int i = 0; i < 3; ++i) {
    out << R"({"step":)" << i << R"(,"time":)" << 100 + i << R"(,"elapsed":)" << i << R"(,"sft/loss":)" << 3 - i << "}\n";
  }
  for (int i = 1; i <= 3; ++i) {
    out << R"({"step":)" << i << R"(,"time":)" << 110 + 2 * i << R"(,"elapsed":)" << 10 + 2 * i
        << R"(,"grpo/loss":0.1,"grpo/kl":0.01,"grpo/entropy":1.5,"reward_mean":)" << 0.1 * i
        << R"(,"accuracy":0.2,"response_length":12,"rollouts":8,"staleness/0":0.5,"staleness/2":0.5,"learner/version":)" << i
        << "}\n";
  }
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The data-points count of a series in the page, or -1 when it is absent.
int points_of(const std::string& page, const std::string& series) {
  std::smatch m;
  std::regex pattern("data-series=\"" + std::regex_replace(series, std::regex(R"([.*+?()\[\]/])"), R"(\$&)") +
                     "\" data-points=\"([0-9]+)\"");
  return std::regex_search(page, m, pattern) ? std::stoi(m[1]) : -1;
}

}  // namespace

TEST_CASE("report: a line's stage comes from its keys") {
  CHECK(stage_of(nlohmann::json{{"step", 1}, {"sft/loss", 1}, {"replay/ready", 2}}) == "sft");
  CHECK(stage_of(nlohmann::json{{"step", 1}, {"grpo/loss", 1}}) == "grpo");
  CHECK(stage_of(nlohmann::json{{"step", 1}, {"learner/version", 1}, {"reward_mean", 0}}) == "grpo");
  CHECK(stage_of(nlohmann::json{{"step", 1}, {"cluster/nodes", 1}}) == "run");
}

TEST_CASE("report: metrics.jsonl lines, a torn last line skipped with a note") {
  auto dir = fresh_dir("torn");
  write_metrics(dir);
  std::ofstream(dir / "metrics.jsonl", std::ios::app) << R"({"step":4,"grpo/lo)";
  auto log = read_metrics((dir / "metrics.jsonl").string());
  REQUIRE(log.ok());
  CHECK(log->lines.size() == 6);
  CHECK(log->stages == std::vector<std::string>{"sft", "grpo"});
  REQUIRE(log->notes.size() == 1);
  CHECK(log->notes[0].find("metrics.jsonl:7") != std::string::npos);
  CHECK(log->lines[3].values.at("staleness/2") == 0.5);
  CHECK(log->lines[3].values.count("time") == 0);
  CHECK(log->lines[3].elapsed == 12);
  fs::remove_all(dir);
}

TEST_CASE("report: the x axis puts GRPO after SFT") {
  auto dir = fresh_dir("axis");
  write_metrics(dir);
  auto log = read_metrics((dir / "metrics.jsonl").string());
  REQUIRE(log.ok());
  auto axis = make_axis(*log);
  CHECK(axis.starts == std::vector<double>{0, 3});
  CHECK(axis.ends == std::vector<double>{3, 6});
  CHECK(axis.x_of(log->lines[0]) == 1);  // SFT step 0
  CHECK(axis.x_of(log->lines[3]) == 4);  // GRPO step 1
  fs::remove_all(dir);
}

TEST_CASE("report: report.html has every plot, its series, the stage boundary and the eval table") {
  auto dir = fresh_dir("html");
  write_metrics(dir);
  nlohmann::json eval{{"pass_at_1", 0.25}, {"maj_at_k", 0.5}, {"format_rate", 0.75}, {"prompts", 4}, {"samples", 4},
                      {"pass_at_k", {{"1", 0.25}, {"4", 0.625}}},
                      {"by_task", {{"arithmetic", {{"prompts", 4}, {"pass_at_1", 0.25}, {"maj_at_k", 0.5},
                                                   {"pass_at_k", {{"1", 0.25}, {"4", 0.625}}}}}}}};
  std::ofstream(dir / "report.json") << nlohmann::json{{"steps", 3}, {"sft_steps", 3},
                                                       {"eval", {{"initial", eval}, {"after_sft", eval}, {"after_grpo", eval}}}}.dump();
  auto written = write_html_report(dir.string());
  REQUIRE(written.ok());
  CHECK(written->notes.empty());
  const auto page = slurp(dir / "report.html");
  for (const char* plot : {"reward", "accuracy", "response_length", "entropy", "kl", "staleness", "throughput", "loss"}) {
    INFO(plot);
    CHECK(page.find("data-plot=\"" + std::string(plot) + "\"") != std::string::npos);
  }
  CHECK(points_of(page, "reward_mean") == 3);
  CHECK(points_of(page, "response_length") == 3);
  CHECK(points_of(page, "grpo/entropy") == 3);
  CHECK(points_of(page, "grpo/kl") == 3);
  CHECK(points_of(page, "sft/loss") == 3);
  CHECK(points_of(page, "mean staleness (staleness/*)") == 3);
  CHECK(points_of(page, "rollouts/s (rollouts / elapsed between steps)") == 2);  // a stage's first step has no interval
  CHECK(points_of(page, "held-out pass@1 (report.json)") == 3);  // before training, after SFT, after GRPO
  CHECK(page.find("class=\"boundary\"") != std::string::npos);
  CHECK(page.find("<th>pass@4</th>") != std::string::npos);
  CHECK(page.find("<td>0.625</td>") != std::string::npos);
  CHECK(page.find("<td>arithmetic</td>") != std::string::npos);
  CHECK(page.find("<script") == std::string::npos);  // self-contained: nothing to run, nothing to fetch
  CHECK(page.find("http://") == page.find("http://www.w3.org/2000/svg"));
  fs::remove_all(dir);
}

TEST_CASE("report: without report.json the page is drawn from metrics.jsonl, with a note") {
  auto dir = fresh_dir("no_report");
  write_metrics(dir);
  auto written = write_html_report(dir.string());
  REQUIRE(written.ok());
  REQUIRE(written->notes.size() == 1);
  CHECK(written->notes[0].find("no report.json") != std::string::npos);
  const auto page = slurp(dir / "report.html");
  CHECK(points_of(page, "reward_mean") == 3);
  CHECK(points_of(page, "held-out pass@1 (report.json)") == 0);
  std::ofstream(dir / "report.json") << "{ not json";
  CHECK_FALSE(write_html_report(dir.string()).ok());
  fs::remove_all(dir);
}

TEST_CASE("report: a run that has logged no step yet gets a page saying so, and no event file") {
  auto dir = fresh_dir("empty");
  std::ofstream(dir / "metrics.jsonl").flush();
  auto written = write_html_report(dir.string());
  REQUIRE(written.ok());
  const auto page = slurp(dir / "report.html");
  CHECK(page.find("no data in this run") != std::string::npos);
  CHECK(page.find("No report.json yet") != std::string::npos);
  auto events = write_tensorboard(dir.string());
  REQUIRE(events.ok());
  CHECK(events->events_by_stage.empty());
  CHECK(events->files.empty());
  fs::remove_all(dir);
}
