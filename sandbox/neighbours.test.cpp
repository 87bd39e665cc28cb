// Two aha processes on one host must not touch each other's runs: each run is its own session and
// process group (a kill(0)/killpg/kill(-1) from a program reaches neither a concurrent run of
// another process nor its launcher), and each executor leases its own block of host uids.
// The "other processes" are this test binary re-executed (helper_process below runs one program
// through its own executor and writes the verdict to a file), like two `aha sandbox exec`s
// started by one shell script: both in one process group.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <set>
#include <thread>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "sandbox/sandbox_test_util.hpp"
#include "sandbox/uid_lease.hpp"

extern char** environ;

using aha::protocol::run_status;
using aha::sandbox::uid_lease;
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
  std::ofstream(out) << static_cast<int>(reply.status) << ' ' << reply.signal << ' '
                     << shared_executor()->host_uids().first() << '\n' << reply.stdout_data;
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
  CHECK(victim_out.substr(0, 4) == "0 0 ");  // OK, no signal
  CHECK(victim_out.find("\nsurvived\n") != std::string::npos);
  CHECK(hostile_out.find("pgrp 1 sid 1\n") != std::string::npos);  // its own session, led by its pid 1
  CHECK(hostile_out.find("hostile done") != std::string::npos);
}

namespace {
// Host uids of the processes that `owner`'s runs have now.
std::set<std::uint64_t> run_uids(pid_t owner) {
  std::set<std::uint64_t> uids;
  const std::string marker = "/aha_sandbox/" + std::to_string(owner) + "-";
  const std::uint64_t first = uid_lease::leasable_first(aha::sandbox::sandbox_config{}.host_id_base);
  DIR* proc = opendir("/proc");
  while (dirent* entry = readdir(proc)) {
    std::string status = read_file(std::string("/proc/") + entry->d_name + "/status");
    auto at = status.find("\nUid:");
    if (at == std::string::npos) continue;
    std::uint64_t uid = std::strtoull(status.c_str() + at + 5, nullptr, 10);
    if (uid < first) continue;
    if (read_file(std::string("/proc/") + entry->d_name + "/cgroup").find(marker) != std::string::npos) uids.insert(uid);
  }
  closedir(proc);
  return uids;
}
std::uint64_t lease_of(const std::string& out) { return std::strtoull(out.substr(out.find(' ', 2) + 1).c_str(), nullptr, 10); }
}  // namespace

TEST_CASE("two processes at once lease disjoint host uid blocks", "[neighbours]") {
  const std::uint32_t own = shared_executor()->host_uids().first();  // this process holds one too
  scratch_dir dir;
  std::ofstream(dir.path + "/sleep.py") << "import time\ntime.sleep(3)\nprint('slept')\n";
  pid_t a = start_helper(dir.path + "/sleep.py", dir.path + "/a.out", 0, 10000);
  pid_t b = start_helper(dir.path + "/sleep.py", dir.path + "/b.out", 0, 10000);
  REQUIRE(a > 0);
  REQUIRE(b > 0);
  // While both runs sleep, each helper's program has its own host uid (hang guard: 5 s). A uid
  // that is a block's first is the box's root, seen while a run is still being set up.
  auto program_uids = [](pid_t owner) {
    std::set<std::uint64_t> uids;
    for (auto uid : run_uids(owner)) {
      if (uid % uid_lease::kBlockSize != 0) uids.insert(uid);
    }
    return uids;
  };
  std::set<std::uint64_t> uids_a, uids_b;
  for (int i = 0; i < 500 && (uids_a.empty() || uids_b.empty()); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    uids_a = program_uids(a), uids_b = program_uids(b);
  }
  CHECK(helper_succeeded(a));
  CHECK(helper_succeeded(b));
  std::string out_a = read_file(dir.path + "/a.out"), out_b = read_file(dir.path + "/b.out");
  INFO("a: " << out_a << "b: " << out_b);
  REQUIRE(out_a.find("slept") != std::string::npos);
  REQUIRE(out_b.find("slept") != std::string::npos);
  const std::uint64_t lease_a = lease_of(out_a), lease_b = lease_of(out_b);
  CHECK(lease_a % uid_lease::kBlockSize == 0);
  CHECK(lease_b % uid_lease::kBlockSize == 0);
  CHECK(lease_a != lease_b);  // aligned blocks: different first uid = disjoint
  CHECK(lease_a != own);
  CHECK(lease_b != own);
  REQUIRE(uids_a.size() == 1);
  REQUIRE(uids_b.size() == 1);
  CHECK(*uids_a.begin() == lease_a + 1);  // slot 0 of each helper's own block
  CHECK(*uids_b.begin() == lease_b + 1);
}

TEST_CASE("executors of one process lease separate blocks and a lease ends with its holder", "[neighbours]") {
  std::uint32_t shared = shared_executor()->host_uids().first();
  auto second = aha::sandbox::executor::create(aha::sandbox::sandbox_config{});
  REQUIRE(second);
  CHECK((*second)->host_uids().first() != shared);
  // Release and re-lease, in a lock directory of this test alone (other aha processes on the
  // host lease from the real one at the same time).
  scratch_dir dir;
  auto one = uid_lease::acquire(3000000, dir.path);
  REQUIRE(one);
  const std::uint32_t first = one->first();
  CHECK(first == uid_lease::leasable_first(3000000));
  CHECK(first % uid_lease::kBlockSize == 0);
  CHECK(first >= 3000000);
  CHECK(one->root_uid() == first);
  CHECK(one->slot_uid(0) == first + 1);
  auto two = uid_lease::acquire(3000000, dir.path);
  REQUIRE(two);
  CHECK(two->first() == first + uid_lease::kBlockSize);  // the next block: disjoint
  { uid_lease gone = std::move(*one); }                   // released with its holder
  auto three = uid_lease::acquire(3000000, dir.path);
  REQUIRE(three);
  CHECK(three->first() == first);
  // An explicit base: leased from the first aligned block at or above it.
  auto explicit_base = uid_lease::acquire(3100000, dir.path);
  REQUIRE(explicit_base);
  CHECK(explicit_base->first() == 48 * uid_lease::kBlockSize);  // 3145728: 3100000 rounded up
  // A lock directory that cannot be made is a clear error, not a silent shared range.
  auto refused = uid_lease::acquire(3000000, "/proc/aha-no-such-dir");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("/proc/aha-no-such-dir") != std::string::npos);
  // An executor with an explicit base runs its programs as uid 1000 inside, mapped into its block.
  aha::sandbox::sandbox_config config;
  config.host_id_base = 3100000;
  auto explicit_executor = aha::sandbox::executor::create(config);
  REQUIRE(explicit_executor);
  CHECK((*explicit_executor)->host_uids().first() >= 3100000);
  aha::protocol::sandbox_request request;
  request.source = "import os\nprint(os.getuid())";
  CHECK((*explicit_executor)->run(request, 3).stdout_data == "1000\n");
}
