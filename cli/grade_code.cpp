// `aha grade code --input FILE.jsonl [--workers N]`: grades Python programs against their tests
// in the sandbox. Each line: {"program", "tests": [{"stdin","stdout"}...]} or {"program",
// "test_code"} (or MBPP's "test_list", HumanEval's "test" + "entry_point"); prints one JSON
// object per line, in order: passed, status, passed_tests,
// total_tests, cpu_ms, wall_ms, detail — or {"line", "error", "passed": false} for a bad line.
#include <fstream>
#include <future>
#include <iostream>

#include "cli/command.hpp"
#include "rewards/code_reward.hpp"
#include "sandbox/reply_json.hpp"

namespace {

constexpr const char* kName = "grade code";

int grade_code(aha::cli::arguments& args) {
  auto input = args.option("--input"), workers = args.option("--workers");
  if (!args.unknown_options().empty()) return aha::cli::usage_error(kName, args.unknown_options());
  if (!input) return aha::cli::usage_error(kName, "--input FILE.jsonl is required");
  std::ifstream in(*input);
  if (!in) return aha::cli::usage_error(kName, "cannot read " + *input);
  aha::sandbox::sandbox_config config;
  if (workers) config.workers = static_cast<std::uint32_t>(std::strtoul(workers->c_str(), nullptr, 10));
  auto pool = aha::sandbox::pool::create(config);
  if (!pool) return std::cerr << "aha grade code: " << pool.error().message << "\n", 1;

  // Every task is submitted at once (the pool's queue applies backpressure); answers print in order.
  std::vector<std::future<nlohmann::json>> results;
  std::size_t line_number = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_number;
    auto promise = std::make_shared<std::promise<nlohmann::json>>();
    results.push_back(promise->get_future());
    auto record = nlohmann::json::parse(line, nullptr, false);
    auto task = record.is_discarded()
                    ? aha::result<aha::rewards::code_task>(aha::make_error(aha::errc::invalid_argument, "not valid JSON"))
                    : aha::rewards::parse_code_task(record);
    if (!task) {
      promise->set_value({{"line", line_number}, {"error", *input + ":" + std::to_string(line_number) + ": " +
                                                               task.error().message}, {"passed", false}});
      continue;
    }
    aha::rewards::grade_code_async(*task, **pool, [promise](aha::rewards::code_verdict v) {
      promise->set_value(aha::rewards::to_json(v));
    });
  }
  for (auto& r : results) std::cout << aha::sandbox::dump_json(r.get()) << "\n";
  return 0;
}

}  // namespace

AHA_COMMAND("grade code", "grade Python programs against their tests in the sandbox (JSONL)", grade_code);
