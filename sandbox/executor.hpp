// aha::sandbox::executor — runs one untrusted program under full isolation and returns its
// verdict. Thread-safe: run() may be called from many threads at once (each with its own slot).
// How a run is isolated is written in sandbox/README.md (the threat model); the child's side is
// sandbox/jail.cpp, the parent's (spawn, limits, verdict) is executor.cpp. With
// sandbox_config::warm, Python runs fork from a warm interpreter per slot into namespaces built
// the same way, held by a process the slot's spawner clones (sandbox/warm.hpp,
// sandbox/spawner.hpp; README "Warm runs").
//
//   auto ex = aha::sandbox::executor::create({});
//   protocol::sandbox_request req; req.source = "print(input())"; req.stdin_data = "hi\n";
//   protocol::sandbox_reply rep = ex->run(req);   // rep.status == run_status::ok, stdout "hi\n"
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "protocol/messages.hpp"
#include "sandbox/cgroup.hpp"
#include "sandbox/jail.hpp"
#include "sandbox/language.hpp"
#include "sandbox/warm.hpp"
#include "sandbox/sandbox_config.hpp"
#include "sandbox/spawner.hpp"
#include "sandbox/seccomp_filter.hpp"
#include "sandbox/uid_lease.hpp"

namespace aha::sandbox {

// The limits a request gets: its non-zero fields over the configured defaults, then each capped
// by the operator's maxima (config.max_*). `clamped`, when given, says whether the request asked
// for more than a maximum allows.
run_limits effective_limits(const sandbox_config& config, const protocol::sandbox_request& request,
                            bool* clamped = nullptr);

// Ends a run early from outside, whatever its own limits: at `kill_at` (when set), or within
// ~10 ms of `*cancelled` turning true. Such a run is killed (every process of it gone before run()
// returns) and answered with SANDBOX_ERROR "cancelled: ...": its verdict says nothing about the
// program. A run whose stop already applies when run() is called is not started.
struct run_stop {
  std::chrono::steady_clock::time_point kill_at{};
  const std::atomic<bool>* cancelled = nullptr;
};

class executor {
 public:
  // Builds the seccomp program, finds the cgroups and leases a block of host uids (uid_lease.hpp)
  // for the executor's lifetime; fails when not running as root or no block is free.
  static result<std::shared_ptr<executor>> create(const sandbox_config& config);

  // One isolated run. `slot` (< 65535) picks the host uid (host_uids().slot_uid(slot)); give
  // concurrent runs different slots. Never throws; problems of the sandbox itself come back as
  // run_status::sandbox_error with `error` set.
  protocol::sandbox_reply run(const protocol::sandbox_request& request, std::uint32_t slot = 0,
                              const run_stop& stop = {}) const;

  // Optional speed-up for a thread that will only ever run `slot` (pool workers call it once):
  // 1. moves the calling thread into that slot's own empty network namespace (only a down
  //    loopback; owned by the host, so runs cannot change it), which its runs then share instead
  //    of creating one each (~2-3 ms); runs of one slot never overlap, so they cannot talk there;
  // 2. (cgroup v1) makes the thread a member of the slot's cgroup, so its runs are born inside
  //    and skip the migration, which waits for an RCU grace period (4-15 ms when idle).
  // Never call it on a thread that needs the network.
  status adopt_thread(std::uint32_t slot) const;
  ~executor();

  const sandbox_config& config() const { return config_; }
  // Runs whose request asked for more than the operator's maxima, and so were clamped.
  std::uint64_t clamped_runs() const { return clamped_runs_.load(); }
  const cgroup_layout& cgroups() const { return cgroups_; }
  const uid_lease& host_uids() const { return lease_; }
  // Warm runs (config().warm): runs answered by the warm path, runs it handed to the cold path
  // (a warm setup step failed, or the interpreter died twice), and interpreters started.
  std::uint64_t warm_runs() const { return warm_runs_.load(); }
  std::uint64_t warm_fallbacks() const { return warm_fallbacks_.load(); }
  std::uint64_t zygotes_started() const { return zygotes_started_.load(); }
  // The pid of slot's warm interpreter, or 0 (tests kill it).
  pid_t warm_zygote(std::uint32_t slot) const;
  // Spawners (sandbox/spawner.hpp): the executable in use ("" when warm runs clone their holders
  // from aha), spawners started, holders they cloned, the slot's spawner pid (or 0; tests kill
  // it), and warm runs run again warm because a process of aha's side (interpreter, spawner,
  // holder) died under them.
  const std::string& spawner_path() const { return spawner_path_; }
  bool spawner_broken() const { return spawner_broken_.load(); }
  std::uint64_t spawners_started() const { return spawners_started_.load(); }
  std::uint64_t spawner_clones() const { return spawner_clones_.load(); }
  pid_t warm_spawner(std::uint32_t slot) const;
  std::uint64_t warm_retries() const { return warm_retries_.load(); }
  // Where answered warm runs spent their time, summed (clock_gettime stamps; `aha bench sandbox`
  // prints the means): run() entry to the holder's clone (limits, cgroup, pipes, plan), the
  // clone, the hand-over (interpreter, id maps, release), release to the helper's status record
  // (root building, entering, the program), and the record to the answer (killing the holder, the
  // group empty, output); `reap_ns` is the part of the answer spent waiting for the holder's
  // teardown, which only holders cloned by aha itself need; `teardowns_deferred` counts runs of
  // the spawner that left files in their tmpfs mounts (charged to the slot's group until the
  // holder is gone), and `teardown_wait_ns` is what the slot's next runs waited for those.
  struct warm_phases {
    std::uint64_t runs = 0, prepare_ns = 0, clone_ns = 0, release_ns = 0, program_ns = 0, answer_ns = 0, reap_ns = 0;
    std::uint64_t teardowns_deferred = 0, teardown_wait_ns = 0;
  };
  warm_phases warm_phase_totals() const;

 private:
  executor(sandbox_config config, seccomp_program filter, cgroup_layout cgroups, uid_lease lease);
  sandbox_config config_;
  uid_lease lease_;
  seccomp_program filter_;
  sock_fprog filter_view_;
  cgroup_layout cgroups_;
  std::vector<mount_step> system_steps_;  // the read-only host view, resolved once
  mutable std::atomic<std::uint64_t> clamped_runs_{0};
  mutable std::atomic<std::uint64_t> warm_runs_{0}, warm_fallbacks_{0}, zygotes_started_{0};
  mutable std::atomic<std::uint64_t> spawners_started_{0}, spawner_clones_{0}, warm_retries_{0};
  mutable std::mutex phases_mutex_;
  mutable warm_phases phases_;
  // v1: one cgroup per slot, kept between runs (creating and removing one costs ~1.5 ms).
  result<std::unique_ptr<run_cgroup>> take_cgroup(std::uint32_t slot, const run_limits& limits) const;
  void return_cgroup(std::uint32_t slot, std::unique_ptr<run_cgroup> group) const;
  status join_slot_network(std::uint32_t slot) const;
  mutable std::mutex slot_mutex_;
  mutable std::unordered_map<std::uint32_t, int> slot_netns_;  // fds of /proc/.../ns/net
  mutable std::unordered_map<std::uint32_t, std::unique_ptr<run_cgroup>> slot_cgroups_;
  // Warm runs (warm.hpp): one interpreter per slot, taken out while a run of the slot uses it.
  protocol::sandbox_reply run_cold(const protocol::sandbox_request& request, std::uint32_t slot,
                                   const run_stop& stop, const run_limits& limits, const language& lang,
                                   run_cgroup* group) const;
  std::optional<protocol::sandbox_reply> run_warm(const protocol::sandbox_request& request, std::uint32_t slot,
                                                  const run_stop& stop, const run_limits& limits,
                                                  const language& lang, run_cgroup* group,
                                                  std::chrono::steady_clock::time_point entered,
                                                  bool& again) const;
  std::unique_ptr<zygote> take_zygote(std::uint32_t slot, run_cgroup* group) const;
  void return_zygote(std::uint32_t slot, std::unique_ptr<zygote> z) const;
  std::vector<std::string> home_cgroups_;  // cgroup.procs of aha's own groups (v1)
  mutable std::unordered_map<std::uint32_t, std::unique_ptr<zygote>> zygotes_;
  // A slot's spawner, taken out while a run of the slot uses it.
  std::unique_ptr<spawner> take_spawner(std::uint32_t slot) const;
  mutable std::atomic<bool> spawner_broken_{false};  // one would not start: clone from aha
  void return_spawner(std::uint32_t slot, std::unique_ptr<spawner> s) const;
  std::string spawner_path_;
  // A holder of the spawner is answered before its teardown; the slot's next run waits for it.
  void defer_teardown(std::uint32_t slot, int pidfd) const;
  void await_teardown(std::uint32_t slot) const;
  mutable std::unordered_map<std::uint32_t, int> teardowns_;  // slot -> the last holder's pidfd
  mutable std::unordered_map<std::uint32_t, std::unique_ptr<spawner>> spawners_;
};

}  // namespace aha::sandbox
