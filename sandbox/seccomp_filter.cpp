// Builds the sandbox's seccomp filter with libseccomp and exports it as BPF (seccomp_filter.hpp).
// An allow-list: the system calls below pass, every other one fails with ENOSYS (why ENOSYS: see
// seccomp_filter.hpp). The list was taken from strace of python3 (threads, subprocess,
// multiprocessing, asyncio, sockets, mmap, sqlite), /bin/sh with coreutils, and g++ compiling and
// running a program, then widened to the rest of each family (a program that may call read may
// call readv) so that ordinary programs do not trip over it; what stays out is what reaches kernel
// attack surface or other processes: namespaces, mounts, ptrace, bpf, io_uring, perf, keyrings,
// modules, kexec, userfaultfd, handle-based opens, NUMA page migration, clock setting.
#include "sandbox/seccomp_filter.hpp"

#include <seccomp.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace aha::sandbox {
namespace {

constexpr const char* kAllowed[] = {
    // memory
    "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "msync", "mincore", "mlock", "mlock2",
    "munlock", "mlockall", "munlockall", "membarrier", "pkey_alloc", "pkey_free", "pkey_mprotect",
    "get_mempolicy", "set_mempolicy", "mbind", "memfd_create",
    // threads and processes (clone: below, without namespace flags; clone3: ENOSYS, so libc falls
    // back to clone, whose flags the filter can see)
    "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid", "set_tid_address",
    "set_robust_list", "get_robust_list", "rseq", "arch_prctl", "prctl", "futex", "futex_waitv",
    "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam", "sched_setparam",
    "sched_getscheduler", "sched_setscheduler", "sched_get_priority_max", "sched_get_priority_min",
    "sched_rr_get_interval", "sched_getattr", "sched_setattr", "getpriority", "setpriority",
    "ioprio_get", "ioprio_set", "getcpu", "seccomp",  // a filter can only restrict further
    // ids (changing them needs capabilities the program does not have)
    "getpid", "getppid", "gettid", "getpgid", "setpgid", "getpgrp", "getsid", "setsid", "getuid",
    "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups", "setuid", "setgid",
    "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid", "capget",
    "capset",
    // signals (kill and friends reach only processes of the run's pid namespace)
    "kill", "tkill", "tgkill", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending",
    "rt_sigtimedwait", "rt_sigsuspend", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "pause",
    "signalfd", "signalfd4", "pidfd_open", "pidfd_send_signal", "restart_syscall",
    // time
    "nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres", "gettimeofday", "time", "times",
    "getrusage", "getitimer", "setitimer", "alarm", "timer_create", "timer_settime", "timer_gettime",
    "timer_getoverrun", "timer_delete", "timerfd_create", "timerfd_settime", "timerfd_gettime",
    // files and descriptors
    "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
    "pwritev2", "open", "openat", "openat2", "creat", "close", "close_range", "lseek", "stat", "fstat",
    "lstat", "newfstatat", "statx", "access", "faccessat", "faccessat2", "readlink", "readlinkat",
    "getdents", "getdents64", "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat",
    "renameat2", "link", "linkat", "symlink", "symlinkat", "chmod", "fchmod", "fchmodat", "chown",
    "fchown", "lchown", "fchownat", "truncate", "ftruncate", "fsync", "fdatasync", "sync",
    "sync_file_range", "fallocate", "fadvise64", "readahead", "utime", "utimes", "utimensat",
    "futimesat", "dup", "dup2", "dup3", "fcntl", "ioctl", "flock", "pipe", "pipe2", "chdir", "fchdir",
    "getcwd", "umask", "statfs", "fstatfs", "mknod", "mknodat", "sendfile", "copy_file_range",
    "splice", "tee", "vmsplice", "getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr",
    "flistxattr", "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
    "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
    // waiting
    "poll", "ppoll", "select", "pselect6", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait",
    "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2",
    // sockets (socket and socketpair: below, AF_UNIX only)
    "bind", "listen", "accept", "accept4", "connect", "getsockname", "getpeername", "sendto",
    "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown", "setsockopt", "getsockopt",
    // System V IPC: the run has its own IPC namespace, fresh per run
    "shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl", "msgget", "msgsnd",
    "msgrcv", "msgctl",
    // the rest
    "uname", "sysinfo", "getrandom", "prlimit64", "getrlimit", "setrlimit"};

constexpr unsigned long kNamespaceFlags = CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |
                                          CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP | CLONE_NEWTIME;

using context = std::unique_ptr<void, void (*)(scmp_filter_ctx)>;

status add_rules(scmp_filter_ctx ctx) {
  auto fail = [](const char* what, int rc) {
    return make_error(errc::internal, std::string("seccomp: ") + what + ": " + std::strerror(-rc));
  };
  for (const char* name : kAllowed) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture
    if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)) return fail(name, rc);
  }
  // clone without any namespace flag: new namespaces would hand the program fresh capabilities.
  if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1, SCMP_A0(SCMP_CMP_MASKED_EQ, kNamespaceFlags, 0))) {
    return fail("clone", rc);
  }
  // Only AF_UNIX sockets: no network family, no netlink, no packet sockets. Other families get
  // EAFNOSUPPORT, which programs already handle as "this family is not available here".
  for (int nr : {SCMP_SYS(socket), SCMP_SYS(socketpair)}) {
    if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX))) return fail("socket", rc);
    if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), nr, 1, SCMP_A0(SCMP_CMP_NE, AF_UNIX))) {
      return fail("socket", rc);
    }
  }
  return ok_status();
}

}  // namespace

result<seccomp_program> build_seccomp_program() {
  context ctx(seccomp_init(SCMP_ACT_ERRNO(ENOSYS)), seccomp_release);
  if (!ctx) return make_error(errc::internal, "seccomp_init failed");
  seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_NNP, 1);
  seccomp_attr_set(ctx.get(), SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (auto added = add_rules(ctx.get()); !added) return added.error();

  // libseccomp 2.5 exports only to a file descriptor: go through a memfd.
  int fd = memfd_create("aha-seccomp", MFD_CLOEXEC);
  if (fd < 0) return make_error(errc::io_error, std::string("memfd_create: ") + std::strerror(errno));
  int rc = seccomp_export_bpf(ctx.get(), fd);
  off_t size = lseek(fd, 0, SEEK_END);
  seccomp_program program;
  if (rc == 0 && size > 0 && size % sizeof(sock_filter) == 0) {
    program.instructions.resize(static_cast<std::size_t>(size) / sizeof(sock_filter));
    rc = pread(fd, program.instructions.data(), static_cast<std::size_t>(size), 0) == size ? 0 : -EIO;
  } else if (rc == 0) {
    rc = -EINVAL;
  }
  close(fd);
  if (rc != 0) return make_error(errc::internal, std::string("seccomp export: ") + std::strerror(-rc));
  return program;
}

}  // namespace aha::sandbox
