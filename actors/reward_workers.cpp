// Built-in reward functions (wired to rewards/ and sandbox/) and the reward worker actor.
#include "actors/reward_workers.hpp"

#include <algorithm>
#include <thread>

#include <nlohmann/json.hpp>

#include "actors/tasks/countdown.hpp"
#include "core/fault_point.hpp"
#include "rewards/code_reward.hpp"
#include "rewards/format_reward.hpp"
#include "rewards/math_verifier.hpp"
#include "sandbox/batcher.hpp"
#include "sandbox/pool.hpp"

namespace aha::actors {
namespace {

protocol::reward_component component(float value, protocol::verdict_status status, std::string detail) {
  protocol::reward_component c;
  c.value = value;
  c.status = status;
  c.detail = std::move(detail);
  return c;
}

// The program in a code completion: the last fenced block (its language tag line skipped),
// else the <answer> text, else the whole completion.
std::string extract_program(const std::string& completion) {
  auto close = completion.rfind("```");
  if (close != std::string::npos && close > 0) {
    auto open = completion.rfind("```", close - 1);
    if (open != std::string::npos) {
      auto body = open + 3;
      auto newline = completion.find('\n', body);
      if (newline != std::string::npos && newline < close) body = newline + 1;
      return completion.substr(body, close - body);
    }
  }
  auto answer = tasks::tagged_answer(completion);
  return answer.empty() ? completion : answer;
}

reward_fn math_accuracy(std::chrono::milliseconds extra_latency) {
  return [extra_latency](const protocol::prompt& p, const protocol::rollout& r) {
    if (extra_latency.count() > 0) std::this_thread::sleep_for(extra_latency);
    auto verdict = rewards::verify_math(p.gold, r.completion_text);
    return component(verdict.correct ? 1.0f : 0.0f, protocol::verdict_status::ok,
                     verdict.extracted + " (" + verdict.reason + ")");
  };
}

reward_fn code_accuracy(std::shared_ptr<sandbox::pool> pool, std::chrono::milliseconds extra_latency) {
  return [pool, extra_latency](const protocol::prompt& p, const protocol::rollout& r) {
    if (extra_latency.count() > 0) std::this_thread::sleep_for(extra_latency);
    auto record = nlohmann::json::parse(p.tests, nullptr, false);
    if (record.is_discarded() || !record.is_object()) {
      return component(0, protocol::verdict_status::error, "prompt tests are not a JSON object");
    }
    record["program"] = extract_program(r.completion_text);
    auto task = rewards::parse_code_task(record);
    if (!task) return component(0, protocol::verdict_status::error, task.error().message);
    auto verdict = rewards::grade_code(*task, *pool);
    auto status = verdict.status == protocol::run_status::sandbox_error ? protocol::verdict_status::error
                                                                        : protocol::verdict_status::ok;
    return component(verdict.passed ? 1.0f : 0.0f, status, protocol::to_string(verdict.status));
  };
}

// Countdown answers are data for a checker program, so concurrent checks share sandboxed runs.
reward_fn countdown_accuracy(std::shared_ptr<sandbox::batcher> checker, std::chrono::milliseconds extra_latency) {
  return [checker, extra_latency](const protocol::prompt& p, const protocol::rollout& r) {
    if (extra_latency.count() > 0) std::this_thread::sleep_for(extra_latency);
    auto puzzle = tasks::parse_countdown(p.tests);
    if (!puzzle) return component(0, protocol::verdict_status::error, puzzle.error().message);
    auto expression = tasks::tagged_answer(r.completion_text);
    if (expression.empty()) return component(0, protocol::verdict_status::ok, "no <answer>");
    if (expression.size() > 64) return component(0, protocol::verdict_status::ok, "answer longer than 64 characters");
    auto line = checker->check(tasks::countdown_item(*puzzle, expression));
    if (!line) return component(0, protocol::verdict_status::error, "countdown checker: " + line.error().message);
    bool correct = tasks::countdown_judge(*puzzle, *line);
    return component(correct ? 1.0f : 0.0f, protocol::verdict_status::ok, expression + " -> " + line->substr(0, 40));
  };
}

// The batcher that runs countdown checks: the checker program with the limits of one run.
std::shared_ptr<sandbox::batcher> countdown_checker(std::shared_ptr<sandbox::pool> pool) {
  sandbox::batcher_config config;
  config.request.language = "python";
  config.request.source = tasks::countdown_checker_program();
  config.request.cpu_ms = 2000;
  config.request.wall_ms = 5000;
  return std::make_shared<sandbox::batcher>(std::move(pool), std::move(config));
}

reward_spec make_spec(std::string name, protocol::reward_kind kind, float weight, std::chrono::milliseconds deadline,
                      std::vector<std::string> tasks, std::string pool, reward_fn fn) {
  return reward_spec{std::move(name), kind, weight, deadline, std::move(tasks), std::move(pool), std::move(fn)};
}

}  // namespace

bool reward_spec::applies_to(const std::string& task) const {
  return tasks.empty() || std::find(tasks.begin(), tasks.end(), task) != tasks.end();
}

// Stands in for a sandboxed reward when there is no sandbox: an error verdict that says why.
static reward_fn unavailable(std::string why) {
  return [why](const protocol::prompt&, const protocol::rollout&) {
    return component(0, protocol::verdict_status::error, "sandbox unavailable: " + why);
  };
}

result<std::vector<reward_spec>> make_builtin_rewards(const reward_config& config, std::shared_ptr<sandbox::pool> sandbox,
                                                      std::string sandbox_problem) {
  using protocol::reward_kind;
  if (config.format_mode != "strict" && config.format_mode != "lenient") {
    return make_error(errc::invalid_argument, "grader: format_mode '" + config.format_mode + "' (valid: strict, lenient)");
  }
  std::vector<reward_spec> specs;
  if (config.accuracy_weight > 0) {
    specs.push_back(make_spec("accuracy.math", reward_kind::accuracy, config.accuracy_weight, config.math_deadline,
                              {"math", "arithmetic", "addition"}, "cpu", math_accuracy(config.extra_latency)));
    specs.push_back(make_spec("accuracy.code", reward_kind::accuracy, config.accuracy_weight, config.code_deadline,
                              {"code"}, "sandbox",
                              sandbox ? code_accuracy(sandbox, config.extra_latency) : unavailable(sandbox_problem)));
    specs.push_back(make_spec("accuracy.countdown", reward_kind::accuracy, config.accuracy_weight, config.code_deadline,
                              {"countdown"}, "checker",
                              sandbox ? countdown_accuracy(countdown_checker(sandbox), config.extra_latency)
                                      : unavailable(sandbox_problem)));
  }
  if (config.format_weight > 0) {
    auto mode = config.format_mode == "strict" ? rewards::format_mode::strict : rewards::format_mode::lenient;
    specs.push_back(make_spec("format", reward_kind::format, config.format_weight, config.cheap_deadline, {}, "cpu",
                              [mode](const protocol::prompt&, const protocol::rollout& r) {
                                float v = rewards::format_reward(r.completion_text, mode);
                                return component(v, protocol::verdict_status::ok, "");
                              }));
  }
  if (config.language_weight > 0) {
    specs.push_back(make_spec("language", reward_kind::language, config.language_weight, config.cheap_deadline, {}, "cpu",
                              [](const protocol::prompt& p, const protocol::rollout& r) {
                                float v = rewards::language_consistency(r.completion_text, p.language.empty() ? "en" : p.language);
                                return component(v, protocol::verdict_status::ok, "");
                              }));
  }
  return specs;
}

namespace {

struct reward_worker_state {
  static inline const char* name = "reward_worker";  // tests find workers by this name
};

reward_worker_actor::behavior_type reward_worker(reward_worker_actor::stateful_pointer<reward_worker_state> self,
                                                 std::shared_ptr<const std::vector<reward_spec>> specs) {
  return {
      [specs](work_atom, std::uint32_t index, const protocol::prompt& p, const protocol::rollout& r) {
        AHA_FAULT_POINT("reward_worker.crash");  // tests: a throwing action kills this worker
        if (index >= specs->size()) return component(0, protocol::verdict_status::error, "no reward spec " + std::to_string(index));
        try {
          return (*specs)[index].fn(p, r);
        } catch (const std::exception& e) {
          return component(0, protocol::verdict_status::error, std::string("reward threw: ") + e.what());
        }
      },
  };
}

}  // namespace

std::vector<reward_spec> bounded_by_deadlines(std::vector<reward_spec> specs) {
  for (auto& spec : specs) {
    spec.fn = [fn = std::move(spec.fn), deadline = spec.deadline](const protocol::prompt& p, const protocol::rollout& r) {
      sandbox::deadline_scope scope(std::chrono::steady_clock::now() + deadline);
      return fn(p, r);
    };
  }
  return specs;
}

reward_worker_actor spawn_reward_worker(caf::actor_system& sys, std::shared_ptr<const std::vector<reward_spec>> specs,
                                        threading mode) {
  if (mode == threading::detached) return sys.spawn<caf::detached>(reward_worker, std::move(specs));
  return sys.spawn(reward_worker, std::move(specs));
}

}  // namespace aha::actors
