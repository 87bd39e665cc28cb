// aha::sandbox::zygote — one slot's warm Python interpreter (sandbox_config::warm). A
// `/usr/bin/python3 -I -B` process started once (sandbox/warm_zygote.py) that has initialised
// the interpreter and imported the common modules, and then only forks: per run a holder that
// builds the run's fresh namespaces and root exactly as a cold run (jail_plan::hold) is cloned,
// by the slot's spawner (sandbox/spawner.hpp) or by the executor, which hands the zygote that run's descriptors; a forked helper enters the
// holder's namespaces and forks the program's process, which drops privileges as a cold run
// does and runs /tmp/main.py. The zygote itself never runs user code nor reads a request, so
// every run starts from the same pristine interpreter. The whole protocol and what a run can and
// cannot reach is in sandbox/README.md ("Warm runs"); the executor side is executor.cpp
// (run_warm). Tested in sandbox/warm.test.cpp.
#pragma once

#include <linux/filter.h>
#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"

namespace aha::sandbox {

class zygote {
 public:
  // Starts the interpreter, hands it the seccomp program and waits (up to 10 s) until it is
  // ready. Before exec the child writes itself into `home` (cgroup.procs files of aha's own
  // groups), so that the interpreter's own memory is charged to aha, never to a run.
  static result<std::unique_ptr<zygote>> start(const sock_fprog& filter, const std::vector<std::string>& home);
  ~zygote();  // SIGKILL and reap
  zygote(const zygote&) = delete;
  zygote& operator=(const zygote&) = delete;

  // Hands over one run's descriptors, in this order: the holder's pidfd, the read end of its
  // ready pipe, stdin, stdout, stderr, the status pipe's write end, the run's spec (a memfd).
  // False when the zygote is gone.
  bool fork_run(const int (&fds)[7]) const;
  bool alive();  // reaps it when it died
  pid_t pid() const { return pid_; }
  std::uint64_t cpu_ns() const;  // its own CPU time (it is counted in its slot's cgroup)

 private:
  zygote(pid_t pid, int channel) : pid_(pid), channel_(channel) {}
  pid_t pid_;
  int channel_;
  bool reaped_ = false;
};

// Pids of every live zygote of this process (tests tell them apart from a run's leftovers).
std::vector<pid_t> warm_zygote_pids();

}  // namespace aha::sandbox
