// Per-run control groups: memory limit and peak, task limit, CPU accounting across every thread
// and child, and OOM detection. cgroup v1 (one hierarchy per controller, as on this VM) and v2.
// aha only creates and removes groups under an "aha_sandbox" directory inside its own cgroup (or
// a v2 directory delegated to it); it never writes to a group it did not create.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "sandbox/sandbox_config.hpp"

namespace aha::sandbox {

enum class cgroup_kind { none, v1, v2 };

struct cgroup_layout {
  cgroup_kind kind = cgroup_kind::none;
  std::string memory, pids, cpuacct;  // v1: the aha_sandbox parent directory in each hierarchy
  std::string unified;                // v2: the aha_sandbox parent directory
  std::string reason;                 // why cgroups are off, or what was found ("v1: ...")

  // setting: sandbox_config::cgroups ("auto", "none", or a delegated v2 directory).
  static cgroup_layout detect(const std::string& setting);
};

class run_cgroup {
 public:
  // Creates the group `name` under every controller and applies the limits.
  static result<std::unique_ptr<run_cgroup>> create(const cgroup_layout& layout, const std::string& name,
                                                    const run_limits& limits);
  ~run_cgroup();  // kills anything left, then removes the directories
  run_cgroup(const run_cgroup&) = delete;
  run_cgroup& operator=(const run_cgroup&) = delete;

  // Prepares an empty group for the next run: applies the limits and restarts the counters
  // (v1 only; a v2 group serves one run). Fails when the group is not empty.
  status reuse(const run_limits& limits);
  bool reusable() const { return kind_ == cgroup_kind::v1; }

  status attach(pid_t pid) const;        // moves a process (and its future children) in
  // v1: makes the calling thread a permanent member, so that the processes it clones are born
  // inside and no per-run migration is needed (a migration waits for an RCU grace period, 4-15
  // ms). The thread's own memory is charged to its process's owner, not here; its CPU time is
  // (callers subtract it); it counts as one task (pids.max is raised by one). Never call it on
  // a main thread: the OOM killer walks thread-group leaders and could then pick aha itself.
  status make_resident();
  bool resident() const { return resident_; }
  // v1, warm runs (sandbox/warm.hpp): moves a slot's warm interpreter in for good, so that the
  // runs it forks are born inside. It is aha's, not a run's: reuse() and kill_all() leave it
  // alone (the destructor does not); pids.max is raised by kWarmTasks for it and its per-run
  // helper processes. Its CPU time is counted here (callers subtract it).
  status host_zygote(pid_t pid);
  pid_t zygote() const { return zygote_; }
  // Waits (up to `limit`) until no process but aha's and the zygote is left; false on timeout.
  bool wait_empty(std::chrono::milliseconds limit) const;
  static constexpr std::uint32_t kWarmTasks = 3;
  std::uint64_t cpu_ns() const;          // CPU time of every task of this run
  std::uint64_t peak_memory_bytes() const;  // of this run (v1: less what earlier runs left cached)
  bool oom_killed() const;               // the kernel's OOM killer struck during this run
  void kill_all() const;                 // SIGKILL to every task still in the group

 private:
  run_cgroup(const cgroup_layout& layout, const std::string& name);
  status apply(const run_limits& limits);
  std::uint64_t oom_kills() const;
  std::vector<pid_t> foreign_processes() const;
  status write_task_limit() const;
  cgroup_kind kind_;
  std::uint64_t oom_base_ = 0, memory_base_ = 0;  // counters at the start of the run
  bool resident_ = false;
  pid_t zygote_ = 0;
  std::uint32_t tasks_ = 0;  // the run's own task limit, as last applied
  std::string memory_, pids_, cpuacct_;  // v2: all three are the same directory
};

// Removes groups left by aha processes that died (names start with the dead owner's pid).
void sweep_stale_cgroups(const cgroup_layout& layout);

}  // namespace aha::sandbox
