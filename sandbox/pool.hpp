// aha::sandbox::pool — N sandboxed runs at once (default: the core count), a bounded queue with
// backpressure, and a callback, future or blocking call per run. Thread-safe. Each worker owns a
// slot (its own host uid). Cleanup when the owner dies: every run's init has PDEATHSIG=SIGKILL
// tied to its worker thread, so killing the process kills every run's whole pid namespace; the
// scratch tmpfs dies with the mount namespace; empty cgroups are swept by the next executor.
//
//   auto p = aha::sandbox::pool::create(aha::sandbox::sandbox_config{});
//   p.value()->submit(request, [](protocol::sandbox_reply r) { ... });  // on a worker thread
//   protocol::sandbox_reply r = p.value()->run(request);                 // blocking one-off
#pragma once

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
