// The code reward: grades a Python program against its tests in the sandbox.
// Two kinds of tests: stdin -> expected stdout (compared outside the box, whitespace-normalised),
// and assert-style test_code (HumanEval/MBPP). Assert-style tests never run beside the solution:
// a trusted run of the tests against stand-ins learns the calls they make into the solution, the
// solution's own box performs only those calls and reports the results as plain data, and a
// second trusted run replays the tests on that data (rewards/code_harness.hpp). No success marker
// exists inside the solution's box, and no method the solution defines takes part in a
// comparison; tests the split cannot foresee fail closed (SANDBOX_ERROR).
// Tested by rewards/code_reward.test.cpp and code_forging.test.cpp; used by `aha grade code`
// (cli/grade_code.cpp) and the grader's code reward (actors/reward_workers.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.hpp"
#include "protocol/messages.hpp"
#include "sandbox/pool.hpp"

namespace aha::rewards {

struct io_test {
  std::string stdin_data;
  std::string expected_stdout;
};

struct code_task {
  std::string program;            // Python source
  std::vector<io_test> tests;     // stdin/stdout tests; when empty, test_code is used
  std::string test_code;          // assert-style tests, judged apart from the program (code_harness.hpp);
                                  // cpu_ms/wall_ms/memory_bytes bound the solution's run
  std::uint32_t cpu_ms = 0;       // per run; 0 = the sandbox's default
  std::uint32_t wall_ms = 0;
  std::uint64_t memory_bytes = 0;
};

struct code_verdict {
  bool passed = false;
  protocol::run_status status = protocol::run_status::sandbox_error;  // OK, WRONG_ANSWER or the first failed run's
  std::uint32_t passed_tests = 0;
  std::uint32_t total_tests = 0;   // assert-style test_code counts as one test
  std::uint32_t cpu_ms = 0;        // summed over the runs (assert-style: the three runs)
  std::uint32_t wall_ms = 0;       // longest run (assert-style: the three runs' sum, they follow one another)
  std::string detail;              // the first failure: its stderr tail or the mismatch
};

// Grades one task; runs its tests concurrently in the pool and blocks until all are done.
code_verdict grade_code(const code_task& task, sandbox::pool& pool);
// Same, without blocking (it may wait for room in the pool's queue): `done` runs on a pool worker
// or the harness's relay thread once every test has finished. The pool must outlive the grade.
void grade_code_async(const code_task& task, sandbox::pool& pool, std::function<void(code_verdict)> done);

// A JSONL record: {"program", "tests": [{"stdin","stdout"}...]} or {"program", "test_code"};
// also MBPP's {"program", "test_list": [assert lines], "test_setup_code"?} and HumanEval's
// {"program", "test", "entry_point"} (runs check(entry_point)). Optional "time_limit" (seconds)
// and "memory_limit" (MiB).
result<code_task> parse_code_task(const nlohmann::json& record);
nlohmann::json to_json(const code_verdict& verdict);

// Output comparison: per line, runs of whitespace collapse and ends are trimmed; blank lines at
// the end are ignored.
bool outputs_match(const std::string& actual, const std::string& expected);

}  // namespace aha::rewards
