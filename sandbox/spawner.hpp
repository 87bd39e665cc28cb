// aha::sandbox::spawner — aha's side of one slot's sandbox spawner (`aha-sandbox-spawner`,
// sandbox/spawner_main.cpp): a tiny separate executable that clones the slot's warm-run
// namespace holders (jail_plan::hold) from its own small address space, because a clone from aha
// copies aha's large page tables (LibTorch etc.; 4-12 ms per run measured under load). The
// executor starts one per slot from the slot's thread (so it shares the slot's network namespace
// when that thread adopted it), sends it each holder's plan over a socketpair with the holder's
// pipe ends, and gets back the holder's pid and pidfd. The holder is the spawner's child, not
// aha's: aha signals it through the pidfd and never waits for it (the kernel reaps it), which is
// what lets a warm run answer before its namespaces are torn down (README "Warm runs").
// A spawner that died or hangs is killed and replaced; the run is retried (executor.cpp).
// Tested in sandbox/spawner.test.cpp.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "sandbox/jail.hpp"

namespace aha::sandbox {

// Where the spawner executable is, for sandbox_config::spawner: "none" gives ""; a path is
// taken as it is; "" (auto) tries next to this process's executable, then the build tree's copy.
// Empty when none is found (warm runs then clone their holders from aha itself).
std::string find_spawner(const std::string& setting);

class spawner {
 public:
  // Starts `path` with its control socket on fd 3, waits (up to 5 s) for its "ready". Before
  // exec the child moves itself into `home` (cgroup.procs files of aha's own groups), so that
  // holders it clones are never members of a run's group, and sets PDEATHSIG.
  static result<std::unique_ptr<spawner>> start(const std::string& path, const std::vector<std::string>& home,
                                                bool in_slot_network);
  ~spawner();  // SIGKILL and reap (its holders then die with it)
  spawner(const spawner&) = delete;
  spawner& operator=(const spawner&) = delete;

  struct holder {
    pid_t pid = -1;
    int pidfd = -1;  // owned by the caller
  };
  // Clones one holder of `plan` (its new_root, hostname and steps; plan.hold semantics) with the
  // given pipe ends as its sync_read, report and ready descriptors. A new network namespace
  // unless the spawner lives in the slot's own. Fails when the spawner is gone, hangs (5 s) or
  // could not clone.
  result<holder> clone_holder(const jail_plan& plan, int sync_read, int report_write, int ready_write) const;
  bool alive();  // reaps it when it died
  pid_t pid() const { return pid_; }
  bool in_slot_network() const { return in_slot_network_; }

 private:
  spawner(pid_t pid, int channel, bool in_slot_network)
      : pid_(pid), channel_(channel), in_slot_network_(in_slot_network) {}
  pid_t pid_;
  int channel_;
  bool in_slot_network_;
  bool reaped_ = false;
};

}  // namespace aha::sandbox
