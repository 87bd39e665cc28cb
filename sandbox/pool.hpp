// aha::sandbox::pool — N sandboxed runs at once (default: the core count), a bounded queue with
// backpressure, and a callback, future or blocking call per run. Thread-safe. Each worker owns a
// slot (its own host uid). Cleanup when the owner dies: every run's init has PDEATHSIG=SIGKILL
// tied to its worker thread, so killing the process kills every run's whole pid namespace; the
// scratch tmpfs dies with the mount namespace; empty cgroups are swept by the next executor.
//
//   auto p = aha::sandbox::pool::create(aha::sandbox::sandbox_config{});
//   p.value()->submit(request, [](protocol::sandbox_reply r) { ... });  // on a worker thread
//   protocol::sandbox_reply r = p.value()->run(request);                 // blocking one-off
//   auto t = p.value()->submit_cancellable(request, done);  t.cancel();  // kills it, frees its slot
//   { aha::sandbox::deadline_scope d(now + 2s); ...submit... }  // runs killed at d's deadline
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "sandbox/executor.hpp"

namespace aha::sandbox {

// While one lives, every run this thread submits to any pool (submit, try_submit, run,
// submit_cancellable) is killed at `kill_at` if still running then, and not started if still
// queued: its slot is free again at the deadline instead of when the run's own wall limit ends.
// Its callback gets SANDBOX_ERROR "cancelled: the caller's deadline passed". The grader wraps each
// reward call in one at the reward's deadline (actors/grader.cpp). Scopes nest: the inner one
// replaces the outer until it ends; `deadline_scope({})` lifts the deadline (the batcher, whose
// runs serve other callers too).
class deadline_scope {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  explicit deadline_scope(time_point kill_at);
  ~deadline_scope();
  deadline_scope(const deadline_scope&) = delete;
  deadline_scope& operator=(const deadline_scope&) = delete;
  static time_point current();  // this thread's deadline; time_point{} = none

 private:
  time_point previous_;
};

// A handle on one run from pool::submit_cancellable. cancel() stops it: a running run is killed
// (within ~10 ms; its slot is free once its processes are gone), a queued one is not started;
// either way its callback is called once, with SANDBOX_ERROR "cancelled by the caller". Copyable,
// thread-safe, and harmless after the run ended.
class ticket {
 public:
  void cancel() const {
    if (flag_) flag_->store(true);
  }
  bool accepted() const { return flag_ != nullptr; }  // false: the pool was stopping, no callback

 private:
  friend class pool;
  std::shared_ptr<std::atomic<bool>> flag_;
};

class pool {
 public:
  using callback = std::function<void(protocol::sandbox_reply)>;

  static result<std::unique_ptr<pool>> create(const sandbox_config& config);
  pool(std::shared_ptr<const executor> runner, std::size_t workers, std::size_t queue_capacity);
  // Lets running programs finish; queued requests are answered with SANDBOX_ERROR "pool stopped".
  ~pool();
  pool(const pool&) = delete;
  pool& operator=(const pool&) = delete;

  // Queues a run; blocks while the queue is full. The callback runs on a worker thread and must
  // not block for long. Returns false (callback not called) once the pool is stopping.
  // A run still queued at `start_by` (when set) is not started: it is answered with
  // SANDBOX_ERROR "deadline passed before the run started".
  using time_point = std::chrono::steady_clock::time_point;
  bool submit(protocol::sandbox_request request, callback done, time_point start_by = {});
  // Like submit, but returns false at once when the queue is full.
  bool try_submit(protocol::sandbox_request request, callback done, time_point start_by = {});
  std::future<protocol::sandbox_reply> submit(protocol::sandbox_request request);
  // Like submit, returning a ticket that can cancel the run; killed at `kill_at` too (when set,
  // or at this thread's deadline_scope, whichever is earlier).
  ticket submit_cancellable(protocol::sandbox_request request, callback done, time_point kill_at = {});
  // Blocking one-off through the pool (waits for a free worker).
  protocol::sandbox_reply run(const protocol::sandbox_request& request);

  std::size_t workers() const { return threads_.size(); }
  std::size_t queued() const;
  const executor& runner() const { return *runner_; }

 private:
  struct job {
    protocol::sandbox_request request;
    callback done;
    time_point start_by;
    time_point kill_at;                         // set by deadline_scope or submit_cancellable
    std::shared_ptr<std::atomic<bool>> cancel;  // a ticket's flag, or null
  };
  bool enqueue(job&& j, bool wait_for_room);
  void work(std::uint32_t slot);

  std::shared_ptr<const executor> runner_;
  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::condition_variable has_job_, has_room_;
  std::deque<job> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace aha::sandbox
