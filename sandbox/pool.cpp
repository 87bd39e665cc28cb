// The sandbox worker pool (see pool.hpp).
#include "sandbox/pool.hpp"

#include <algorithm>

namespace aha::sandbox {

result<std::unique_ptr<pool>> pool::create(const sandbox_config& config) {
  auto runner = executor::create(config);
  if (!runner) return runner.error();
  std::size_t workers = config.workers ? config.workers : std::max(1u, std::thread::hardware_concurrency());
  return std::make_unique<pool>(*runner, workers, config.queue_capacity);
}

pool::pool(std::shared_ptr<const executor> runner, std::size_t workers, std::size_t queue_capacity)
    : runner_(std::move(runner)), capacity_(std::max<std::size_t>(1, queue_capacity)) {
  workers = std::clamp<std::size_t>(workers, 1, 65535);
  for (std::size_t slot = 0; slot < workers; ++slot) {
    threads_.emplace_back([this, slot] { work(static_cast<std::uint32_t>(slot)); });
  }
}

pool::~pool() {
  std::deque<job> abandoned;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
    abandoned.swap(queue_);
  }
  has_job_.notify_all();
  has_room_.notify_all();
  for (auto& t : threads_) t.join();
  for (auto& j : abandoned) {
    protocol::sandbox_reply reply;
    reply.request_id = j.request.request_id;
    reply.error = "pool stopped before the run started";
    j.done(std::move(reply));
  }
}

bool pool::enqueue(job&& j, bool wait_for_room) {
  {
    std::unique_lock<std::mutex> lock(mutex_);
    if (wait_for_room) has_room_.wait(lock, [&] { return stopping_ || queue_.size() < capacity_; });
    if (stopping_ || queue_.size() >= capacity_) return false;
    queue_.push_back(std::move(j));
  }
  has_job_.notify_one();
  return true;
}

bool pool::submit(protocol::sandbox_request request, callback done, time_point start_by) {
  return enqueue(job{std::move(request), std::move(done), start_by}, true);
}

bool pool::try_submit(protocol::sandbox_request request, callback done, time_point start_by) {
  return enqueue(job{std::move(request), std::move(done), start_by}, false);
}

std::future<protocol::sandbox_reply> pool::submit(protocol::sandbox_request request) {
  auto promise = std::make_shared<std::promise<protocol::sandbox_reply>>();
  auto future = promise->get_future();
  std::uint64_t id = request.request_id;
  if (!submit(std::move(request), [promise](protocol::sandbox_reply r) { promise->set_value(std::move(r)); })) {
    protocol::sandbox_reply refused;
    refused.request_id = id;
    refused.error = "pool stopped";
    promise->set_value(std::move(refused));
  }
  return future;
}

protocol::sandbox_reply pool::run(const protocol::sandbox_request& request) { return submit(request).get(); }

std::size_t pool::queued() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.size();
}

void pool::work(std::uint32_t slot) {
  runner_->adopt_thread(slot);  // best effort: without it each run makes its own network namespace
  while (true) {
    job next;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      has_job_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      next = std::move(queue_.front());
      queue_.pop_front();
    }
    has_room_.notify_one();
    if (next.start_by != time_point{} && std::chrono::steady_clock::now() > next.start_by) {
      protocol::sandbox_reply late;
      late.request_id = next.request.request_id;
      late.error = "deadline passed before the run started";
      next.done(std::move(late));
      continue;
    }
    next.done(runner_->run(next.request, slot));
  }
}

}  // namespace aha::sandbox
