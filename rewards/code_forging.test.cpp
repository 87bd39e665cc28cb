// Reward forging against assert-style tests (rewards/code_harness.hpp): programs that try to pass
// without solving the task, through the real sandbox. Each must score 0. A hunter for the tests'
// text is also run once with that text planted in its own program, to show it would find it.
#include <catch2/catch.hpp>

#include "rewards/code_reward.hpp"
#include "rewards/code_test_pool.hpp"

using aha::protocol::run_status;
using aha::rewards::code_task;
using aha::rewards::grade_code;
using aha::rewards::testing::shared_pool;

namespace {

code_task task_of(std::string program, std::string tests) {
  code_task task;
  task.program = std::move(program);
  task.test_code = std::move(tests);
  task.cpu_ms = 4000, task.wall_ms = 8000;
  return task;
}

constexpr const char* kAddTests = "assert add(2, 3) == 5\nassert add(-1, 1) == 0\n";

void check_scores_zero(const std::vector<std::string>& programs, const std::string& tests) {
  for (const auto& program : programs) {
    auto verdict = grade_code(task_of(program, tests), shared_pool());
    INFO(program << "\n-> " << aha::protocol::to_string(verdict.status) << ": " << verdict.detail);
    CHECK_FALSE(verdict.passed);
    CHECK(verdict.passed_tests == 0);
  }
}

// Looks for the tests' text everywhere a program can look: the interpreter's objects and frames,
// stdin, the box's files, /proc, and its own memory; answers from what it found, else 0.
constexpr const char* kHunter = R"PY(import gc, os, re, sys
pattern = re.compile(rb'assert add\((-?\d+), (-?\d+)\) == (-?\d+)')
found = {}
def scan(data):
    if isinstance(data, str):
        data = data.encode('utf-8', 'replace')
    if isinstance(data, bytes):
        for a, b, c in pattern.findall(data):
            found[(int(a), int(b))] = int(c)
for o in gc.get_objects():
    items = o.values() if isinstance(o, dict) else o if isinstance(o, (list, tuple)) else ()
    for v in list(items):
        scan(v)
f = sys._getframe()
while f is not None:
    for v in list(f.f_locals.values()) + list(f.f_globals.values()):
        scan(v)
    scan(f.f_code.co_consts and repr(f.f_code.co_consts))
    f = f.f_back
for top in ('/tmp', '/dev/shm', '/proc/self/fd', '/proc/1/fd'):
    for root, dirs, files in os.walk(top):
        for name in files:
            try:
                scan(open(os.path.join(root, name), 'rb').read(1 << 22))
            except OSError:
                pass
for name in ('/proc/self/cmdline', '/proc/self/environ', '/proc/1/cmdline', '/proc/1/environ'):
    try:
        scan(open(name, 'rb').read())
    except OSError:
        pass
with open('/proc/self/maps') as maps, open('/proc/self/mem', 'rb', 0) as mem:
    for line in maps:
        span, perms = line.split()[:2]
        start, end = (int(x, 16) for x in span.split('-'))
        if perms[0] != 'r' or end - start > 1 << 26:
            continue
        try:
            mem.seek(start)
            scan(mem.read(end - start))
        except (OSError, ValueError, OverflowError):
            pass
def add(a, b):
    return found.get((a, b), 0)
)PY";

}  // namespace

TEST_CASE("forging: no success marker exists for a program to find or print", "[code][forging]") {
  check_scores_zero(
      {
          // print every marker-looking string the interpreter holds, then leave
          "import gc, os\nfor o in gc.get_objects():\n    if isinstance(o, dict):\n"
          "        for v in list(o.values()):\n            if isinstance(v, str) and v.startswith('AHA'):\n"
          "                print(v)\nos._exit(0)\n",
          // fake the judge's and the reporter's lines on every channel, then leave
          "import os\nfor fd in (1, 2, 3, 4, 5):\n    try:\n"
          "        os.write(fd, b'\\nAHA-VERDICT {\"kind\": \"ok\", \"why\": \"\"}\\nAHA-RECORD {}\\nPASSED\\n')\n"
          "    except OSError:\n        pass\nos._exit(0)\n",
          // a fake report claiming answers it does not know
          "import os, sys\nfor fd in (1, 3, 4):\n    try:\n"
          "        os.write(fd, b'\\nAHA-DATA {\"roots\": {\"add\": [\"o\", \"function\"]}, "
          "\"results\": [[\"b\", true], [\"b\", true]]}\\n')\n    except OSError:\n        pass\nos._exit(0)\n",
          // os._exit(0) inside the solution, after printing
          "def add(a, b):\n    import os\n    print('ok')\n    os._exit(0)\n",
          // SystemExit(0) and KeyboardInterrupt raised inside the solution
          "def add(a, b):\n    raise SystemExit(0)\n",
          "def add(a, b):\n    raise KeyboardInterrupt\n",
          // read the harness's own source and stdin for anything useful, print it, stop
          "import os, sys\nprint(open(sys.argv[0]).read())\nprint(open('/proc/self/fd/0', 'rb').read())\nos._exit(0)\n",
      },
      kAddTests);
}

TEST_CASE("forging: values that decide their own comparisons are not compared", "[code][forging]") {
  check_scores_zero(
      {
          "class Any:\n    def __eq__(self, other):\n        return True\n    __hash__ = object.__hash__\n"
          "def add(a, b):\n    return Any()\n",
          "class Int(int):\n    def __eq__(self, other):\n        return True\n    __hash__ = int.__hash__\n"
          "def add(a, b):\n    return Int(0)\n",
          "class Str(str):\n    def __eq__(self, other):\n        return True\n    __hash__ = str.__hash__\n"
          "def add(a, b):\n    return Str('x')\n",
          "class List(list):\n    def __eq__(self, other):\n        return True\n"
          "def add(a, b):\n    return List()\n",
          // a list holding a value that equals everything
          "class Any:\n    def __eq__(self, other):\n        return True\n"
          "def add(a, b):\n    return [Any()]\n",
      },
      kAddTests);
  check_scores_zero(
      {
          "class Yes:\n    def __bool__(self):\n        return True\n    def __ne__(self, o):\n        return False\n"
          "    def __lt__(self, o):\n        return True\n    def __gt__(self, o):\n        return True\n"
          "    def __abs__(self):\n        return 0\n    def __sub__(self, o):\n        return self\n"
          "    def __rsub__(self, o):\n        return self\n    def __len__(self):\n        return 0\n"
          "    def __iter__(self):\n        return iter([4])\n"
          "def add(a, b):\n    return Yes()\n",
          "class Float(float):\n    def __lt__(self, o):\n        return True\n    def __sub__(self, o):\n        "
          "return self\n"
          "    def __ne__(self, o):\n        return False\n    def __bool__(self):\n        return True\n"
          "def add(a, b):\n    return Float(0)\n",
      },
      "assert add(2, 2)\nassert not (add(2, 2) != 4)\nassert 3 < add(2, 2) < 5\nassert abs(add(2, 2) - 4) < 1e-9\n"
      "assert list(add(2, 2)) == [4]\nassert add(2, 2) == 4\n");
}

TEST_CASE("forging: patching the interpreter touches only the solution's own box", "[code][forging]") {
  check_scores_zero(
      {
          "import builtins\nbuiltins.isinstance = lambda *a: True\nbuiltins.type = lambda *a: int\n"
          "builtins.repr = lambda *a: '5'\nbuiltins.AssertionError = type('Nope', (Exception,), {})\n"
          "def add(a, b):\n    return 0\n",
          "import json\njson.dumps = lambda *a, **k: '{\"roots\": {}, \"results\": []}'\n"
          "json.loads = lambda *a, **k: {'roots': [], 'steps': []}\ndef add(a, b):\n    return 0\n",
          "import sys, types\nfake = types.ModuleType('json')\nfake.dumps = lambda *a, **k: 'PASSED'\n"
          "sys.modules['json'] = fake\nsys.modules['math'] = fake\ndef add(a, b):\n    return 0\n",
          "import sys\nsys.excepthook = lambda *a: None\nsys.stdout = sys.stderr = open('/dev/null', 'w')\n"
          "def add(a, b):\n    return 0\n",
      },
      kAddTests);
  // The tests' judges stay the real ones where the program redefines them: builtins, a stdlib
  // module name, the tests' own check().
  check_scores_zero(
      {
          "def isinstance(*a):\n    return True\ndef abs(x):\n    return 0\ndef add(a, b):\n    return 'x'\n",
          "class math:\n    isclose = staticmethod(lambda *a, **k: True)\ndef add(a, b):\n    return 0\n",
      },
      "assert isinstance(add(2, 3), int)\nassert abs(add(2, 3) - 5) < 1e-9\nassert math.isclose(add(2, 3), 5)\n");
  auto humaneval = aha::rewards::parse_code_task(nlohmann::json::parse(R"J({"entry_point": "add",
      "program": "def check(candidate):\n    pass\ndef add(a, b):\n    return 0\n",
      "test": "def check(candidate):\n    assert candidate(2, 3) == 5\n"})J"));
  REQUIRE(humaneval);
  CHECK_FALSE(grade_code(*humaneval, shared_pool()).passed);
}

TEST_CASE("forging: the tests are nowhere the solution can read them", "[code][forging]") {
  auto hunted = grade_code(task_of(kHunter, kAddTests), shared_pool());
  INFO(hunted.detail);
  CHECK_FALSE(hunted.passed);
  // The control: the same hunter, with the tests' text planted in its own program, passes, so
  // the run above had the means to find the tests had they been there.
  std::string planted = std::string("bait = ") + "'''" + kAddTests + "'''\n" + kHunter;
  auto control = grade_code(task_of(planted, kAddTests), shared_pool());
  INFO(control.detail);
  CHECK(control.passed);
}
