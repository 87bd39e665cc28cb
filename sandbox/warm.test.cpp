// Warm runs (sandbox_config::warm, sandbox/warm.hpp): the same verdicts as cold runs, nothing of
// one run reaching the next, limits per run, and a killed interpreter replaced without losing or
// mis-grading a run. The adversarial and legal suites also run whole with warm runs (a second
// CTest registration, sandbox/CMakeLists.txt). The holders are cloned by the sandbox spawner
// (sandbox/spawner.hpp) when it is built; AHA_SANDBOX_SPAWNER=none (a third registration,
// sandbox.warm.without_spawner) runs these cases with holders cloned by aha itself.
// Run: ctest --test-dir build -R 'sandbox.*warm' -j1
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/test_skip.hpp"
#include "sandbox/sandbox_test_util.hpp"

using aha::protocol::run_status;
using aha::protocol::sandbox_reply;
using aha::protocol::sandbox_request;
using namespace aha::sandbox;
using namespace aha::sandbox::testing;

namespace {

std::shared_ptr<executor> make_executor(bool warm) {
  sandbox_config config;
  config.warm = warm;
  if (const char* spawner = std::getenv("AHA_SANDBOX_SPAWNER")) config.spawner = spawner;
  auto created = executor::create(config);
  if (!created) FAIL("sandbox unavailable: " << created.error().message);
  return *created;
}

executor& cold() {
  static auto instance = make_executor(false);
  return *instance;
}

executor& warm() {
  static auto instance = make_executor(true);
  return *instance;
}

sandbox_request python(const std::string& source, std::uint32_t cpu_ms = 2000, std::uint32_t wall_ms = 3000,
                       std::uint64_t memory_bytes = 0) {
  sandbox_request request;
  request.source = source;
  request.cpu_ms = cpu_ms, request.wall_ms = wall_ms, request.memory_bytes = memory_bytes;
  return request;
}

bool warm_applies() { return warm().cgroups().kind != cgroup_kind::v2; }

// Waits (hang guard 10 s) until `pid` has exited: gone, or a zombie not yet reaped. A SIGKILL
// lands asynchronously; a run started before it has, still finds the old interpreter alive.
bool wait_exited(pid_t pid) {
  for (int i = 0; i < 1000; ++i) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return true;
    const auto close = line.rfind(')');
    if (close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'Z') return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

}  // namespace

TEST_CASE("warm runs give the verdicts of cold runs", "[warm]") {
  if (!warm_applies()) AHA_SKIP("cgroup v2 host: warm runs are off there (they run cold)");
  struct program {
    const char* what;
    sandbox_request request;
  };
  sandbox_request with_input = python("import sys\nprint(sys.stdin.read().upper(), end='')\nprint('e', file=sys.stderr)\nsys.exit(3)\n");
  with_input.stdin_data = "abc\n";
  sandbox_request with_args = python("import sys\nprint(sys.argv, __name__, __file__)\n");
  with_args.args = {"x", "--y"};
  sandbox_request flood = python("import sys\nwhile True:\n    sys.stdout.write('x' * 4096)\n");
  flood.output_bytes = 100000;
  const std::vector<program> programs = {
      {"trivial", python("print(1)\n")},
      {"stdin, stderr, exit code", with_input},
      {"argv and __main__", with_args},
      {"syntax error", python("def (:\n")},
      {"uncaught exception", python("def f():\n    raise ValueError('bad')\nf()\n")},
      {"SystemExit with a message", python("import sys\nsys.exit('bye')\n")},
      {"os._exit", python("import os\nprint('x', flush=True)\nos._exit(5)\n")},
      {"KeyboardInterrupt", python("raise KeyboardInterrupt\n")},
      {"segfault", python("import ctypes\nctypes.string_at(0)\n")},
      {"signals to itself and its group (pid 1)", python("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n"
                                                         "os.kill(0, signal.SIGKILL)\nprint(os.getpid(), os.getppid(), 'alive')\n")},
      {"unflushed file objects of the program", python("import sys\nout = open(1, 'w', closefd=False)\nout.write('via fd 1\\n')\n"
                                                       "sys.stdout = open(1, 'w', buffering=1 << 16, closefd=False)\nprint('own stdout')\n")},
      {"atexit and a late thread", python("import atexit, threading, time\natexit.register(lambda: print('bye'))\n"
                                          "threading.Thread(target=lambda: (time.sleep(0.1), print('late'))).start()\n")},
      {"environment, fds, path, flags", python("import os, sys\nprint(sorted(os.environ.items()))\n"
                                               "print(sorted(int(f) for f in os.listdir('/proc/self/fd')))\n"
                                               "print(sys.path, sys.flags.isolated, sys.flags.dont_write_bytecode)\n"
                                               "print(os.getuid(), os.getgid(), os.getgroups(), os.getcwd())\n")},
      {"subprocess and multiprocessing", python("import subprocess, sys, multiprocessing\n"
                                                "print(subprocess.run([sys.executable, '-c', 'print(6*7)'], capture_output=True, text=True).stdout)\n"
                                                "with multiprocessing.Pool(2) as p:\n    print(p.map(abs, [-1, -2]))\n",
                                                5000, 10000)},
      {"CPU spin", python("while True:\n    pass\n", 500, 5000)},
      {"sleep past the wall limit", python("import time\ntime.sleep(30)\n", 1000, 800)},
      {"memory bomb", python("x = []\nwhile True:\n    x.append(bytearray(4 << 20))\n", 2000, 5000, 64 << 20)},
      {"huge allocation", python("x = bytearray(1 << 40)\n")},
      {"stdout flood", flood},
      {"fork bomb", python("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n", 1000, 1500)},
  };
  const auto warm_before = warm().warm_runs();
  const auto clones_before = warm().spawner_clones();
  const auto retries_before = warm().warm_retries();
  for (const auto& p : programs) {
    INFO(p.what);
    sandbox_reply c = cold().run(p.request);
    sandbox_reply w = warm().run(p.request);
    INFO("cold stderr: " << c.stderr_data << "\nwarm stderr: " << w.stderr_data);
    CHECK(w.status == c.status);
    CHECK(w.exit_code == c.exit_code);
    CHECK(w.signal == c.signal);
    CHECK(w.stdout_truncated == c.stdout_truncated);
    if (c.status != run_status::output_limit && c.status != run_status::time_limit) CHECK(w.stdout_data == c.stdout_data);
    if (c.status == run_status::output_limit) CHECK(w.stdout_data.size() == c.stdout_data.size());
    // Tracebacks name the program's file and lines only, as from a cold start.
    CHECK(w.stderr_data.find("<string>") == std::string::npos);
    CHECK(w.stderr_data.find("warm") == std::string::npos);
    expect_nothing_left();
  }
  CHECK(warm().warm_runs() - warm_before == programs.size());
  CHECK(warm().warm_fallbacks() == 0);
  CHECK(warm().warm_retries() == retries_before);
  // Through the spawner when there is one (each run cloned its holder there), else from aha.
  CHECK(warm().spawner_clones() - clones_before == (warm().spawner_path().empty() ? 0 : programs.size()));
}

TEST_CASE("nothing of one warm run reaches the next", "[warm]") {
  if (!warm_applies()) AHA_SKIP("cgroup v2 host: warm runs are off there (they run cold)");
  auto first = warm().run(python(R"(
import builtins, json, math, os, random, sys, time
open('/tmp/persist', 'w').write('1')
open('/dev/shm/persist', 'w').write('1')
os.environ['LEAK'] = '1'
builtins.LEAK = 1
json.dumps = lambda *a, **k: 'forged'
math.pi = 3
sys.path.append('/leak')
sys.modules['leak'] = json
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(60)
    os._exit(0)
print(os.getpid(), random.random())
)"));
  REQUIRE(first.status == run_status::ok);
  auto second = warm().run(python(R"(
import builtins, json, math, os, random, sys
print(os.getpid(), random.random())
print(os.path.exists('/tmp/persist'), os.path.exists('/dev/shm/persist'), 'LEAK' in os.environ,
      hasattr(builtins, 'LEAK'), json.dumps(1), math.pi == 3, '/leak' in sys.path, 'leak' in sys.modules)
print(sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))
)"));
  REQUIRE(second.status == run_status::ok);
  auto first_line = first.stdout_data.substr(0, first.stdout_data.find('\n'));
  auto second_line = second.stdout_data.substr(0, second.stdout_data.find('\n'));
  CHECK(first_line.rfind("1 ", 0) == 0);  // pid 1 of a fresh pid namespace each run
  CHECK(second_line.rfind("1 ", 0) == 0);
  CHECK(first_line != second_line);  // random reseeded in every run
  CHECK(second.stdout_data.find("\nFalse False False False 1 False False False\n[1]\n") != std::string::npos);
  expect_nothing_left();
}

TEST_CASE("warm runs get their own limits and fresh counters", "[warm]") {
  if (!warm_applies()) AHA_SKIP("cgroup v2 host: warm runs are off there (they run cold)");
  auto heavy = warm().run(python("import time\nx = bytearray(100 << 20)\nx[::4096] = b'y' * len(x[::4096])\n"
                                 "t = time.process_time()\nwhile time.process_time() - t < 0.4:\n    pass\n"));
  REQUIRE(heavy.status == run_status::ok);
  CHECK(heavy.cpu_ms >= 400);
  auto light = warm().run(python("print(1)\n"));
  REQUIRE(light.status == run_status::ok);
  CHECK(light.cpu_ms < 300);  // the heavy run's CPU time is not carried over
  if (warm().cgroups().kind == cgroup_kind::v1) {
    CHECK(heavy.peak_memory_bytes >= (100u << 20));
    CHECK(light.peak_memory_bytes < (60u << 20));
  }
  // A limit of one run does not hold for the next.
  auto small = warm().run(python("x = bytearray(100 << 20)\n", 2000, 3000, 64 << 20));
  CHECK(small.status == run_status::memory_limit);
  auto big = warm().run(python("x = bytearray(100 << 20)\nprint('ok')\n", 2000, 3000, 256 << 20));
  CHECK(big.status == run_status::ok);
  expect_nothing_left();
}

TEST_CASE("the warm interpreter keeps no descriptor of a run", "[warm]") {
  if (!warm_applies()) AHA_SKIP("cgroup v2 host: warm runs are off there (they run cold)");
  REQUIRE(warm().run(python("print(1)\n")).stdout_data == "1\n");
  pid_t z = warm().warm_zygote(0);
  REQUIRE(z > 0);
  std::vector<int> fds;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/" + std::to_string(z) + "/fd")) {
    fds.push_back(std::stoi(entry.path().filename().string()));
  }
  std::sort(fds.begin(), fds.end());
  CHECK(fds == std::vector<int>{0, 1, 2, 3});  // /dev/null x3 and its control socket
}

TEST_CASE("a killed warm interpreter is replaced and no run is lost", "[warm]") {
  if (!warm_applies()) AHA_SKIP("cgroup v2 host: warm runs are off there (they run cold)");
  REQUIRE(warm().run(python("print(1)\n")).stdout_data == "1\n");
  pid_t first = warm().warm_zygote(0);
  REQUIRE(first > 0);
  const auto started = warm().zygotes_started();
  // Killed between runs: the next run starts a new one and is answered warm.
  kill(first, SIGKILL);
  REQUIRE(wait_exited(first));
  const auto warm_before = warm().warm_runs();
  auto after = warm().run(python("print(2)\n"));
  CHECK(after.status == run_status::ok);
  CHECK(after.stdout_data == "2\n");
  CHECK(warm().warm_runs() == warm_before + 1);
  CHECK(warm().zygotes_started() == started + 1);
  pid_t second = warm().warm_zygote(0);
  CHECK(second > 0);
  CHECK(second != first);
  // Killed during a run: that run is run again (with a new interpreter) and gets its true verdict.
  const auto fallbacks = warm().warm_fallbacks();
  const auto started_before = warm().zygotes_started();
  std::thread killer([second] {
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    kill(second, SIGKILL);
  });
  auto during = warm().run(python("import sys, time\ntime.sleep(1)\nprint('done')\nsys.exit(4)\n", 2000, 5000));
  killer.join();
  CHECK(during.status == run_status::runtime_error);
  CHECK(during.exit_code == 4);
  CHECK(during.stdout_data == "done\n");
  CHECK(warm().warm_fallbacks() == fallbacks);
  CHECK(warm().zygotes_started() == started_before + 1);
  CHECK(warm().warm_zygote(0) != second);
  expect_nothing_left();
  expect_nothing_left();
}
