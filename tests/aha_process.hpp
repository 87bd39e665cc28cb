// A real `aha` process for the tests in tests/ (cluster, hosts): `aha ARGS...` (the built binary,
// fork/exec), optionally under a command prefix (`ip netns exec NS`), with its stdout and stderr
// in a file; killed (SIGCONT, SIGKILL) and reaped when the handle goes. Hang guards only.
#pragma once

#include <chrono>
#include <csignal>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace aha::testing {

class aha_process {
 public:
  using clock_type = std::chrono::steady_clock;

  // `prefix` runs first (e.g. {"ip", "netns", "exec", "host-b"}); it must exec the binary.
  aha_process(const std::vector<std::string>& args, std::string log_path, std::vector<std::string> prefix = {})
      : log_path_(std::move(log_path)) {
    std::vector<std::string> words = std::move(prefix);
    words.push_back(AHA_BINARY);
    words.insert(words.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {  // only async-signal-safe calls until exec
      int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      ::close_range(3, ~0U, 0);  // the test's sockets stay with the test
      ::execvp(argv[0], argv.data());
      ::_exit(127);
    }
  }
  aha_process(const aha_process&) = delete;
  aha_process& operator=(const aha_process&) = delete;
  ~aha_process() {
    if (running()) {
      ::kill(pid_, SIGCONT);
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  bool started() const { return pid_ > 0; }
  void signal(int sig) { ::kill(pid_, sig); }
  bool running() { return pid_ > 0 && !status_ && !reap(WNOHANG); }
  // The wait status, or nothing when it has not ended within `limit`.
  std::optional<int> wait_within(std::chrono::milliseconds limit) {
    auto until = clock_type::now() + limit;
    while (!status_ && clock_type::now() < until) {
      if (!reap(WNOHANG)) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return status_;
  }
  std::string log() const {
    std::ifstream in(log_path_);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  const std::string& log_path() const { return log_path_; }

 private:
  bool reap(int flags) {
    int st = 0;
    if (::waitpid(pid_, &st, flags) != pid_) return false;
    status_ = st;
    return true;
  }
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string log_path_;
};

}  // namespace aha::testing
