// A slot's warm interpreter: start, hand over runs, notice its death (see warm.hpp).
#include "sandbox/warm.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>

#include "sandbox/jail.hpp"
#include "sandbox/spawn_wire.hpp"

namespace aha::sandbox {

extern const char* const kWarmZygotePy;  // sandbox/warm_zygote.py, embedded by CMake

namespace {

std::mutex g_pids_mutex;
std::vector<pid_t> g_pids;

void forget(pid_t pid) {
  std::lock_guard<std::mutex> lock(g_pids_mutex);
  g_pids.erase(std::remove(g_pids.begin(), g_pids.end(), pid), g_pids.end());
}

// The child between fork and exec: system calls only (the parent is threaded).
[[noreturn]] void exec_zygote(int channel, pid_t parent, const std::vector<const char*>& home, char* const* argv,
                              char* const* envp) {
  for (const char* file : home) {  // leave the slot's cgroup (if born there) for aha's own
    int fd = open(file, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) (void)!write(fd, "0", 1), close(fd);
  }
  rlimit stack{16ull << 20, 16ull << 20};  // a cold run's, which sizes the threads' stacks
  setrlimit(RLIMIT_STACK, &stack);
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0 || dup2(channel, 3) < 0) _exit(127);
  // dup2 onto itself keeps close-on-exec: clear it on each kept descriptor explicitly.
  for (int fd = 0; fd <= 3; ++fd) fcntl(fd, F_SETFD, 0);
  if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(127);
  reset_signals();
  syscall(SYS_close_range, 4u, ~0u, CLOSE_RANGE_CLOEXEC);
  execve(argv[0], argv, envp);
  _exit(127);
}

}  // namespace

std::vector<pid_t> warm_zygote_pids() {
  std::lock_guard<std::mutex> lock(g_pids_mutex);
  return g_pids;
}

result<std::unique_ptr<zygote>> zygote::start(const sock_fprog& filter, const std::vector<std::string>& home) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    return make_error(errc::io_error, std::string("warm: socketpair: ") + std::strerror(errno));
  }
  // The same fixed environment as a cold run: the interpreter's os.environ, locale and stdio
  // encoding are taken at start-up and every run inherits them.
  std::vector<std::string> args = {"/usr/bin/python3", "-I", "-B", "-c", kWarmZygotePy};
  std::vector<std::string> env = {"PATH=/usr/bin:/bin", "HOME=/tmp", "TMPDIR=/tmp", "LANG=C.UTF-8"};
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  for (auto& e : env) envp.push_back(e.data());
  argv.push_back(nullptr), envp.push_back(nullptr);
  std::vector<const char*> home_files;
  for (const auto& h : home) home_files.push_back(h.c_str());
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) exec_zygote(pair[1], parent, home_files, argv.data(), envp.data());
  int saved = errno;
  close(pair[1]);
  if (pid < 0) {
    close(pair[0]);
    return make_error(errc::io_error, std::string("warm: fork: ") + std::strerror(saved));
  }
  std::unique_ptr<zygote> z(new zygote(pid, pair[0]));
  {
    std::lock_guard<std::mutex> lock(g_pids_mutex);
    g_pids.push_back(pid);
  }
  std::string first = "F";
  first.append(reinterpret_cast<const char*>(filter.filter), filter.len * sizeof(sock_filter));
  if (send(z->channel_, first.data(), first.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(first.size())) {
    return make_error(errc::io_error, std::string("warm: send the filter: ") + std::strerror(errno));
  }
  pollfd ready{z->channel_, POLLIN, 0};
  char answer[16] = {};
  if (poll(&ready, 1, 10000) != 1 || recv(z->channel_, answer, sizeof answer, 0) != 5 ||
      std::memcmp(answer, "ready", 5) != 0) {
    return make_error(errc::unavailable, "warm: the interpreter did not start (/usr/bin/python3 -I -B)");
  }
  return z;
}

zygote::~zygote() {
  close(channel_);
  if (!reaped_) {
    kill(pid_, SIGKILL);
    while (waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
    }
  }
  forget(pid_);
}

bool zygote::fork_run(const int (&fds)[7]) const {
  const char command = 'r';
  return send_with_fds(channel_, &command, 1, fds, 7);
}

bool zygote::alive() {
  if (reaped_) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) reaped_ = true;
  return !reaped_;
}

std::uint64_t zygote::cpu_ns() const {
  std::ifstream schedstat("/proc/" + std::to_string(pid_) + "/schedstat");
  std::uint64_t ns = 0;
  schedstat >> ns;
  return ns;
}

}  // namespace aha::sandbox
