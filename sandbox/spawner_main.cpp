// aha-sandbox-spawner: the small process a sandbox slot clones its warm runs' namespace holders
// from (sandbox/spawner.hpp is aha's side; README "Warm runs"). A clone copies the caller's page
// tables, and aha's are large (LibTorch, CAF, the model): cloning from this process, which maps
// little more than libc, makes the clone cheap. Started by aha with its control socket on fd 3
// (stdio /dev/null, nothing else open); per request it receives a memfd with the holder's plan
// (sandbox/spawn_wire.hpp) and the holder's three pipe ends, clones the holder with the
// namespaces (jail_main with plan.hold: it builds the root and then only waits to be killed),
// and answers the holder's pid with a pidfd. It never runs user code and never execs: the only
// child it makes is a holder. Its children are reaped by the kernel (SIGCHLD ignored); they die
// with it (their PDEATHSIG), and it dies with aha's thread that started it (its PDEATHSIG).
// Links only jail.cpp and spawn_wire.cpp. Tested in sandbox/spawner.test.cpp.
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "sandbox/spawn_wire.hpp"

namespace {

using aha::sandbox::spawn_reply;

constexpr int kChannel = 3;
constexpr int kFds = 4;  // the plan's memfd, the sync pipe's read end, the report and ready pipes' write ends
constexpr int kNamespaces = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC |
                            CLONE_NEWUTS | CLONE_NEWCGROUP;
constexpr off_t kMaxPlan = 1 << 30;  // the source file travels in the plan

void answer(spawn_reply reply, int pidfd) {
  if (!send_with_fds(kChannel, &reply, sizeof reply, &pidfd, pidfd >= 0 ? 1 : 0)) _exit(1);  // aha is gone
}

// Reads the whole memfd (from offset 0); false on a read error or an oversized plan.
bool read_plan(int fd, std::string& bytes) {
  struct stat st {};
  if (fstat(fd, &st) != 0 || st.st_size < 0 || st.st_size > kMaxPlan) return false;
  bytes.resize(static_cast<std::size_t>(st.st_size));
  for (std::size_t done = 0; done < bytes.size();) {
    ssize_t n = pread(fd, &bytes[done], bytes.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

// One request: its descriptors are closed here whatever happens (the holder keeps its copies).
void serve(const int (&fds)[kFds]) {
  std::string bytes;
  aha::sandbox::hold_request request;
  if (!read_plan(fds[0], bytes) || !aha::sandbox::decode_hold(bytes, request).empty()) {
    return answer({-1, EINVAL}, -1);
  }
  request.plan.sync_read_fd = fds[1], request.plan.report_fd = fds[2], request.plan.ready_fd = fds[3];
  request.plan.prepare_pointers();
  const int flags = request.new_network ? kNamespaces : kNamespaces & ~CLONE_NEWNET;
  // Single-threaded: the child may run jail_main directly (it is async-signal-safe anyway).
  long pid = syscall(SYS_clone, flags | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
  if (pid == 0) aha::sandbox::jail_main(request.plan);  // closes every descriptor but its three
  if (pid < 0) return answer({-1, errno}, -1);
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    int saved = errno;
    kill(static_cast<pid_t>(pid), SIGKILL);
    return answer({-1, saved}, -1);
  }
  answer({static_cast<std::int32_t>(pid), 0}, pidfd);
  close(pidfd);
}

}  // namespace

int main() {
  int type = 0;
  socklen_t size = sizeof type;
  if (getsockopt(kChannel, SOL_SOCKET, SO_TYPE, &type, &size) != 0 || type != SOCK_SEQPACKET) return 2;
  signal(SIGCHLD, SIG_IGN);  // holders are reaped by the kernel; nothing here waits for them
  if (send(kChannel, "ready", 5, MSG_NOSIGNAL) != 5) return 1;
  while (true) {
    char command = 0;
    iovec data{&command, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kFds)] = {};
    msghdr message{};
    message.msg_iov = &data, message.msg_iovlen = 1;
    message.msg_control = control, message.msg_controllen = sizeof control;
    ssize_t n = recvmsg(kChannel, &message, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;  // aha closed the channel (or is gone)
    int fds[kFds] = {-1, -1, -1, -1};
    int received = 0;
    for (cmsghdr* h = CMSG_FIRSTHDR(&message); h; h = CMSG_NXTHDR(&message, h)) {
      if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS) continue;
      int count = static_cast<int>((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
      for (int i = 0; i < count; ++i) {
        int fd = -1;
        std::memcpy(&fd, CMSG_DATA(h) + i * sizeof(int), sizeof fd);
        if (received < kFds) fds[received] = fd;
        else close(fd);
        ++received;
      }
    }
    if (command == 'c' && received == kFds && !(message.msg_flags & MSG_CTRUNC)) serve(fds);
    else answer({-1, EINVAL}, -1);
    for (int fd : fds) {
      if (fd >= 0) close(fd);
    }
  }
}
