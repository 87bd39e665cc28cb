// The seccomp filter every sandboxed program runs under, compiled once to classic BPF in the
// parent (libseccomp allocates, which a freshly cloned child of a threaded process must not).
// An allow-list (the list and where it came from: seccomp_filter.cpp): the system calls ordinary
// programs of the supported languages make pass; clone only without namespace flags; socket and
// socketpair only for AF_UNIX (others: EAFNOSUPPORT); every other system call fails with ENOSYS.
// ENOSYS, not EPERM: libc and language runtimes probe newer calls (clone3, faccessat2, statx,
// rseq, close_range, openat2, epoll_pwait2) and fall back to an older one only on ENOSYS ("this
// kernel lacks it"); EPERM makes them fail hard. Not a kill: a probe of a call missing from the
// list must not end a legitimate run, and a refused call stays observable from inside (tested in
// sandbox/adversarial.test.cpp). Foreign-architecture system calls kill the process.
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
