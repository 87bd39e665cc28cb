// Hosts for the tests: network namespaces joined by veth pairs (STACK.md, "Several hosts on one
// machine"). A star: host 0 (the controller's) has one link to each other host, each link its
// own /24, so that one node's link can be cut (`ip link set ... down`) while the others stay up.
//   link i (1..n-1): host 0 at 10.<net>.<i>.1, host i at 10.<net>.<i>.2
// The namespaces are removed when the object goes (deleting a namespace deletes its veth ends,
// and with them the pairs); ones left by a test process that died are removed at the next start.
// Where namespaces cannot be made (not root, no `ip`, a container without CAP_SYS_ADMIN),
// `unavailable()` says why and the test skips visibly (AHA_SKIP).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <signal.h>
#include <unistd.h>

namespace aha::testing {

class netns_hosts {
 public:
  explicit netns_hosts(int hosts) {
    remove_stale();
    const auto pid = std::to_string(::getpid());
    net_ = 100 + ::getpid() % 100;
    for (int i = 0; i < hosts; ++i) names_.push_back("aha-" + pid + "-h" + std::to_string(i));
    if (::geteuid() != 0) {
      why_ = "network namespaces need root";
      return;
    }
    if (!sh("command -v ip")) {
      why_ = "`ip` (iproute2) is not installed";
      return;
    }
    for (const auto& name : names_) {
      if (!sh("ip netns add " + name)) {
        why_ = "cannot create network namespaces here (`ip netns add` failed)";
        return;
      }
      made_.push_back(name);
      sh("ip -n " + name + " link set lo up");
    }
    for (int i = 1; i < hosts; ++i) {
      const auto a = link_name(0, i), b = link_name(i, i);
      const bool ok = sh("ip link add " + a + " netns " + names_[0] + " type veth peer name " + b + " netns " + names_[i]) &&
                      sh("ip -n " + names_[0] + " addr add " + address(0, i) + "/24 dev " + a) &&
                      sh("ip -n " + names_[i] + " addr add " + address(i, i) + "/24 dev " + b) &&
                      sh("ip -n " + names_[0] + " link set " + a + " up") && sh("ip -n " + names_[i] + " link set " + b + " up");
      if (!ok) {
        why_ = "cannot link the namespaces with veth pairs";
        return;
      }
    }
  }
  ~netns_hosts() {
    for (const auto& name : made_) sh("ip netns del " + name);
  }
  netns_hosts(const netns_hosts&) = delete;
  netns_hosts& operator=(const netns_hosts&) = delete;

  // Why these hosts could not be made; nothing when they are up.
  const std::optional<std::string>& unavailable() const { return why_; }
  // The command prefix that runs a program on host `i`.
  std::vector<std::string> on(int i) const { return {"ip", "netns", "exec", names_[i]}; }
  // Host 0's address on the link to host `i` (what host i dials), or host i's own (i == host).
  std::string address(int host, int link) const {
    return "10." + std::to_string(net_) + "." + std::to_string(link) + "." + (host == 0 ? "1" : "2");
  }
  // Cuts (or restores) the link between host 0 and host `i`, at host 0's end.
  bool set_link(int i, bool up) const {
    return sh("ip -n " + names_[0] + " link set " + link_name(0, i) + (up ? " up" : " down"));
  }

 private:
  std::string link_name(int host, int link) const {  // <= 15 characters (IFNAMSIZ)
    return "ah" + std::to_string(::getpid() % 100000) + (host == 0 ? "c" : "n") + std::to_string(link);
  }
  static bool sh(const std::string& command) { return std::system((command + " >/dev/null 2>&1").c_str()) == 0; }
  // Namespaces named aha-<pid>-h<i> whose test process is gone.
  static void remove_stale() {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator("/run/netns", ec)) {
      const auto name = entry.path().filename().string();
      if (name.rfind("aha-", 0) != 0) continue;
      const auto dash = name.find('-', 4);
      if (dash == std::string::npos) continue;
      const auto pid = std::atoi(name.substr(4, dash - 4).c_str());
      if (pid > 0 && ::kill(pid, 0) != 0) sh("ip netns del " + name);
    }
  }
  std::vector<std::string> names_;
  std::vector<std::string> made_;
  int net_ = 100;
  std::optional<std::string> why_;
};

}  // namespace aha::testing
