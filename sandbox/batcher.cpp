// batcher: gathers concurrent items into one sandboxed run of a line-per-item checker.
#include "sandbox/batcher.hpp"

#include <vector>

#include "sandbox/pool.hpp"

namespace aha::sandbox {

struct batcher::batch {
  std::vector<std::string> items;
  bool done = false;
  std::vector<result<std::string>> out;  // one per item once done
  std::condition_variable finished;
};

batcher::batcher(std::shared_ptr<pool> runner, batcher_config config) : pool_(std::move(runner)), config_(std::move(config)) {
  if (config_.max_items == 0) config_.max_items = 1;
}

result<std::string> batcher::check(const std::string& item) {
  if (item.find('\n') != std::string::npos) return make_error(errc::invalid_argument, "batcher: an item must be one line");
  std::unique_lock<std::mutex> lock(mutex_);
  const bool leader = !open_;
  if (leader) open_ = std::make_shared<batch>();
  auto mine = open_;  // keeps the batch alive until this caller has read its line
  const std::size_t index = mine->items.size();
  mine->items.push_back(item);
  if (mine->items.size() >= config_.max_items) {
    open_.reset();  // full: the next item starts a new batch
    full_.notify_all();
  }
  if (leader) {
    full_.wait_for(lock, config_.linger, [&] { return mine->items.size() >= config_.max_items; });
    if (open_ == mine) open_.reset();
    lock.unlock();
    run(*mine);  // items is frozen now: nobody else can reach this batch
    lock.lock();
    mine->done = true;
    mine->finished.notify_all();
  } else {
    mine->finished.wait(lock, [&] { return mine->done; });
  }
  return std::move(mine->out[index]);
}

void batcher::run(batch& b) {
  auto request = config_.request;
  for (const auto& item : b.items) request.stdin_data += item + "\n";
  // The batch carries other callers' items too: one caller's deadline must not kill it.
  deadline_scope no_deadline({});
  auto reply = pool_->run(request);
  std::vector<std::string> lines;
  for (std::size_t start = 0; start < reply.stdout_data.size();) {
    auto end = reply.stdout_data.find('\n', start);
    if (end == std::string::npos) break;  // a cut-off last line is no answer
    lines.push_back(reply.stdout_data.substr(start, end - start));
    start = end + 1;
  }
  std::string failure;
  if (reply.status != protocol::run_status::ok) {
    failure = std::string("checker run ") + protocol::to_string(reply.status) + (reply.error.empty() ? "" : ": " + reply.error);
  }
  const auto code = reply.status == protocol::run_status::sandbox_error ? errc::unavailable : errc::corrupt_data;
  b.out.reserve(b.items.size());
  for (std::size_t i = 0; i < b.items.size(); ++i) {
    if (i < lines.size()) {
      b.out.emplace_back(lines[i]);
    } else {
      b.out.emplace_back(make_error(code, failure.empty() ? "checker printed " + std::to_string(lines.size()) +
                                                                          " lines for " + std::to_string(b.items.size()) +
                                                                          " items"
                                                                    : failure));
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  ++runs_;
  items_ += b.items.size();
}

std::size_t batcher::runs() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return runs_;
}

std::size_t batcher::items() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return items_;
}

}  // namespace aha::sandbox
