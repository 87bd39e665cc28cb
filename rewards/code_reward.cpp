// Code grading: stdin/stdout runs here, assert-style tests in code_harness.cpp (see code_reward.hpp).
#include "rewards/code_reward.hpp"

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <sstream>

#include "rewards/code_harness.hpp"

namespace aha::rewards {
namespace {

using protocol::run_status;

std::string collapse(const std::string& line) {
  std::istringstream words(line);
  std::string word, out;
  while (words >> word) out += (out.empty() ? "" : " ") + word;
  return out;
}

std::vector<std::string> normal_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(collapse(line));
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

std::string tail(const std::string& text, std::size_t n = 400) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

protocol::sandbox_request base_request(const code_task& task) {
  protocol::sandbox_request request;
  request.language = "python";
  request.cpu_ms = task.cpu_ms, request.wall_ms = task.wall_ms, request.memory_bytes = task.memory_bytes;
  return request;
}

// One run of the task, with the check that decides whether it passed.
struct planned_run {
  protocol::sandbox_request request;
  std::function<bool(const protocol::sandbox_reply&, std::string&)> check;
};

std::vector<planned_run> plan_runs(const code_task& task) {
  std::vector<planned_run> runs;
  for (const auto& test : task.tests) {
    planned_run run{base_request(task), nullptr};
    run.request.source = task.program;
    run.request.stdin_data = test.stdin_data;
    std::string expected = test.expected_stdout;
    run.check = [expected](const protocol::sandbox_reply& reply, std::string& why) {
      if (outputs_match(reply.stdout_data, expected)) return true;
      why = "expected " + tail(expected, 200) + " got " + tail(reply.stdout_data, 200);
      return false;
    };
    runs.push_back(std::move(run));
  }
  return runs;
}

// Gathers the runs' outcomes; the last one to finish reports the verdict.
struct grading {
  std::vector<planned_run> runs;
  std::vector<protocol::sandbox_reply> replies;
  std::atomic<std::size_t> remaining{0};
  std::function<void(code_verdict)> done;

  code_verdict verdict() const {
    code_verdict v;
    v.total_tests = static_cast<std::uint32_t>(runs.size());
    run_status first_failure = run_status::ok;
    for (std::size_t i = 0; i < runs.size(); ++i) {
      const auto& reply = replies[i];
      v.cpu_ms += reply.cpu_ms;
      v.wall_ms = std::max(v.wall_ms, reply.wall_ms);
      std::string why;
      bool ok = reply.status == run_status::ok && runs[i].check(reply, why);
      if (ok) ++v.passed_tests;
      if (ok || first_failure != run_status::ok) continue;
      first_failure = reply.status == run_status::ok ? run_status::wrong_answer : reply.status;
      v.detail = reply.status == run_status::ok ? why
                 : reply.error.empty() ? tail(reply.stderr_data) : reply.error;
    }
    v.passed = v.total_tests > 0 && v.passed_tests == v.total_tests;
    v.status = v.total_tests == 0 ? run_status::sandbox_error : first_failure;
    if (v.total_tests == 0) v.detail = "the task has no tests";
    return v;
  }
};

// The dataset spellings of assert-style tests: MBPP's "test_list" (assert lines, with optional
// "test_setup_code") and HumanEval's "test" (defines check) + "entry_point".
std::string dataset_test_code(const nlohmann::json& record) {
  std::string code;
  if (record.contains("test_list") && record["test_list"].is_array()) {
    if (record.contains("test_setup_code") && record["test_setup_code"].is_string()) {
      code += record["test_setup_code"].get<std::string>() + "\n";
    }
    for (const auto& line : record["test_list"]) {
      if (!line.is_string()) return {};
      code += line.get<std::string>() + "\n";
    }
    return record["test_list"].empty() ? std::string() : code;
  }
  if (record.contains("test") && record["test"].is_string() && record.contains("entry_point") &&
      record["entry_point"].is_string()) {
    return record["test"].get<std::string>() + "\ncheck(" + record["entry_point"].get<std::string>() + ")\n";
  }
  return {};
}

}  // namespace

bool outputs_match(const std::string& actual, const std::string& expected) {
  return normal_lines(actual) == normal_lines(expected);
}

void grade_code_async(const code_task& task, sandbox::pool& pool, std::function<void(code_verdict)> done) {
  if (task.tests.empty() && !task.test_code.empty()) return harness::grade_asserts_async(task, pool, std::move(done));
  auto state = std::make_shared<grading>();
  state->runs = plan_runs(task);
  state->replies.resize(state->runs.size());
  state->remaining = state->runs.size();
  state->done = std::move(done);
  if (state->runs.empty()) return state->done(state->verdict());
  for (std::size_t i = 0; i < state->runs.size(); ++i) {
    bool queued = pool.submit(state->runs[i].request, [state, i](protocol::sandbox_reply reply) {
      state->replies[i] = std::move(reply);
      if (--state->remaining == 0) state->done(state->verdict());
    });
    if (!queued) {
      state->replies[i].error = "the sandbox pool is stopping";
      if (--state->remaining == 0) state->done(state->verdict());
    }
  }
}

code_verdict grade_code(const code_task& task, sandbox::pool& pool) {
  auto promise = std::make_shared<std::promise<code_verdict>>();
  auto future = promise->get_future();
  grade_code_async(task, pool, [promise](code_verdict v) { promise->set_value(std::move(v)); });
  return future.get();
}

result<code_task> parse_code_task(const nlohmann::json& record) {
  if (!record.is_object()) return make_error(errc::invalid_argument, "a record must be a JSON object");
  if (!record.contains("program") || !record["program"].is_string()) {
    return make_error(errc::invalid_argument, "missing \"program\" (Python source as a string)");
  }
  code_task task;
  task.program = record["program"].get<std::string>();
  if (record.contains("tests")) {
    const auto& tests = record["tests"];
    if (!tests.is_array() || tests.empty()) return make_error(errc::invalid_argument, "\"tests\" must be a non-empty list");
    for (const auto& t : tests) {
      if (!t.is_object() || !t.contains("stdout") || !t["stdout"].is_string() ||
          (t.contains("stdin") && !t["stdin"].is_string())) {
        return make_error(errc::invalid_argument, "each test must be {\"stdin\": string, \"stdout\": string}");
      }
      task.tests.push_back({t.value("stdin", std::string()), t["stdout"].get<std::string>()});
    }
  } else if (record.contains("test_code") && record["test_code"].is_string()) {
    task.test_code = record["test_code"].get<std::string>();
  } else if (auto joined = dataset_test_code(record); !joined.empty()) {
    task.test_code = joined;
  } else {
    return make_error(errc::invalid_argument,
                      "needs \"tests\" (list of {stdin, stdout}), \"test_code\" (string), \"test_list\" (MBPP) "
                      "or \"test\" + \"entry_point\" (HumanEval)");
  }
  if (record.contains("time_limit") && record["time_limit"].is_number() && record["time_limit"].get<double>() > 0) {
    task.cpu_ms = static_cast<std::uint32_t>(std::min(3600.0, record["time_limit"].get<double>()) * 1000);
    task.wall_ms = task.cpu_ms * 2 + 1000;
  }
  if (record.contains("memory_limit") && record["memory_limit"].is_number_unsigned()) {
    task.memory_bytes = std::min<std::uint64_t>(record["memory_limit"].get<std::uint64_t>(), 1u << 20) << 20;
  }
  return task;
}

nlohmann::json to_json(const code_verdict& v) {
  return nlohmann::json{{"passed", v.passed},         {"status", protocol::to_string(v.status)},
                        {"passed_tests", v.passed_tests}, {"total_tests", v.total_tests},
                        {"cpu_ms", v.cpu_ms},         {"wall_ms", v.wall_ms},
                        {"detail", v.detail}};
}

}  // namespace aha::rewards
