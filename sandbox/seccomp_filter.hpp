// The seccomp filter every sandboxed program runs under, compiled once to classic BPF in the
// parent (libseccomp allocates, which a freshly cloned child of a threaded process must not).
// Denies (EPERM unless noted): ptrace and process_vm_*, mount and the new mount API, pivot_root,
// chroot, unshare/setns and namespace flags on clone, clone3 (ENOSYS, so libc falls back to
// clone, whose flags can be checked), keyctl, bpf, io_uring (ENOSYS), perf_event_open,
// kexec/modules/reboot/swap, userfaultfd, handle-based opens, and sockets other than AF_UNIX
// (EAFNOSUPPORT). Foreign-architecture syscalls kill the process.
#pragma once

#include <linux/filter.h>

#include <vector>

#include "core/result.hpp"

namespace aha::sandbox {

struct seccomp_program {
  std::vector<sock_filter> instructions;
  sock_fprog view() const {  // what prctl(PR_SET_SECCOMP) takes; valid while this object lives
    return sock_fprog{static_cast<unsigned short>(instructions.size()),
                      const_cast<sock_filter*>(instructions.data())};
  }
};

result<seccomp_program> build_seccomp_program();

}  // namespace aha::sandbox
