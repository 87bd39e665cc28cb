// Two aha processes on one host must not touch each other's runs: each run is its own session and
// process group (a kill(0)/killpg/kill(-1) from a program reaches neither a concurrent run of
// another process nor its launcher), and each executor leases its own block of host uids.
// The "other processes" are this test binary re-executed (helper_process below runs one program
// through its own executor and writes the verdict to a file), like two `aha sandbox exec`s
// started by one shell script: both in one process group.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "sandbox/sandbox_test_util.hpp"

extern char** environ;

using aha::protocol::run_status;
using namespace aha::sandbox::testing;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A scratch directory of this test process, removed at exit of the test case.
struct scratch_dir {
  std::string path;
  scratch_dir() {
    char name[] = "/tmp/aha-neighbours-XXXXXX";
    path = mkdtemp(name) ? name : "";
    REQUIRE_FALSE(path.empty());
  }
  ~scratch_dir() { (void)!std::system(("rm -rf '" + path + "'").c_str()); }
};

// Re-executes this binary as the hidden helper test case, in process group `group` (0: a new one
// led by the helper). The helper runs `source` and writes its verdict to `out`.
pid_t start_helper(const std::string& source_file, const std::string& out, pid_t group, int wall_ms) {
  std::vector<std::string> strings = {"AHA_HELPER_SOURCE_FILE=" + source_file, "AHA_HELPER_OUT=" + out,
                                      "AHA_HELPER_WALL_MS=" + std::to_string(wall_ms)};
  for (char** e = environ; *e; ++e) strings.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& s : strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string exe = "/proc/self/exe", name = "sandbox helper process", quiet = "--reporter=compact";
  std::vector<char*> argv = {exe.data(), name.data(), quiet.data(), nullptr};
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, group);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  if (pid > 0) setpgid(pid, group ? group : pid);  // either side may win the race; both agree
  return pid;
}

// Waits for a helper; true when it exited normally with status 0 (it was not killed).
bool helper_succeeded(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  INFO("helper wait status " << status);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

// Not a test on its own (hidden, never discovered by CTest): the body of a helper process.
TEST_CASE("sandbox helper process", "[.helper]") {
  const char* source_file = std::getenv("AHA_HELPER_SOURCE_FILE");
  const char* out = std::getenv("AHA_HELPER_OUT");
  const char* wall = std::getenv("AHA_HELPER_WALL_MS");
  REQUIRE(source_file);
  REQUIRE(out);
  aha::protocol::sandbox_request request;
  request.source = read_file(source_file);
  request.cpu_ms = 2000;
  request.wall_ms = wall ? static_cast<std::uint32_t>(std::atoi(wall)) : 5000;
  auto reply = shared_executor()->run(request);
  std::ofstream(out) << static_cast<int>(reply.status) << ' ' << reply.signal << '\n' << reply.stdout_data;
}

TEST_CASE("a run's kill(0), killpg and kill(-1) reach no run of another process and no launcher",
          "[adversarial][neighbours]") {
  scratch_dir dir;
  std::ofstream(dir.path + "/victim.py") << "import time\ntime.sleep(3)\nprint('survived')\n";
  std::ofstream(dir.path + "/hostile.py") << R"(
import os, subprocess, time
time.sleep(1)  # the victim is running by now
print('pgrp', os.getpgrp(), 'sid', os.getsid(0))
for name, hit in [('kill0', lambda: os.kill(0, 9)), ('killpg', lambda: os.killpg(os.getpgrp(), 9)),
                  ('kill-1', lambda: os.kill(-1, 9))]:
    try:
        hit()
        print(name, 'sent')
    except OSError as e:
        print(name, 'denied', e.errno)
subprocess.run(['/bin/sh', '-c', 'kill -9 -1; kill -9 0'])
print('hostile done')
)";
  // Two "aha processes" in one process group, like two commands of one shell script.
  pid_t victim = start_helper(dir.path + "/victim.py", dir.path + "/victim.out", 0, 10000);
  REQUIRE(victim > 0);
  pid_t hostile = start_helper(dir.path + "/hostile.py", dir.path + "/hostile.out", victim, 10000);
  REQUIRE(hostile > 0);
  CHECK(helper_succeeded(hostile));  // the launcher of the hostile run itself survived
  CHECK(helper_succeeded(victim));
  std::string victim_out = read_file(dir.path + "/victim.out");
  std::string hostile_out = read_file(dir.path + "/hostile.out");
  INFO("victim: " << victim_out << "\nhostile: " << hostile_out);
  CHECK(victim_out == "0 0\nsurvived\n");  // OK, no signal
  CHECK(hostile_out.find("pgrp 1 sid 1\n") != std::string::npos);  // its own session, led by its pid 1
  CHECK(hostile_out.find("hostile done") != std::string::npos);
}
