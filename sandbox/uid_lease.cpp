// Host uid blocks leased with flock (see uid_lease.hpp).
#include "sandbox/uid_lease.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace aha::sandbox {
namespace {

// The last block holds uid 2^32 - 1, which means "no uid" to the kernel: never leased.
constexpr std::uint64_t kBlocks = (std::uint64_t{1} << 32) / uid_lease::kBlockSize - 1;

std::uint64_t first_block(std::uint32_t base) { return (std::uint64_t{base} + uid_lease::kBlockSize - 1) / uid_lease::kBlockSize; }

std::uint64_t end_block(std::uint32_t base) { return std::min(kBlocks, first_block(base) + uid_lease::kMaxBlocks); }

}  // namespace

std::uint64_t uid_lease::leasable_first(std::uint32_t base) { return first_block(base) * kBlockSize; }

std::uint64_t uid_lease::leasable_count(std::uint32_t base) {
  return end_block(base) > first_block(base) ? (end_block(base) - first_block(base)) * kBlockSize : 0;
}

result<uid_lease> uid_lease::acquire(std::uint32_t base, const std::string& lock_dir) {
  // Root only: nobody else may create, replace or lock the lease files.
  if (mkdir(lock_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return make_error(errc::io_error, "sandbox: cannot create " + lock_dir + ": " + std::strerror(errno));
  }
  for (std::uint64_t block = first_block(base); block < end_block(base); ++block) {
    const std::uint64_t first = block * kBlockSize;
    std::string path = lock_dir + "/uids-" + std::to_string(first) + ".lock";
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) return make_error(errc::io_error, "sandbox: cannot open " + path + ": " + std::strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
      // Who holds it, for a person looking at the directory (the lock itself is what counts).
      std::string owner = std::to_string(getpid()) + "\n";
      if (ftruncate(fd, 0) == 0) (void)!pwrite(fd, owner.data(), owner.size(), 0);
      return uid_lease(fd, static_cast<std::uint32_t>(first));
    }
    int saved = errno;
    close(fd);
    if (saved != EWOULDBLOCK) return make_error(errc::io_error, "sandbox: flock " + path + ": " + std::strerror(saved));
  }
  return make_error(errc::resource_limit, "sandbox: every host uid block from host_id_base " + std::to_string(base) +
                                              " is leased by another executor (" + std::to_string(kMaxBlocks) +
                                              " blocks of " + std::to_string(kBlockSize) + " tried)");
}

uid_lease::uid_lease(uid_lease&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), first_(other.first_) {}

uid_lease& uid_lease::operator=(uid_lease&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    first_ = other.first_;
  }
  return *this;
}

uid_lease::~uid_lease() {
  if (fd_ >= 0) close(fd_);  // releases the lock; the file stays for the next lease
}

}  // namespace aha::sandbox
