// aha::sandbox::uid_lease — the block of host uids/gids one executor's runs use, leased for the
// executor's lifetime so that no two aha processes on a host (two trainers, a trainer and a node)
// ever map their runs to the same host uid: a program may signal or ptrace-probe processes of its
// own host uid, so shared uids would let one process's run reach another's.
//
// The uid space is cut into aligned blocks of kBlockSize; a lease is one block at or above
// sandbox_config::host_id_base, held by flock(LOCK_EX | LOCK_NB) on the block's lock file under
// kLockDir. The lock lives in an open file description, so it dies with the executor or its
// process (no stale leases after a crash), and a second executor in the same process gets another
// block. Aligned blocks never overlap partly, whatever base each process was configured with.
// Tested in sandbox/neighbours.test.cpp.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "core/result.hpp"

namespace aha::sandbox {

class uid_lease {
 public:
  static constexpr std::uint32_t kBlockSize = 65536;  // root + up to 65535 slots
  static constexpr std::uint32_t kMaxBlocks = 256;    // blocks tried above the base
  static constexpr const char* kLockDir = "/run/aha-sandbox";

  // Leases the first free block at or above `base`. Fails when kMaxBlocks blocks are all taken or
  // the lock directory cannot be used.
  static result<uid_lease> acquire(std::uint32_t base, const std::string& lock_dir = kLockDir);
  // The host uids any lease from `base` can hold: [first, first + count).
  static std::uint64_t leasable_first(std::uint32_t base);
  static std::uint64_t leasable_count(std::uint32_t base);

  uid_lease(uid_lease&& other) noexcept;
  uid_lease& operator=(uid_lease&& other) noexcept;
  uid_lease(const uid_lease&) = delete;
  uid_lease& operator=(const uid_lease&) = delete;
  ~uid_lease();

  std::uint32_t first() const { return first_; }            // the block's first uid
  uid_t root_uid() const { return first_; }                 // root inside the box
  uid_t slot_uid(std::uint32_t slot) const { return first_ + 1 + slot; }  // slot < kBlockSize - 1

 private:
  uid_lease(int fd, std::uint32_t first) : fd_(fd), first_(first) {}
  int fd_ = -1;
  std::uint32_t first_ = 0;
};

}  // namespace aha::sandbox
