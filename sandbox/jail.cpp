// The child side of a run (see jail.hpp). Only system calls below: no allocation, no locks.
// Also compiled into the spawner executable (spawner_main.cpp): depend on libc only.
#include "sandbox/jail.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

namespace aha::sandbox {

const char* const kJailStages[] = {
    "wait for the parent", "new session", "become root in the user namespace", "make mounts private",
    "mount the new root", "build the new root", "pivot_root", "detach the old root",
    "remount read-only", "set hostname", "set rlimits", "redirect stdio", "drop to the sandbox uid",
    "parent-death signal", "enter the work directory", "close inherited files", "compile",
    "no_new_privs", "seccomp", "exec"};
const int kJailStageCount = static_cast<int>(sizeof(kJailStages) / sizeof(kJailStages[0]));

enum stage { wait_parent, new_session, become_root, make_private, mount_root, fill_root, pivot, detach_old,
             remount_ro, set_hostname, set_rlimits, redirect_stdio, drop_uid, death_signal,
             enter_workdir, close_files, compile_step, no_new_privs, load_seccomp, exec_program };

void jail_plan::prepare_pointers() {
  auto fill = [](std::vector<std::string>& from, std::vector<char*>& to) {
    to.clear();
    for (auto& s : from) to.push_back(s.data());
    to.push_back(nullptr);
  };
  fill(compile_args, compile_argv);
  fill(run_args, run_argv);
  fill(environment, envp);
}

namespace {

[[noreturn]] void fail(const jail_plan& plan, int at) {
  jail_failure report{at, errno};
  (void)!write(plan.report_fd, &report, sizeof report);
  _exit(kJailFailure);
}

bool write_all(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n, size -= static_cast<size_t>(n);
  }
  return true;
}

bool touch(const char* path) {
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  return fd >= 0 && close(fd) == 0;
}

bool run_step(const mount_step& s) {
  const char* target = s.target.c_str();
  switch (s.what) {
    case mount_step::kind::mkdir:
      return mkdir(target, 0755) == 0 || errno == EEXIST;
    case mount_step::kind::bind_dir:
    case mount_step::kind::bind_file:
      if (s.what == mount_step::kind::bind_dir ? mkdir(target, 0755) != 0 && errno != EEXIST : !touch(target)) {
        return false;
      }
      if (mount(s.source.c_str(), target, nullptr, MS_BIND | MS_REC, nullptr) != 0) return false;
      // A bind mount inherits the source's flags; remounting read-only must keep the locked ones.
      return mount(nullptr, target, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | s.flags, nullptr) == 0;
    case mount_step::kind::bind_device:  // left writable: /dev/null must accept writes
      return touch(target) && mount(s.source.c_str(), target, nullptr, MS_BIND, nullptr) == 0;
    case mount_step::kind::symlink:
      return symlink(s.source.c_str(), target) == 0;
    case mount_step::kind::tmpfs:
      return (mkdir(target, 0755) == 0 || errno == EEXIST) &&
             mount("tmpfs", target, "tmpfs", s.flags, s.source.c_str()) == 0;
    case mount_step::kind::proc:
      return (mkdir(target, 0555) == 0 || errno == EEXIST) &&
             mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) == 0;
    case mount_step::kind::write_file: {
      int fd = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0) return false;
      bool written = write_all(fd, s.contents->data(), s.contents->size());
      return close(fd) == 0 && written;
    }
    case mount_step::kind::remount_ro:
      return mount(nullptr, target, nullptr, MS_REMOUNT | MS_RDONLY | s.flags, nullptr) == 0;
  }
  return false;
}

// Fresh root: mount a tmpfs, fill it, pivot into it and drop the host's tree.
void build_new_root(const jail_plan& plan) {
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) fail(plan, make_private);
  if (mount("tmpfs", plan.new_root.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=256,mode=0755") != 0) {
    fail(plan, mount_root);
  }
  for (const auto& step : plan.steps) {
    if (!run_step(step)) fail(plan, fill_root);
  }
  if (chdir(plan.new_root.c_str()) != 0 || syscall(SYS_pivot_root, ".", ".") != 0) fail(plan, pivot);
  if (umount2(".", MNT_DETACH) != 0 || chdir("/") != 0) fail(plan, detach_old);
  if (mount(nullptr, "/", nullptr, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, nullptr) != 0) {
    fail(plan, remount_ro);
  }
}

// Raw system calls: glibc's setresuid() would try to change the ids of every thread of the
// parent, which this clone copied in its bookkeeping but not in fact, and wait for them forever.
long set_ids(uid_t uid, gid_t gid) {
  if (long rc = syscall(SYS_setresgid, gid, gid, gid); rc != 0) return rc;
  return syscall(SYS_setresuid, uid, uid, uid);
}

// Drops every privilege: rlimits, stdio, uid, parent-death signal, inherited files.
void drop_privileges(const jail_plan& plan) {
  if (sethostname(plan.hostname.data(), plan.hostname.size()) != 0) fail(plan, set_hostname);
  for (const auto& [resource, value] : plan.rlimits) {
    rlimit limit{value, value};
    if (setrlimit(resource, &limit) != 0) fail(plan, set_rlimits);
  }
  if (dup2(plan.stdin_fd, 0) < 0 || dup2(plan.stdout_fd, 1) < 0 || dup2(plan.stderr_fd, 2) < 0) {
    fail(plan, redirect_stdio);
  }
  if (set_ids(plan.uid, plan.gid) != 0) fail(plan, drop_uid);
  // Set after the uid change (which clears it). If the parent already died, the sync pipe says so.
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(plan, death_signal);
  pollfd parent{plan.sync_read_fd, POLLIN, 0};
  if (poll(&parent, 1, 0) > 0 && (parent.revents & POLLHUP)) _exit(kJailFailure);
  if (chdir(plan.workdir.c_str()) != 0) fail(plan, enter_workdir);
  if (syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC) != 0) fail(plan, close_files);
}

void enter_seccomp(const jail_plan& plan) {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(plan, no_new_privs);
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, plan.filter) != 0) fail(plan, load_seccomp);
}

// A compiled language: run the compiler as a child; only a clean exit lets the program start.
void compile(const jail_plan& plan) {
  pid_t pid = static_cast<pid_t>(syscall(SYS_clone, SIGCHLD, nullptr, nullptr, nullptr, nullptr));
  if (pid < 0) fail(plan, compile_step);
  if (pid == 0) {
    execve(plan.compile_argv[0], plan.compile_argv.data(), plan.envp.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) _exit(1);  // the compiler's stderr says why
}

// Closes every descriptor except the given ones (ascending). The holder never execs, so what it
// inherited from aha (other runs' pipes among them) would otherwise stay open for its whole run.
void close_all_but(int a, int b, int c) {
  int keep[3] = {a, b, c};
  unsigned first = 0;
  for (int fd : keep) {
    if (static_cast<unsigned>(fd) > first) syscall(SYS_close_range, first, static_cast<unsigned>(fd) - 1, 0u);
    first = static_cast<unsigned>(fd) + 1;
  }
  syscall(SYS_close_range, first, ~0u, 0u);
}

// plan.hold: the namespaces and the root are ready; say so, and stay as their init (pid 1) until
// aha kills it. It keeps root in the user namespace (a uid the program does not have, so the
// program cannot signal, ptrace or read it; init ignores signals without a handler anyway), is
// not dumpable, and lets the kernel reap orphans (SIGCHLD ignored).
[[noreturn]] void hold_namespaces(const jail_plan& plan) {
  if (sethostname(plan.hostname.data(), plan.hostname.size()) != 0) fail(plan, set_hostname);
  // Dies with its parent: aha's thread, or the slot's spawner (set_ids cleared the setting).
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(plan, death_signal);
  pollfd parent{plan.sync_read_fd, POLLIN, 0};
  if (poll(&parent, 1, 0) > 0 && (parent.revents & POLLHUP)) _exit(kJailFailure);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGCHLD, &ignore, nullptr);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  if (write(plan.ready_fd, "r", 1) != 1) _exit(kJailFailure);
  syscall(SYS_close_range, 0u, ~0u, 0u);
  for (;;) pause();
}

}  // namespace

void reset_signals() {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

void jail_main(const jail_plan& plan) {
  // The sync pipe's write end goes, so that a dead parent shows as a hang-up on it.
  if (plan.hold) {
    int keep[3] = {plan.sync_read_fd, plan.report_fd, plan.ready_fd};
    if (keep[0] > keep[1]) std::swap(keep[0], keep[1]);
    if (keep[1] > keep[2]) std::swap(keep[1], keep[2]);
    if (keep[0] > keep[1]) std::swap(keep[0], keep[1]);
    close_all_but(keep[0], keep[1], keep[2]);
  } else {
    close(plan.sync_write_fd);
  }
  char go = 0;
  if (read(plan.sync_read_fd, &go, 1) != 1) _exit(kJailFailure);  // the parent gave up on us
  // Its own session and process group: otherwise the run stays in its launcher's process group,
  // which kill(0, ...) reaches across the pid namespace (the group is the launcher's, and so of
  // every process the launcher's shell started with it, other aha processes and their runs).
  if (setsid() < 0) fail(plan, new_session);
  if (syscall(SYS_setgroups, 0, nullptr) != 0 || set_ids(0, 0) != 0) fail(plan, become_root);
  build_new_root(plan);
  if (plan.hold) hold_namespaces(plan);
  drop_privileges(plan);
  reset_signals();
  enter_seccomp(plan);
  if (plan.compile_argv.size() > 1) compile(plan);
  execve(plan.run_argv[0], plan.run_argv.data(), plan.envp.data());
  fail(plan, exec_program);
}

}  // namespace aha::sandbox
