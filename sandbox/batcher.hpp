// aha::sandbox::batcher — many small checks, one sandboxed run. A checker program that reads
// one item per stdin line and prints one result line per item is started once for every batch
// of concurrent calls instead of once per call: an interpreter's start-up (Python: 15-30 ms,
// more than the checks themselves) is paid once per batch. Only for checkers whose items are
// DATA (an expression parsed by the checker, never executed): items of one batch share a
// process, so they must not be able to affect each other. Untrusted programs get a run each.
//
// Callers block in check(); the first caller of an empty batch leads it: it waits up to
// `linger` for more items (or until `max_items`), runs the program, and hands every caller its
// line. Batches run concurrently, bounded by the pool's workers. Thread-safe.
//
//   batcher b(pool, {program_source, /*max_items*/ 64, /*linger*/ 2ms});
//   result<std::string> line = b.check("3 5 7 3*5+7");   // the program's line for this item
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>

#include "core/result.hpp"
#include "protocol/messages.hpp"

namespace aha::sandbox {

class pool;

struct batcher_config {
  protocol::sandbox_request request;         // the program (source, language, limits); stdin is filled per batch
  std::size_t max_items = 64;                 // items per run at most
  std::chrono::milliseconds linger{2};        // how long a batch's leader waits for company
};

class batcher {
 public:
  batcher(std::shared_ptr<pool> runner, batcher_config config);
  batcher(const batcher&) = delete;
  batcher& operator=(const batcher&) = delete;

  // Checks one item (one line: must not contain '\n'). Returns the program's output line for it
  // (without the newline), or an error when the run failed as a whole (limits, sandbox problem)
  // or printed fewer lines than it got items.
  result<std::string> check(const std::string& item);

  std::size_t runs() const;   // sandboxed runs so far (for tests and statistics)
  std::size_t items() const;  // items checked so far

 private:
  struct batch;
  void run(batch& b);

  std::shared_ptr<pool> pool_;
  batcher_config config_;
  mutable std::mutex mutex_;
  std::condition_variable full_;    // wakes a leader whose batch filled up
  std::shared_ptr<batch> open_;     // the batch new items join; null when none is gathering
  std::size_t runs_ = 0;
  std::size_t items_ = 0;
};

}  // namespace aha::sandbox
