// aha's side of a slot's sandbox spawner: find the executable, start it, ask it for holders
// (see spawner.hpp; the executable is spawner_main.cpp).
#include "sandbox/spawner.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

#include "sandbox/spawn_wire.hpp"

namespace aha::sandbox {
namespace {

constexpr const char* kName = "aha-sandbox-spawner";
constexpr int kGuardMs = 5000;  // a healthy spawner answers in about a millisecond

std::string errno_text(const char* what) { return std::string("spawner: ") + what + ": " + std::strerror(errno); }

bool executable(const std::string& path) { return !path.empty() && access(path.c_str(), X_OK) == 0; }

// The child between fork and exec: system calls only (aha is threaded).
[[noreturn]] void exec_spawner(int channel, pid_t parent, const std::vector<const char*>& home, char* const* argv,
                               char* const* envp) {
  for (const char* file : home) {  // out of the slot's cgroup (if born there), into aha's own
    int fd = open(file, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) (void)!write(fd, "0", 1), close(fd);
  }
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0 || dup2(channel, 3) < 0) _exit(127);
  for (int fd = 0; fd <= 3; ++fd) fcntl(fd, F_SETFD, 0);  // dup2 onto itself keeps close-on-exec
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(127);
  reset_signals();
  syscall(SYS_close_range, 4u, ~0u, CLOSE_RANGE_CLOEXEC);
  execve(argv[0], argv, envp);
  _exit(127);
}

}  // namespace

std::string find_spawner(const std::string& setting) {
  if (setting == "none") return {};
  if (!setting.empty()) return executable(setting) ? setting : std::string();
  char self[PATH_MAX] = {};
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    std::string beside(self, static_cast<std::size_t>(n));
    beside = beside.substr(0, beside.rfind('/') + 1) + kName;
    if (executable(beside)) return beside;
  }
#ifdef AHA_SPAWNER_BUILD_PATH
  if (executable(AHA_SPAWNER_BUILD_PATH)) return AHA_SPAWNER_BUILD_PATH;  // tests run from the build tree
#endif
  return {};
}

result<std::unique_ptr<spawner>> spawner::start(const std::string& path, const std::vector<std::string>& home,
                                                bool in_slot_network) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) return make_error(errc::io_error, errno_text("socketpair"));
  std::string program = path;
  char* argv[] = {program.data(), nullptr};
  char* envp[] = {nullptr};
  std::vector<const char*> home_files;
  for (const auto& h : home) home_files.push_back(h.c_str());
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) exec_spawner(pair[1], parent, home_files, argv, envp);
  int saved = errno;
  close(pair[1]);
  if (pid < 0) {
    close(pair[0]);
    errno = saved;
    return make_error(errc::io_error, errno_text("fork"));
  }
  std::unique_ptr<spawner> s(new spawner(pid, pair[0], in_slot_network));
  pollfd ready{s->channel_, POLLIN, 0};
  char answer[16] = {};
  if (poll(&ready, 1, kGuardMs) != 1 || recv(s->channel_, answer, sizeof answer, 0) != 5 ||
      std::memcmp(answer, "ready", 5) != 0) {
    return make_error(errc::unavailable, "spawner: " + path + " did not start");
  }
  return s;
}

spawner::~spawner() {
  close(channel_);
  if (!reaped_) {
    kill(pid_, SIGKILL);
    while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
}

bool spawner::alive() {
  if (reaped_) return false;
  if (waitpid(pid_, nullptr, WNOHANG) == pid_) reaped_ = true;
  return !reaped_;
}

result<spawner::holder> spawner::clone_holder(const jail_plan& plan, int sync_read, int report_write,
                                              int ready_write) const {
  // The plan travels in a memfd: the source file is in it, and may exceed a socket message.
  const std::string bytes = encode_hold(plan, !in_slot_network_);
  int memfd = memfd_create("aha-hold-plan", MFD_CLOEXEC);
  if (memfd < 0) return make_error(errc::io_error, errno_text("memfd_create"));
  for (std::size_t done = 0; done < bytes.size();) {
    ssize_t n = write(memfd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(memfd);
      return make_error(errc::io_error, errno_text("write the plan"));
    }
    done += static_cast<std::size_t>(n);
  }
  const int fds[4] = {memfd, sync_read, report_write, ready_write};
  const char command = 'c';
  const bool sent = send_with_fds(channel_, &command, 1, fds, 4);
  close(memfd);
  if (!sent) return make_error(errc::unavailable, errno_text("send the request"));

  pollfd wait_reply{channel_, POLLIN, 0};
  if (poll(&wait_reply, 1, kGuardMs) != 1) return make_error(errc::timeout, "spawner: no answer");
  spawn_reply reply;
  iovec in{&reply, sizeof reply};
  alignas(cmsghdr) char in_control[CMSG_SPACE(sizeof(int))] = {};
  msghdr answer{};
  answer.msg_iov = &in, answer.msg_iovlen = 1;
  answer.msg_control = in_control, answer.msg_controllen = sizeof in_control;
  ssize_t n = recvmsg(channel_, &answer, MSG_CMSG_CLOEXEC);
  int pidfd = -1;
  if (n > 0) {
    cmsghdr* h = CMSG_FIRSTHDR(&answer);
    if (h && h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS && h->cmsg_len == CMSG_LEN(sizeof(int))) {
      std::memcpy(&pidfd, CMSG_DATA(h), sizeof pidfd);
    }
  }
  if (n != static_cast<ssize_t>(sizeof reply)) {
    if (pidfd >= 0) close(pidfd);
    return make_error(errc::unavailable, n == 0 ? "spawner: it exited" : "spawner: malformed answer");
  }
  if (reply.pid <= 0 || pidfd < 0) {
    if (pidfd >= 0) close(pidfd);
    errno = reply.error;
    return make_error(errc::io_error, errno_text("clone"));
  }
  return holder{reply.pid, pidfd};
}

}  // namespace aha::sandbox
