// `aha bench grade`: throughput and latency of verify_math over a mixed corpus (the public
// equivalence suite plus generated completions), and, when the Python `math-verify` package is
// importable by --python (default python3), its time and verdicts on the same cases.
// Options: --data FILE.jsonl, --rounds N (passes over the corpus), --python PATH.
// Ends with one JSON line: median_us, p99_us, checks_per_s[, speedup_vs_math_verify, agreement].
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "rewards/math_verifier.hpp"

namespace {

using nlohmann::json;

struct bench_case {
  std::string gold, pred;
};

std::vector<bench_case> load_cases(const std::string& path) {
  std::vector<bench_case> cases;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    json row = json::parse(line, nullptr, false);
    if (row.is_discarded() || !row.is_object()) continue;
    auto text = [](const json& v) { return v.is_string() ? v.get<std::string>() : (v.is_null() ? "" : v.dump()); };
    cases.push_back({text(row.value("gold", json())), text(row.value("pred", json()))});
  }
  return cases;
}

// Completions shaped like RL rollouts: a paragraph of reasoning, then a boxed answer.
std::vector<bench_case> generated_cases(std::size_t n) {
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> small(1, 99);
  const std::string prose = "Let us compute step by step. First we simplify the expression, then we check the "
                            "boundary cases and combine the terms carefully. ";
  std::vector<bench_case> cases;
  for (std::size_t i = 0; i < n; ++i) {
    int a = small(rng), b = small(rng);
    std::string gold, answer;
    switch (i % 5) {
      case 0: gold = std::to_string(a * b); answer = std::to_string(a * b + (i % 3 == 0)); break;
      case 1: gold = "\\frac{" + std::to_string(a) + "}{" + std::to_string(b) + "}";
              answer = "\\frac{" + std::to_string(2 * a) + "}{" + std::to_string(2 * b) + "}"; break;
      case 2: gold = "(x+" + std::to_string(a) + ")^2";
              answer = "x^2+" + std::to_string(2 * a) + "x+" + std::to_string(a * a); break;
      case 3: gold = "[" + std::to_string(a) + ", \\infty)"; answer = "x \\geq " + std::to_string(a); break;
      default: gold = std::to_string(a) + "\\sqrt{" + std::to_string(b % 7 + 2) + "}";
               answer = "\\sqrt{" + std::to_string(a * a * (b % 7 + 2)) + "}"; break;
    }
    cases.push_back({gold, "<think>" + prose + prose + "</think> " + prose + "The answer is $\\boxed{" + answer + "}$."});
  }
  return cases;
}

struct python_result {
  bool ran = false;
  double seconds = 0;
  std::vector<char> verdicts;  // '1', '0' or 'E'
};

// Runs scripts/math_verify_bench.py on the cases; ran == false when math-verify is not importable.
python_result run_math_verify(const std::string& python, const std::vector<bench_case>& cases) {
  python_result r;
  if (std::system((python + " -c 'import math_verify' >/dev/null 2>&1").c_str()) != 0) return r;
  std::string in_path = "/tmp/aha_bench_grade_in.jsonl", out_path = "/tmp/aha_bench_grade_out.txt";
  {
    std::ofstream out(in_path);
    for (const auto& c : cases)
      out << json{{"gold", c.gold}, {"pred", c.pred}}.dump(-1, ' ', false, json::error_handler_t::replace) << '\n';
  }
  std::string cmd = python + " " + AHA_SOURCE_DIR + "/scripts/math_verify_bench.py " + in_path + " " + out_path;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return r;
  std::string output;
  char buf[512];
  while (std::fgets(buf, sizeof buf, pipe)) output += buf;
  if (pclose(pipe) != 0) return r;
  json summary = json::parse(output.substr(output.rfind('{')), nullptr, false);
  if (summary.is_discarded()) return r;
  r.seconds = summary.value("seconds", 0.0);
  std::ifstream verdicts(out_path);
  std::string line;
  while (std::getline(verdicts, line)) r.verdicts.push_back(line.empty() ? 'E' : line[0]);
  r.ran = r.verdicts.size() == cases.size();
  return r;
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<std::size_t>(q * static_cast<double>(v.size())))];
}

int bench_grade(aha::cli::arguments& args) {
  std::string data = args.option("--data").value_or(std::string(AHA_SOURCE_DIR) + "/../shared/data/math_equivalence_public.jsonl");
  int rounds = std::stoi(args.option("--rounds").value_or("20"));
  std::string python = args.option("--python").value_or("python3");
  if (std::string unknown = args.unknown_options(); !unknown.empty()) return aha::cli::usage_error("bench grade", unknown);
  // 1. corpus 2. time every check over several rounds 3. math-verify on the same cases 4. report
  std::vector<bench_case> cases = load_cases(data);
  std::size_t public_cases = cases.size();
  for (auto& c : generated_cases(500)) cases.push_back(std::move(c));
  std::vector<double> latencies_us;
  std::vector<bool> ours;
  auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < rounds; ++r) {
    for (const auto& c : cases) {
      auto t0 = std::chrono::steady_clock::now();
      bool ok = aha::rewards::verify_math(c.gold, c.pred).correct;
      latencies_us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
      if (r == 0) ours.push_back(ok);
    }
  }
  double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  json result{{"cases", cases.size()}, {"public_cases", public_cases}, {"rounds", rounds},
              {"median_us", percentile(latencies_us, 0.5)}, {"p99_us", percentile(latencies_us, 0.99)},
              {"max_us", percentile(latencies_us, 1.0)},
              {"checks_per_s", static_cast<double>(latencies_us.size()) / total_s}};
  python_result mv = run_math_verify(python, cases);
  if (mv.ran) {
    std::size_t same = 0, same_public = 0;
    for (std::size_t k = 0; k < cases.size(); ++k) {
      bool agree = (mv.verdicts[k] == '1') == ours[k];
      same += agree;
      if (k < public_cases) same_public += agree;
    }
    double our_mean_s = total_s / static_cast<double>(latencies_us.size());
    result["math_verify_us_per_check"] = mv.seconds / static_cast<double>(cases.size()) * 1e6;
    result["speedup_vs_math_verify"] = (mv.seconds / static_cast<double>(cases.size())) / our_mean_s;
    result["agreement_with_math_verify"] = static_cast<double>(same) / static_cast<double>(cases.size());
    result["agreement_with_math_verify_public"] = static_cast<double>(same_public) / static_cast<double>(public_cases);
  } else {
    std::cerr << "bench grade: math-verify not importable by " << python << "; skipping the comparison\n";
  }
  std::cout << result.dump() << std::endl;
  return 0;
}

}  // namespace

AHA_COMMAND("bench grade", "math verifier checks/s and latency; vs Python math-verify when installed", bench_grade);
