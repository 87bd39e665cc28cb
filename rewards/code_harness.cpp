// The three-run assert-style grade (see code_harness.hpp).
#include "rewards/code_harness.hpp"

#include <condition_variable>
#include <deque>
#include <iterator>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

namespace aha::rewards::harness {

// Generated from rewards/code_harness/*.py (rewards/CMakeLists.txt).
extern const char* const kCodecPy;
extern const char* const kJudgePy;
extern const char* const kRunPy;

namespace {

using protocol::run_status;

// The trusted runs hold only the tests and the grader's code, so they get their own, looser
// bounds (the tests may loop over many cases); the solution's run gets the task's limits.
constexpr std::uint32_t kTrustedCpuMs = 10000;
constexpr std::uint32_t kTrustedWallMs = 20000;
// The split's plan/record and the solution's report are data, and may be larger than a program's
// usual output.
constexpr std::uint64_t kReportBytes = 16ull << 20;

std::string tail(const std::string& text, std::size_t n = 400) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

std::string problem(const protocol::sandbox_reply& reply) {
  std::string what = protocol::to_string(reply.status);
  if (!reply.error.empty()) return what + ": " + reply.error;
  return reply.stderr_data.empty() ? what : what + ": " + tail(reply.stderr_data);
}

// Runs submissions on behalf of pool callbacks: a callback that blocked in submit() on a full
// queue would hold its worker, and with every worker waiting there nothing would drain the queue.
// One thread for the process; it blocks only where a caller of submit() would (backpressure).
class relay {
 public:
  static relay& instance() {
    static relay r;
    return r;
  }
  void post(std::function<void()> task) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      tasks_.push_back(std::move(task));
    }
    wake_.notify_one();
  }
  ~relay() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }

 private:
  relay() : thread_([this] { loop(); }) {}
  void loop() {
    while (true) {
      std::function<void()> next;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
        if (tasks_.empty()) return;
        next = std::move(tasks_.front());
        tasks_.pop_front();
      }
      next();
    }
  }
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::thread thread_;  // last: it starts once the members above exist
};

struct split_result {
  std::string plan;    // AHA-PLAN: for the solution's run
  std::string record;  // AHA-RECORD: for the judge only
};

// One grade in flight: the task, what the runs so far cost, and the split it uses.
struct chain {
  code_task task;
  sandbox::pool* pool = nullptr;
  std::function<void(code_verdict)> done;
  code_verdict verdict;
  std::shared_ptr<const split_result> split;
};
using chain_ptr = std::shared_ptr<chain>;
using next_step = void (*)(chain_ptr, protocol::sandbox_reply);

// The split depends on the tests alone (never on a program), so it is kept per test code: GRPO
// grades a group of completions against the same tests, usually all at once, so grades that
// arrive while a split runs wait for it instead of running their own. Bounded by bytes (emptied
// when full); a failed split is not kept.
class split_cache {
 public:
  enum class role { ready, lead, wait };
  static split_cache& instance() {
    static split_cache cache;
    return cache;
  }
  // ready: c->split is set; lead: c must run the split and call settle(); wait: settle() will.
  role join(const chain_ptr& c) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto [it, fresh] = entries_.try_emplace(c->task.test_code);
    if (fresh) return role::lead;
    if (it->second.result) return c->split = it->second.result, role::ready;
    it->second.waiting.push_back(c);
    return role::wait;
  }
  // The split for `tests` ended (null: it failed); returns the grades that waited for it.
  std::vector<chain_ptr> settle(const std::string& tests, std::shared_ptr<const split_result> result) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(tests);
    if (it == entries_.end()) return {};
    auto waiting = std::move(it->second.waiting);
    if (!result) {
      entries_.erase(it);
      return waiting;
    }
    std::size_t bytes = tests.size() + result->plan.size() + result->record.size();
    for (auto& w : waiting) w->split = result;
    if (bytes_ + bytes > kMaxBytes) {  // forget the finished entries; keep splits still running
      for (auto e = entries_.begin(); e != entries_.end();) e = e->second.result ? entries_.erase(e) : std::next(e);
      bytes_ = 0;
      it = entries_.find(tests);
    }
    it->second.result = std::move(result);
    bytes_ += bytes;
    return waiting;
  }

 private:
  struct entry {
    std::shared_ptr<const split_result> result;  // null while the split runs
    std::vector<chain_ptr> waiting;
  };
  static constexpr std::size_t kMaxBytes = 64u << 20;
  std::mutex mutex_;
  std::unordered_map<std::string, entry> entries_;
  std::size_t bytes_ = 0;
};

void finish(const chain_ptr& c, run_status status, std::string detail) {
  c->verdict.status = status;
  c->verdict.passed = status == run_status::ok;
  c->verdict.passed_tests = c->verdict.passed ? 1 : 0;
  c->verdict.detail = std::move(detail);
  c->done(std::move(c->verdict));
}

void account(const chain_ptr& c, const protocol::sandbox_reply& reply) {
  c->verdict.cpu_ms += reply.cpu_ms;
  c->verdict.wall_ms += reply.wall_ms;  // the runs follow one another
}

protocol::sandbox_request trusted_request(std::string stdin_data) {
  protocol::sandbox_request request;
  request.language = "python";
  request.source = judge_program();
  request.stdin_data = std::move(stdin_data);
  request.cpu_ms = kTrustedCpuMs, request.wall_ms = kTrustedWallMs, request.output_bytes = kReportBytes;
  return request;
}

// `next` always runs: with the run's reply, or with a SANDBOX_ERROR one when the pool stops.
void submit(const chain_ptr& c, protocol::sandbox_request request, next_step next) {
  bool queued = c->pool->submit(std::move(request), [c, next](protocol::sandbox_reply reply) {
    account(c, reply);
    next(c, std::move(reply));
  });
  if (!queued) {
    protocol::sandbox_reply refused;
    refused.error = "the sandbox pool is stopping";
    next(c, std::move(refused));
  }
}

// From a pool callback: hand the submission to the relay thread.
void submit_later(const chain_ptr& c, protocol::sandbox_request request, next_step next) {
  auto shared = std::make_shared<protocol::sandbox_request>(std::move(request));
  relay::instance().post([c, shared, next] { submit(c, std::move(*shared), next); });
}

void after_judge(chain_ptr c, protocol::sandbox_reply reply) {
  auto line = marked_line(reply.stdout_data, "AHA-VERDICT");
  auto verdict = nlohmann::json::parse(line.value_or(""), nullptr, false);
  bool limit = reply.status == run_status::time_limit || reply.status == run_status::memory_limit ||
               reply.status == run_status::output_limit;
  if (limit) {  // the split ran these tests within the same limits: the solution's report did it
    return finish(c, reply.status, "judging the solution's results hit a limit: " + problem(reply));
  }
  if (reply.status != run_status::ok || !verdict.is_object() || !verdict.contains("kind") ||
      !verdict["kind"].is_string() || !verdict.contains("why") || !verdict["why"].is_string()) {
    return finish(c, run_status::sandbox_error, "the judge failed: " + problem(reply));
  }
  std::string kind = verdict["kind"].get<std::string>(), why = verdict["why"].get<std::string>();
  if (kind == "ok") return finish(c, run_status::ok, "");
  if (kind == "raised") return finish(c, run_status::runtime_error, why);
  if (kind == "unforeseen") return finish(c, run_status::sandbox_error, why);
  finish(c, run_status::wrong_answer, why);  // assert, unjudgeable, bad_data
}

void after_run(chain_ptr c, protocol::sandbox_reply reply) {
  if (reply.status != run_status::ok) {
    return finish(c, reply.status, reply.error.empty() ? tail(reply.stderr_data) : reply.error);
  }
  auto data = marked_line(reply.stdout_data, "AHA-DATA");
  if (!data) {
    return finish(c, run_status::wrong_answer,
                  "the solution's run ended before it reported its results: " + tail(reply.stderr_data));
  }
  auto judge = frame({"judge", c->task.test_code, c->task.program, c->split->record, *data});
  submit_later(c, trusted_request(std::move(judge)), after_judge);
}

protocol::sandbox_request run_request(const chain& c) {
  protocol::sandbox_request run;
  run.language = "python";
  run.source = run_program();
  run.stdin_data = frame({c.task.program, c.split->plan});
  run.cpu_ms = c.task.cpu_ms, run.wall_ms = c.task.wall_ms, run.memory_bytes = c.task.memory_bytes;
  run.output_bytes = kReportBytes;
  return run;
}

void after_split(chain_ptr c, protocol::sandbox_reply reply) {
  auto plan = marked_line(reply.stdout_data, "AHA-PLAN");
  auto record = marked_line(reply.stdout_data, "AHA-RECORD");
  bool ok = reply.status == run_status::ok && plan && record;
  std::shared_ptr<const split_result> split;
  if (ok) split = std::make_shared<const split_result>(split_result{std::move(*plan), std::move(*record)});
  auto waiting = split_cache::instance().settle(c->task.test_code, split);
  waiting.push_back(c);
  for (auto& w : waiting) {
    if (!ok) {
      finish(w, run_status::sandbox_error, "could not split the tests: " + problem(reply));
      continue;
    }
    w->split = split;
    submit_later(w, run_request(*w), after_run);
  }
}

}  // namespace

const std::string& judge_program() {
  static const std::string program = std::string(kCodecPy) + "\n" + kJudgePy;
  return program;
}

const std::string& run_program() {
  static const std::string program = std::string(kCodecPy) + "\n" + kRunPy;
  return program;
}

std::string frame(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (auto part : parts) out.append(std::to_string(part.size())).append("\n").append(part);
  return out;
}

std::optional<std::string> marked_line(const std::string& output, std::string_view marker) {
  std::string prefix = std::string(marker) + " ";
  std::size_t end = output.size();
  while (end > 0) {
    std::size_t start = output.rfind('\n', end - 1);
    start = start == std::string::npos ? 0 : start + 1;
    if (output.compare(start, prefix.size(), prefix) == 0 && end - start >= prefix.size()) {
      return output.substr(start + prefix.size(), end - start - prefix.size());
    }
    if (start == 0) break;
    end = start - 1;
  }
  return std::nullopt;
}

void grade_asserts_async(const code_task& task, sandbox::pool& pool, std::function<void(code_verdict)> done) {
  auto c = std::make_shared<chain>();
  c->task = task;
  c->pool = &pool;
  c->done = std::move(done);
  c->verdict.total_tests = 1;  // the test code is one test
  switch (split_cache::instance().join(c)) {
    case split_cache::role::ready:
      return submit(c, run_request(*c), after_run);
    case split_cache::role::lead:
      return submit(c, trusted_request(frame({"split", task.test_code})), after_split);
    case split_cache::role::wait:
      return;  // the running split's after_split goes on with it
  }
}

}  // namespace aha::rewards::harness
