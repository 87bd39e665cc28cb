// The inside of one run: what the freshly cloned child does between clone(2) and execve(2).
// Everything it needs is prepared by the parent in a jail_plan, because the child of a threaded
// process may only make system calls (no malloc, no locks) until it execs.
// The child: waits for its uid/gid maps and cgroup, becomes its own session and process group,
// builds a fresh root (tmpfs + read-only binds, private /tmp, /dev, /dev/shm, new /proc, no
// /sys), pivots into it, sets rlimits, becomes an unprivileged uid, clears signals and fds,
// loads seccomp, and execs. Called by sandbox/executor.cpp, and for warm runs' holders by the
// spawner executable (sandbox/spawner_main.cpp), which links jail.cpp alone.
#pragma once

#include <linux/filter.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace aha::sandbox {

// One step of building the new root; paths are absolute in the host view of the mount namespace.
struct mount_step {
  enum class kind { mkdir, bind_dir, bind_file, bind_device, symlink, tmpfs, proc, write_file, remount_ro };
  kind what = kind::mkdir;
  std::string source;         // bind: host path; symlink: link text; tmpfs: mount options
  std::string target;         // under the new root, e.g. "/tmp/usr"
  unsigned long flags = 0;    // mount flags to keep (bind: those the host mount has; tmpfs: nosuid...)
  const std::string* contents = nullptr;  // write_file: the bytes
};

// Why the child failed, reported through a pipe before it exits with kJailFailure.
struct jail_failure {
  int stage = 0;   // index into kJailStages
  int error = 0;   // errno
};
constexpr int kJailFailure = 126;
extern const char* const kJailStages[];
extern const int kJailStageCount;

struct jail_plan {
  std::string new_root;                 // where the fresh root tmpfs is mounted before pivoting
  std::vector<mount_step> steps;        // in order; parents before children
  std::vector<std::pair<int, rlim_t>> rlimits;
  uid_t uid = 1000;                     // inside the user namespace
  gid_t gid = 1000;
  std::string hostname = "aha-sandbox";
  std::string workdir = "/tmp";
  std::vector<std::string> compile_args;  // run first when not empty; a failure ends the run
  std::vector<std::string> run_args;
  std::vector<std::string> environment;
  // Filled by prepare_pointers(): the NULL-terminated arrays execve takes.
  std::vector<char*> compile_argv, run_argv, envp;
  const sock_fprog* filter = nullptr;
  // File descriptors, all O_CLOEXEC in the parent.
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;
  int sync_read_fd = -1, sync_write_fd = -1;  // the parent releases the child by writing one byte
  int report_fd = -1;                         // write end of the failure pipe
  // Warm runs (sandbox/warm.hpp): the child only builds the namespaces and the root, writes one
  // byte to ready_fd, and then holds them as the pid namespace's init until it is killed, while a
  // process forked from the warm interpreter enters them and becomes the program.
  bool hold = false;
  int ready_fd = -1;

  void prepare_pointers();
};

// Every signal back to its default disposition, none blocked: what a freshly started program
// expects. Async-signal-safe (for a child between fork and exec); used by jail_main and warm.cpp.
void reset_signals();

// Runs in the child. Never returns: execs the program (or, with plan.hold, holds the namespaces
// until killed) or _exits with kJailFailure.
[[noreturn]] void jail_main(const jail_plan& plan);

}  // namespace aha::sandbox
