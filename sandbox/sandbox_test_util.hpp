// Shared helpers of the sandbox's black-box tests: one executor for the test binary, a run
// helper with short limits, and checks that a run left nothing behind (no process under the
// sandbox's host uids, no cgroup of this process). Test-only; included by *.test.cpp files.
// AHA_SANDBOX_WARM=1 makes the shared executor warm (sandbox_config::warm): CTest runs the
// adversarial and legal suites once that way too (sandbox/CMakeLists.txt).
#pragma once

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "sandbox/executor.hpp"

namespace aha::sandbox::testing {

inline bool warm_suite() {
  const char* warm = std::getenv("AHA_SANDBOX_WARM");
  return warm && std::string(warm) == "1";
}

inline std::shared_ptr<executor> shared_executor() {
  static std::shared_ptr<executor> instance = [] {
    sandbox_config config;
    config.warm = warm_suite();
    auto created = executor::create(config);
    if (!created) FAIL("sandbox unavailable: " << created.error().message);
    return *created;
  }();
  return instance;
}

inline protocol::sandbox_reply run_python(const std::string& source, std::uint32_t cpu_ms = 2000,
                                          std::uint32_t wall_ms = 3000, std::uint64_t memory_bytes = 0,
                                          std::vector<std::string> args = {}) {
  protocol::sandbox_request request;
  request.source = source;
  request.cpu_ms = cpu_ms;
  request.wall_ms = wall_ms;
  request.memory_bytes = memory_bytes;
  request.args = std::move(args);
  return shared_executor()->run(request);
}

// Processes of runs started by `owner` (default: this process): a leasable sandbox host uid, and
// a member of one of the owner's cgroups (so concurrent test processes do not see each other's).
inline int sandbox_processes(pid_t owner = getpid()) {
  // Any executor's lease from the default base (a forked owner's pool leases its own block).
  const std::uint64_t first = uid_lease::leasable_first(sandbox_config{}.host_id_base);
  const std::uint64_t uids = uid_lease::leasable_count(sandbox_config{}.host_id_base);
  const std::string marker = "/aha_sandbox/" + std::to_string(owner) + "-";
  int count = 0;
  DIR* proc = opendir("/proc");
  while (dirent* entry = readdir(proc)) {
    std::ifstream status(std::string("/proc/") + entry->d_name + "/status");
    std::uint64_t uid = 0;
    for (std::string line; std::getline(status, line);) {
      if (line.rfind("Uid:", 0) == 0) {
        uid = std::strtoull(line.c_str() + 4, nullptr, 10);
        break;
      }
    }
    if (uid < first || uid >= first + uids) continue;
    std::ifstream cgroups(std::string("/proc/") + entry->d_name + "/cgroup");
    std::stringstream text;
    text << cgroups.rdbuf();
    if (text.str().find(marker) != std::string::npos) ++count;
  }
  closedir(proc);
  return count;
}

// Cgroups this test process created that still hold a process other than this one and its warm
// interpreters (empty ones are kept per slot).
inline int leftover_cgroups() {
  const auto& layout = shared_executor()->cgroups();
  std::string prefix = std::to_string(getpid()) + "-";
  const std::vector<pid_t> zygotes = warm_zygote_pids();
  int count = 0;
  for (const auto& parent : {layout.memory, layout.pids, layout.cpuacct, layout.unified}) {
    if (parent.empty()) continue;
    DIR* dir = opendir(parent.c_str());
    if (!dir) continue;
    while (dirent* entry = readdir(dir)) {
      if (std::string(entry->d_name).rfind(prefix, 0) != 0) continue;
      std::ifstream procs(parent + "/" + entry->d_name + "/cgroup.procs");
      for (pid_t pid; procs >> pid;) {
        // A pool worker thread of this process may be a resident member; a slot's warm
        // interpreter lives in its group.
        if (pid != getpid() && std::find(zygotes.begin(), zygotes.end(), pid) == zygotes.end()) {
          ++count;
          break;
        }
      }
    }
    closedir(dir);
  }
  return count;
}

inline void expect_nothing_left() {
  CHECK(sandbox_processes() == 0);
  CHECK(leftover_cgroups() == 0);
}

inline bool host_path_exists(const std::string& path) { return access(path.c_str(), F_OK) == 0; }

}  // namespace aha::sandbox::testing
