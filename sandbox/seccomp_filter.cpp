// Builds the sandbox's seccomp filter with libseccomp and exports it as BPF (seccomp_filter.hpp).
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

constexpr const char* kDenied[] = {
    "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root", "chroot",
    "unshare", "setns", "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "kexec_load",
    "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "swapon", "swapoff",
    "syslog", "acct", "userfaultfd", "open_by_handle_at", "name_to_handle_at", "fanotify_init",
    "quotactl", "lookup_dcookie", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount",
    "fspick", "mount_setattr", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "sethostname", "setdomainname", "vhangup", "pidfd_getfd", "personality"};
constexpr const char* kNoSys[] = {"io_uring_setup", "io_uring_enter", "io_uring_register", "clone3"};

constexpr unsigned long kNamespaceFlags = CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |
                                          CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP | CLONE_NEWTIME;

using context = std::unique_ptr<void, void (*)(scmp_filter_ctx)>;

status add_rules(scmp_filter_ctx ctx) {
  auto fail = [](const char* what, int rc) {
    return make_error(errc::internal, std::string("seccomp: ") + what + ": " + std::strerror(-rc));
  };
  for (const char* name : kDenied) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture
    if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0)) return fail(name, rc);
  }
  for (const char* name : kNoSys) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;
    if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), nr, 0)) return fail(name, rc);
  }
  // clone with any namespace flag: new namespaces would hand the program fresh capabilities.
  // One rule per flag, since a masked comparison can only test equality.
  for (unsigned long flag = 1; flag != 0; flag <<= 1) {
    if (!(kNamespaceFlags & flag)) continue;
    if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                                  SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag))) {
      return fail("clone", rc);
    }
  }
  // Only AF_UNIX sockets: no network family, no netlink, no packet sockets.
  if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
                                SCMP_A0(SCMP_CMP_NE, AF_UNIX))) {
    return fail("socket", rc);
  }
  if (int rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socketpair), 1,
                                SCMP_A0(SCMP_CMP_NE, AF_UNIX))) {
    return fail("socketpair", rc);
  }
  return ok_status();
}

}  // namespace

result<seccomp_program> build_seccomp_program() {
  context ctx(seccomp_init(SCMP_ACT_ALLOW), seccomp_release);
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
