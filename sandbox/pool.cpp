// The sandbox worker pool (see pool.hpp).
#include "sandbox/pool.hpp"

#include <algorithm>

namespace aha::sandbox {
namespace {

thread_local deadline_scope::time_point t_kill_at{};

// The earlier of two deadlines, where time_point{} means none.
deadline_scope::time_point earliest(deadline_scope::time_point a, deadline_scope::time_point b) {
  if (a == deadline_scope::time_point{}) return b;
  if (b == deadline_scope::time_point{}) return a;
  return std::min(a, b);
}

protocol::sandbox_reply not_run(const protocol::sandbox_request& request, std::string why) {
  protocol::sandbox_reply reply;
  reply.request_id = request.request_id;
  reply.error = std::move(why);
  return reply;
}

}  // namespace

deadline_scope::deadline_scope(time_point kill_at) : previous_(t_kill_at) { t_kill_at = kill_at; }
deadline_scope::~deadline_scope() { t_kill_at = previous_; }
deadline_scope::time_point deadline_scope::current() { return t_kill_at; }

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
  j.kill_at = earliest(j.kill_at, t_kill_at);
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

ticket pool::submit_cancellable(protocol::sandbox_request request, callback done, time_point kill_at) {
  ticket handle;
  auto flag = std::make_shared<std::atomic<bool>>(false);
  if (enqueue(job{std::move(request), std::move(done), {}, kill_at, flag}, true)) handle.flag_ = std::move(flag);
  return handle;
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
    const auto now = std::chrono::steady_clock::now();
    if (next.start_by != time_point{} && now > next.start_by) {
      next.done(not_run(next.request, "deadline passed before the run started"));
      continue;
    }
    if (next.cancel && next.cancel->load()) {
      next.done(not_run(next.request, "cancelled by the caller"));
      continue;
    }
    if (next.kill_at != time_point{} && now >= next.kill_at) {
      next.done(not_run(next.request, "cancelled: the caller's deadline passed before the run started"));
      continue;
    }
    next.done(runner_->run(next.request, slot, run_stop{next.kill_at, next.cancel.get()}));
  }
}

}  // namespace aha::sandbox
