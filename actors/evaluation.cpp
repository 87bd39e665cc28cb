// Held-out evaluation (actors/evaluation.hpp).
#include "actors/evaluation.hpp"

#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "actors/tasks/split.hpp"

#include "actors/generator.hpp"
#include "model/engine.hpp"

namespace aha::actors {
namespace {

const protocol::reward_component* component(const protocol::reward_verdict& v, protocol::reward_kind kind) {
  for (const auto& c : v.components) {
    if (c.kind == kind) return &c;
  }
  return nullptr;
}

const char* status_name(protocol::verdict_status s) {
  switch (s) {
    case protocol::verdict_status::ok: return "ok";
    case protocol::verdict_status::timeout: return "timeout";
    case protocol::verdict_status::error: return "error";
  }
  return "unknown";
}

const char* kind_name(protocol::reward_kind k) {
  static constexpr const char* kNames[] = {"accuracy", "format", "language", "length", "custom"};
  return kNames[static_cast<int>(k)];  // the codec rejects kinds past kLast
}

// One eval sample as a JSON line: enough to re-grade it and to audit the split from outside.
std::string sample_line(const protocol::prompt& p, const protocol::rollout& r, const protocol::reward_verdict& v) {
  const auto* accuracy = component(v, protocol::reward_kind::accuracy);
  nlohmann::json components = nlohmann::json::object();
  for (const auto& c : v.components) {
    components[kind_name(c.kind)] = {{"value", c.value}, {"status", status_name(c.status)}};
  }
  return nlohmann::json{{"prompt_id", p.id},
                        {"task", p.task},
                        {"prompt", p.text},
                        {"gold", p.gold},
                        {"sample", r.sample_index},
                        {"completion", r.completion_text},
                        {"answer", accuracy ? accuracy->detail : ""},
                        {"correct", accuracy && accuracy->value >= 1.0f},
                        {"verdict", accuracy ? status_name(accuracy->status) : "none"},
                        {"reward", v.total},
                        {"components", components}}
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::pair<double, bool> score_prompt(const std::vector<protocol::reward_verdict>& verdicts) {
  double correct = 0;
  std::map<std::string, std::pair<int, bool>> votes;  // answer -> (count, correct)
  for (const auto& v : verdicts) {
    const auto* accuracy = component(v, protocol::reward_kind::accuracy);
    bool right = accuracy && accuracy->value >= 1.0f;
    correct += right ? 1 : 0;
    if (accuracy && !accuracy->detail.empty()) {
      auto& vote = votes[accuracy->detail];
      vote.first += 1;
      vote.second = vote.second || right;
    }
  }
  bool majority_right = false;
  int best = 0;
  for (const auto& [answer, vote] : votes) {
    if (vote.first > best) best = vote.first, majority_right = vote.second;
  }
  return {verdicts.empty() ? 0.0 : correct / static_cast<double>(verdicts.size()), majority_right};
}

result<eval_report> evaluate(caf::actor_system& system, grader_actor grader, model::transformer& policy,
                             const model::tokenizer& tokenizer, const std::vector<protocol::prompt>& prompts,
                             const eval_settings& settings) {
  eval_report report;
  if (prompts.empty()) return report;
  model::sampling_params params;
  params.temperature = settings.temperature;
  params.max_new_tokens = settings.max_new_tokens;
  params.seed = settings.seed;
  add_stop_criteria(params, tokenizer, settings.stop_strings);
  const std::uint32_t k = std::max<std::uint32_t>(1, settings.samples);
  model::engine engine(policy, static_cast<std::int64_t>(settings.batch_prompts) * k,
                       std::min<std::int64_t>(policy->config().max_position_embeddings, 4096));
  torch::NoGradGuard no_grad;
  policy->eval();
  caf::scoped_actor self{system};
  std::ofstream samples_out;
  if (!settings.completions_file.empty()) {
    samples_out.open(settings.completions_file, std::ios::trunc);
    if (!samples_out) return make_error(errc::io_error, "cannot write " + settings.completions_file);
  }
  std::set<std::string> problems;
  for (const auto& p : prompts) problems.insert(tasks::problem_key(p));
  report.prompts_unique = problems.size();
  std::map<std::string, std::pair<double, double>> by_task;  // task -> (sum, count)
  double pass = 0, majority = 0, formatted = 0, samples = 0;
  for (std::size_t start = 0; start < prompts.size(); start += settings.batch_prompts) {
    std::size_t end = std::min(prompts.size(), start + settings.batch_prompts);
    std::vector<std::vector<std::int32_t>> rows, rows_prompt;
    for (std::size_t i = start; i < end; ++i) {
      auto tokens = prompt_tokens(tokenizer, prompts[i].text);
      rows_prompt.push_back(tokens);
      for (std::uint32_t j = 0; j < k; ++j) rows.push_back(tokens);
    }
    params.seed += 1;
    auto completions = engine.generate(rows, params, &tokenizer);
    if (!completions) return completions.error();
    for (std::size_t i = start; i < end; ++i) {
      auto first = completions->begin() + static_cast<std::ptrdiff_t>((i - start) * k);
      std::vector<model::completion> group(first, first + k);
      auto rollouts = make_rollouts(prompts[i], rows_prompt[i - start], group, tokenizer, 0, "eval", 0);
      std::optional<aha::error> failure;
      std::vector<protocol::reward_verdict> verdicts;
      self->request(grader, std::chrono::minutes(5), score_atom::value, prompts[i], rollouts)
          .receive([&](const std::vector<protocol::reward_verdict>& v) { verdicts = v; },
                   [&](const caf::error& e) { failure = make_error(errc::unavailable, "grading: " + describe(e)); });
      if (failure) return *failure;
      if (samples_out.is_open()) {
        for (std::size_t j = 0; j < verdicts.size() && j < rollouts.size(); ++j) {
          samples_out << sample_line(prompts[i], rollouts[j], verdicts[j]) << "\n";
        }
      }
      auto [p, maj] = score_prompt(verdicts);
      pass += p, majority += maj ? 1 : 0;
      by_task[prompts[i].task].first += p, by_task[prompts[i].task].second += 1;
      for (const auto& v : verdicts) {
        const auto* format = component(v, protocol::reward_kind::format);
        formatted += format && format->value >= 1.0f ? 1 : 0;
        samples += 1;
      }
    }
  }
  if (samples_out.is_open() && !samples_out.flush()) return make_error(errc::io_error, "cannot write " + settings.completions_file);
  const double n = static_cast<double>(prompts.size());
  report.prompts = prompts.size();
  report.pass_at_1 = pass / n;
  report.maj_at_k = majority / n;
  report.format_rate = samples > 0 ? formatted / samples : 0;
  for (const auto& [task, sum] : by_task) report.pass_at_1_by_task[task] = sum.first / sum.second;
  return report;
}

}  // namespace aha::actors
