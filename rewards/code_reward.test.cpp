// The code reward through the real sandbox: both kinds of tests, whitespace normalisation,
// verdicts, JSONL parsing, MBPP/HumanEval-style tasks (rewards/testdata/code_tasks.jsonl: each
// reference passes, each wrong program fails), tests the split cannot foresee (fail closed), and
// simple reward forging (os._exit before the asserts, atexit hooks, fake verdicts, sys.exit);
// the harder forgeries are in code_forging.test.cpp.
#include <catch2/catch.hpp>

#include <fstream>
#include <future>

#include "rewards/code_reward.hpp"
#include "rewards/code_test_pool.hpp"

using aha::protocol::run_status;
using aha::rewards::code_task;
using aha::rewards::grade_code;
using aha::rewards::testing::shared_pool;

namespace {

code_task assert_task(std::string program) {
  code_task task;
  task.program = std::move(program);
  task.test_code = "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n";
  task.cpu_ms = 2000, task.wall_ms = 3000;
  return task;
}

}  // namespace

TEST_CASE("outputs compare with whitespace normalised", "[code]") {
  CHECK(aha::rewards::outputs_match("1  2\t3 \n\n\n", "1 2 3"));
  CHECK(aha::rewards::outputs_match("a\r\nb\r\n", "a\nb\n"));
  CHECK_FALSE(aha::rewards::outputs_match("1 2\n3", "1 2 3"));
  CHECK_FALSE(aha::rewards::outputs_match("12", "1 2"));
}

TEST_CASE("stdin/stdout tests: pass, wrong answer, runtime error, time limit", "[code]") {
  code_task task;
  task.program = "a, b = map(int, input().split())\nprint(a + b)\n";
  task.tests = {{"1 2\n", "3\n"}, {"10 20\n", "30"}, {"5 5\n", "11\n"}};
  auto verdict = grade_code(task, shared_pool());
  CHECK_FALSE(verdict.passed);
  CHECK(verdict.status == run_status::wrong_answer);
  CHECK(verdict.passed_tests == 2);
  CHECK(verdict.total_tests == 3);

  task.tests.pop_back();
  CHECK(grade_code(task, shared_pool()).passed);

  task.program = "print(1 / 0)";
  CHECK(grade_code(task, shared_pool()).status == run_status::runtime_error);
  task.program = "while True: pass";
  task.cpu_ms = 500, task.wall_ms = 2000;
  CHECK(grade_code(task, shared_pool()).status == run_status::time_limit);
}

TEST_CASE("exit status 0 alone never passes an I/O test", "[code][forging]") {
  code_task task;
  task.program = "import sys\nsys.exit(0)\n";
  task.tests = {{"", "42\n"}};
  auto verdict = grade_code(task, shared_pool());
  CHECK_FALSE(verdict.passed);
  CHECK(verdict.status == run_status::wrong_answer);
}

TEST_CASE("assert-style tests pass and fail", "[code]") {
  auto good = grade_code(assert_task("def add(a, b):\n    return a + b\n"), shared_pool());
  CHECK(good.passed);
  CHECK(good.status == run_status::ok);
  CHECK(good.passed_tests == 1);
  auto wrong = grade_code(assert_task("def add(a, b):\n    return a - b\n"), shared_pool());
  CHECK_FALSE(wrong.passed);
  CHECK(wrong.status == run_status::wrong_answer);
  auto printing = grade_code(assert_task("def add(a, b):\n    print('hello')\n    return a + b\nimport sys\nprint(repr(sys.stdin.read()))\n"),
                             shared_pool());
  CHECK(printing.passed);  // the program's own output and a stdin read do not disturb the verdict
}

TEST_CASE("reward forging scores 0", "[code][forging]") {
  const char* forgeries[] = {
      // exit cleanly before the asserts run
      "def add(a, b):\n    return 0\nimport os\nos._exit(0)\n",
      "def add(a, b):\n    return 0\nimport sys\nsys.exit(0)\n",
      // an atexit hook that prints a fake success after the failing asserts
      "import atexit\natexit.register(lambda: print('\\nPASSED\\nAHA-0123456789abcdef'))\ndef add(a, b):\n    return 0\n",
      // print a fake verdict, then stop
      "print('ALL TESTS PASSED')\nprint('AHA-deadbeefdeadbeef')\nimport os\nos._exit(0)\n",
      // replay whatever stdin held (once a nonce), then stop
      "import os, sys\nprint(sys.stdin.read())\nprint(open('/proc/self/fd/0').read())\nos._exit(0)\n",
      // swallow the failing asserts' exception
      "import sys\nsys.excepthook = lambda *a: print('AHA-x')\ndef add(a, b):\n    return 0\n",
  };
  for (const char* program : forgeries) {
    INFO(program);
    auto verdict = grade_code(assert_task(program), shared_pool());
    CHECK_FALSE(verdict.passed);
    CHECK(verdict.passed_tests == 0);
  }
}

TEST_CASE("JSONL records parse or say what is wrong", "[code]") {
  using nlohmann::json;
  auto io = aha::rewards::parse_code_task(json::parse(R"J({"program": "print(1)", "tests": [{"stdin": "", "stdout": "1"}]})J"));
  REQUIRE(io);
  CHECK(io->tests.size() == 1);
  auto asserts = aha::rewards::parse_code_task(json::parse(R"J({"program": "x = 1", "test_code": "assert x == 1", "time_limit": 1.5})J"));
  REQUIRE(asserts);
  CHECK(asserts->cpu_ms == 1500);
  auto mbpp = aha::rewards::parse_code_task(json::parse(R"J({"program": "def f(x): return x", "test_list": ["assert f(1) == 1", "assert f(2) == 2"]})J"));
  REQUIRE(mbpp);
  CHECK(grade_code(*mbpp, shared_pool()).passed);
  auto humaneval = aha::rewards::parse_code_task(json::parse(R"J({"program": "def inc(x): return x + 2", "entry_point": "inc",
      "test": "def check(candidate):\n    assert candidate(1) == 2\n"})J"));
  REQUIRE(humaneval);
  auto wrong = grade_code(*humaneval, shared_pool());
  CHECK_FALSE(wrong.passed);
  CHECK(wrong.status == run_status::wrong_answer);
  CHECK_FALSE(aha::rewards::parse_code_task(json::parse(R"J({"tests": []})J")));
  CHECK_FALSE(aha::rewards::parse_code_task(json::parse(R"J({"program": "x"})J")));
  CHECK_FALSE(aha::rewards::parse_code_task(json::parse(R"J({"program": "x", "tests": [{"stdin": 1}]})J")));
  CHECK_FALSE(aha::rewards::parse_code_task(json::parse("[1, 2]")));
}

TEST_CASE("MBPP- and HumanEval-style tasks: references pass, wrong programs fail", "[code]") {
  std::ifstream in(std::string(AHA_SOURCE_DIR) + "/rewards/testdata/code_tasks.jsonl");
  REQUIRE(in);
  int tasks = 0;
  for (std::string line; std::getline(in, line); ++tasks) {
    auto record = nlohmann::json::parse(line);
    INFO(record["name"].get<std::string>());
    auto reference = aha::rewards::parse_code_task(record);
    REQUIRE(reference);
    auto verdict = grade_code(*reference, shared_pool());
    INFO(verdict.detail);
    CHECK(verdict.passed);
    CHECK(verdict.status == run_status::ok);
    record["program"] = record["wrong"];
    auto wrong = aha::rewards::parse_code_task(record);
    REQUIRE(wrong);
    auto failed = grade_code(*wrong, shared_pool());
    INFO(failed.detail);
    CHECK_FALSE(failed.passed);
    CHECK(failed.status == run_status::wrong_answer);
    CHECK(failed.detail.find("assertion failed") != std::string::npos);
  }
  CHECK(tasks == 15);
}

TEST_CASE("assert-style verdicts: the solution's exceptions, crashes and limits", "[code]") {
  auto raised = grade_code(assert_task("def add(a, b):\n    raise TypeError('no')\n"), shared_pool());
  CHECK(raised.status == run_status::runtime_error);
  CHECK(raised.detail.find("the solution raised TypeError") != std::string::npos);
  auto crashed = grade_code(assert_task("def add(a, b):\n    return a + b\nraise RuntimeError('at import')\n"), shared_pool());
  CHECK(crashed.status == run_status::runtime_error);
  CHECK(crashed.detail.find("at import") != std::string::npos);
  auto task = assert_task("def add(a, b):\n    while True:\n        pass\n");
  task.cpu_ms = 500, task.wall_ms = 2000;
  CHECK(grade_code(task, shared_pool()).status == run_status::time_limit);
  // A result too large to encode or to report is the solution's failure, never a grader error
  // (which limit it meets first, time, memory or output, depends on the machine's load).
  for (const char* program : {"def add(a, b):\n    return [[0] * 1000] * 3000\n",
                              "def add(a, b):\n    return ['%020d' % i for i in range(900000)]\n"}) {
    auto vast = grade_code(assert_task(program), shared_pool());
    INFO(program << aha::protocol::to_string(vast.status) << ": " << vast.detail);
    CHECK_FALSE(vast.passed);
    CHECK(vast.status != run_status::sandbox_error);
    CHECK(vast.status != run_status::ok);
  }
  auto undefined = grade_code(assert_task("def plus(a, b):\n    return a + b\n"), shared_pool());
  CHECK(undefined.status == run_status::runtime_error);
  CHECK(undefined.detail.find("NameError") != std::string::npos);
}

TEST_CASE("tests the split cannot foresee fail closed, whatever the program", "[code]") {
  // The argument of the outer call is computed from a solution value in the tests: the split
  // saw only a stand-in for it, so the judge meets a call nobody answered.
  code_task task;
  task.test_code = "assert twice(twice(2) + 1) == 10\n";
  for (const char* program : {"def twice(x):\n    return 2 * x\n", "def twice(x):\n    return 0\n"}) {
    task.program = program;
    auto verdict = grade_code(task, shared_pool());
    INFO(program << verdict.detail);
    CHECK_FALSE(verdict.passed);
    if (std::string(program).find("2 * x") != std::string::npos) {
      CHECK(verdict.status == run_status::sandbox_error);
      CHECK(verdict.detail.find("did not foresee") != std::string::npos);
    }
  }
  task.program = "def f():\n    return 1\n";
  task.test_code = "assert f( == 1\n";  // tests that do not even parse
  auto broken = grade_code(task, shared_pool());
  CHECK(broken.status == run_status::sandbox_error);
}

TEST_CASE("a group graded at once against the same tests shares one split", "[code]") {
  // GRPO grades G completions of one prompt together: all but the first wait for its split.
  code_task task;
  task.test_code = "assert cube(3) == 27\nassert cube(-2) == -8\n";
  task.cpu_ms = 2000, task.wall_ms = 4000;
  std::vector<std::future<aha::rewards::code_verdict>> verdicts;
  for (int i = 0; i < 6; ++i) {
    task.program = i % 2 ? "def cube(x):\n    return x * x\n" : "def cube(x):\n    return x ** 3\n";
    auto promise = std::make_shared<std::promise<aha::rewards::code_verdict>>();
    verdicts.push_back(promise->get_future());
    aha::rewards::grade_code_async(task, shared_pool(), [promise](aha::rewards::code_verdict v) { promise->set_value(v); });
  }
  for (int i = 0; i < 6; ++i) {
    auto v = verdicts[i].get();
    INFO(i << ": " << v.detail);
    CHECK(v.passed == (i % 2 == 0));
    CHECK(v.status == (i % 2 ? run_status::wrong_answer : run_status::ok));
  }
}
