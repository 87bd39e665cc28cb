// The assert-style half of the code reward: three sandbox runs per grade, so that nothing the
// solution does inside its interpreter can produce the evidence of success.
//   1. split (trusted, no program in the box): runs the tests against recording stand-ins for
//      the names they take from the program, and learns the calls they make into the solution
//      (callee, plain-data arguments). It depends on the tests alone, so it is cached per test
//      code (64 MiB at most): a group of completions for one prompt pays for it once.
//   2. run (untrusted): the program, then those calls; every result is reported as plain data
//      (exact builtin types) or as an opaque marker. The tests are not in this box (not on disk,
//      not in memory), nor any expected value or verdict; whatever it prints is only a claim.
//   3. judge (trusted, no solution code): runs the tests for real, each call into the solution
//      answered from the claim, decoded into builtin values only, so no method the solution
//      defined runs there; an opaque value refuses to compare. The program is only parsed here,
//      never run, to honour the stdlib imports the tests rely on (`from math import pi`).
// The Python halves live in rewards/code_harness/*.py. Tested by rewards/code_reward.test.cpp.
#pragma once

#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "rewards/code_reward.hpp"

namespace aha::rewards::harness {

// The judge (phases 1 and 3) and run (phase 2) programs: codec.py followed by judge.py / run.py.
const std::string& judge_program();
const std::string& run_program();

// stdin for those programs: each part as its decimal length, a newline, then its bytes.
std::string frame(std::initializer_list<std::string_view> parts);

// The rest of the last line of `output` that starts with `marker` and a space.
std::optional<std::string> marked_line(const std::string& output, std::string_view marker);

// Grades `task` (test_code set, no stdin tests) through the three runs in `pool`; `done` runs on
// a pool worker or relay thread. The pool must outlive the grade. Verdict statuses: OK;
// WRONG_ANSWER (an assertion failed, a value that is not plain data was judged, or the run ended
// without reporting its results); the run's own status when it crashed or hit a limit;
// RUNTIME_ERROR when the solution's exception reached the tests' top; SANDBOX_ERROR when the
// tests could not be split or judged (e.g. they call the solution in a way the split did not
// foresee): the grade fails closed, never falling back to running the tests beside the solution.
void grade_asserts_async(const code_task& task, sandbox::pool& pool, std::function<void(code_verdict)> done);

}  // namespace aha::rewards::harness
