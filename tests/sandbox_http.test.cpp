// `aha sandbox serve --http` as a real process (the built binary, fork/exec) on 127.0.0.1 with a
// free port, driven by curl: the port it announces, a run with and without its bearer token,
// refusing a non-loopback address without a token, and a clean exit on SIGTERM.
// The service itself is tested in sandbox/http_service.test.cpp.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "core/test_skip.hpp"

namespace {

// Runs `aha ARGS...` with stdout and stderr in `log`; returns its pid.
pid_t spawn_aha(std::vector<std::string> args, const std::string& log) {
  args.insert(args.begin(), AHA_BINARY);
  std::vector<char*> argv;
  for (auto& w : args) argv.push_back(w.data());
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {  // only async-signal-safe calls until exec
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string run_command(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  std::string out;
  char buffer[4096];
  for (std::size_t n; pipe && (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  if (pipe) pclose(pipe);
  return out;
}

}  // namespace

TEST_CASE("aha sandbox serve --http answers curl, checks its token, and exits on SIGTERM", "[integration]") {
  if (access("/usr/bin/curl", X_OK) != 0) AHA_SKIP("no /usr/bin/curl to drive the service with");
  const std::string dir = "/tmp/aha_http_it_" + std::to_string(getpid());
  REQUIRE(system(("mkdir -p " + dir).c_str()) == 0);
  const std::string log = dir + "/serve.log", token = dir + "/token";
  std::ofstream(token) << "it-token-42\n";

  // Refused: a non-loopback address without a token.
  const pid_t open_pid = spawn_aha({"sandbox", "serve", "--http", "0.0.0.0:0"}, dir + "/open.log");
  int open_status = 0;
  REQUIRE(waitpid(open_pid, &open_status, 0) == open_pid);
  CHECK(WEXITSTATUS(open_status) != 0);
  CHECK(read_file(dir + "/open.log").find("without a token") != std::string::npos);

  const pid_t pid =
      spawn_aha({"sandbox", "serve", "--http", "127.0.0.1:0", "--workers", "1", "--token-file", token}, log);
  REQUIRE(pid > 0);
  // The port it picked, from its start-up line (hang guard 30 s: the pool's start-up under load).
  std::smatch match;
  const std::regex listening("listening on http://127\\.0\\.0\\.1:([0-9]+)");
  std::string text;
  for (int i = 0; i < 300 && !std::regex_search(text, match, listening); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    text = read_file(log);
  }
  REQUIRE(std::regex_search(text, match, listening));
  const std::string url = "http://127.0.0.1:" + match[1].str() + "/run_code";
  const std::string curl =
      "/usr/bin/curl -s -m 30 -w '\\n%{http_code}' -X POST --data-binary "
      "'{\"code\": \"print(input() * 3)\", \"language\": \"python\", \"stdin\": \"ab\"}' ";

  const std::string refused = run_command(curl + url);
  CHECK(refused.substr(refused.rfind('\n') + 1) == "401");
  const std::string served = run_command(curl + "-H 'Authorization: Bearer it-token-42' " + url);
  REQUIRE(served.rfind('\n') != std::string::npos);
  CHECK(served.substr(served.rfind('\n') + 1) == "200");
  const auto reply = nlohmann::json::parse(served.substr(0, served.rfind('\n')), nullptr, false);
  CHECK(reply["status"] == "Success");
  CHECK(reply["run_result"]["stdout"] == "ababab\n");

  kill(pid, SIGTERM);
  int status = 0;
  for (int i = 0; i < 300 && waitpid(pid, &status, WNOHANG) != pid; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (kill(pid, 0) == 0) {  // still there after 30 s: fail, but leave nothing behind
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    FAIL("aha sandbox serve did not exit within 30 s of SIGTERM");
  }
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  REQUIRE(system(("rm -rf " + dir).c_str()) == 0);
}
