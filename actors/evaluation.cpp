// Held-out evaluation (actors/evaluation.hpp).
#include "actors/evaluation.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>

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

prompt_score score_prompt(const std::vector<protocol::reward_verdict>& verdicts) {
  prompt_score score;
  std::map<std::string, std::pair<int, bool>> votes;  // answer -> (count, correct)
  for (const auto& v : verdicts) {
    const auto* accuracy = component(v, protocol::reward_kind::accuracy);
    bool right = accuracy && accuracy->value >= 1.0f;
    score.samples += 1;
    score.correct += right ? 1 : 0;
    if (accuracy && !accuracy->detail.empty()) {
      auto& vote = votes[accuracy->detail];
      vote.first += 1;
      vote.second = vote.second || right;
    }
  }
  int best = 0;
  for (const auto& [answer, vote] : votes) {
    if (vote.first > best) best = vote.first, score.majority_right = vote.second;
  }
  return score;
}

double pass_at_k(std::uint32_t n, std::uint32_t c, std::uint32_t k) {
  if (k == 0 || k > n) return 0.0;  // callers validate k (pass_at_values); no estimate exists here
  if (n - c < k) return 1.0;        // every draw of k holds a correct sample
  // C(n-c, k) / C(n, k) = prod_{i = n-c+1}^{n} (1 - k / i): each factor in [0, 1], no overflow.
  double none_correct = 1.0;
  for (std::uint32_t i = n - c + 1; i <= n; ++i) none_correct *= 1.0 - static_cast<double>(k) / i;
  return 1.0 - none_correct;
}

result<std::vector<std::uint32_t>> pass_at_values(const std::vector<std::uint32_t>& requested, std::uint32_t samples) {
  std::set<std::uint32_t> values(requested.begin(), requested.end());
  if (values.empty()) values = {1, std::max<std::uint32_t>(1, samples)};
  for (auto k : values) {
    if (k < 1 || k > samples) {
      return make_error(errc::invalid_argument, "eval.pass_at = " + std::to_string(k) + ": each k must be in [1, eval.samples = " +
                                                    std::to_string(samples) + "] (pass@k needs at least k samples per prompt)");
    }
  }
  return std::vector<std::uint32_t>(values.begin(), values.end());
}

namespace {

void add_scores(eval_scores& sums, const prompt_score& score, const std::vector<std::uint32_t>& pass_at) {
  sums.prompts += 1;
  sums.pass_at_1 += score.samples > 0 ? static_cast<double>(score.correct) / score.samples : 0.0;
  sums.maj_at_k += score.majority_right ? 1 : 0;
  for (auto k : pass_at) sums.pass_at_k[k] += pass_at_k(score.samples, score.correct, k);
}

void finish_scores(eval_scores& sums) {
  if (sums.prompts == 0) return;
  const double n = static_cast<double>(sums.prompts);
  sums.pass_at_1 /= n, sums.maj_at_k /= n;
  for (auto& [k, value] : sums.pass_at_k) value /= n;
}

std::string fixed3(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", value);
  return text;
}

// The report's top-level figures are the "all prompts" slice, summed like a task's until eval_finish.
eval_scores overall(const eval_report& r) { return {r.prompts, r.pass_at_1, r.maj_at_k, r.pass_at_k}; }
void set_overall(eval_report& r, const eval_scores& s) {
  r.prompts = s.prompts, r.pass_at_1 = s.pass_at_1, r.maj_at_k = s.maj_at_k, r.pass_at_k = s.pass_at_k;
}

}  // namespace

void eval_add(eval_report& report, const std::string& task, const prompt_score& score,
              const std::vector<std::uint32_t>& pass_at) {
  auto all = overall(report);
  add_scores(all, score, pass_at);
  set_overall(report, all);
  add_scores(report.by_task[task], score, pass_at);
}

void eval_finish(eval_report& report) {
  auto all = overall(report);
  finish_scores(all);
  set_overall(report, all);
  report.pass_at_1_by_task.clear();
  for (auto& [task, scores] : report.by_task) {
    finish_scores(scores);
    report.pass_at_1_by_task[task] = scores.pass_at_1;
  }
}

std::string eval_table(const eval_report& report, const std::string& label) {
  std::ostringstream out;
  out << "eval " << label << ": " << report.prompts << " prompts (" << report.prompts_unique << " distinct), k = "
      << report.samples << " sample" << (report.samples == 1 ? "" : "s") << " at temperature " << fixed3(report.temperature)
      << ", format rate " << fixed3(report.format_rate) << "\n";
  std::size_t width = 4;  // "task"
  for (const auto& [task, scores] : report.by_task) width = std::max(width, task.size());
  auto cell = [&out](const std::string& text, std::size_t w) { out << std::string(w > text.size() ? w - text.size() : 0, ' ') << text; };
  auto row = [&](const std::string& name, const eval_scores& s) {
    out << "  " << name << std::string(width - name.size(), ' ');
    cell(std::to_string(s.prompts), 9);
    cell(fixed3(s.pass_at_1), 9);
    for (const auto& [k, value] : s.pass_at_k) {
      if (k != 1) cell(fixed3(value), 9);  // pass@1 has its column: the unbiased estimate equals it
    }
    cell(fixed3(s.maj_at_k), 9);
    out << "\n";
  };
  out << "  task" << std::string(width - 4, ' ');
  cell("prompts", 9);
  cell("pass@1", 9);
  for (const auto& [k, value] : report.pass_at_k) {
    if (k != 1) cell("pass@" + std::to_string(k), 9);
  }
  cell("maj@" + std::to_string(report.samples), 9);
  out << "\n";
  for (const auto& [task, scores] : report.by_task) row(task, scores);
  row("all", overall(report));
  return out.str();
}

nlohmann::json to_json(const eval_report& e) {
  auto keyed = [](const std::map<std::uint32_t, double>& values) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [k, value] : values) j[std::to_string(k)] = value;
    return j;
  };
  nlohmann::json by_task = nlohmann::json::object();
  for (const auto& [task, s] : e.by_task) {
    by_task[task] = {{"prompts", s.prompts}, {"pass_at_1", s.pass_at_1}, {"maj_at_k", s.maj_at_k},
                     {"pass_at_k", keyed(s.pass_at_k)}};
  }
  return {{"pass_at_1", e.pass_at_1}, {"maj_at_k", e.maj_at_k}, {"format_rate", e.format_rate},
          {"prompts", e.prompts}, {"prompts_unique", e.prompts_unique}, {"samples", e.samples},
          {"temperature", e.temperature}, {"pass_at_k", keyed(e.pass_at_k)},
          {"pass_at_1_by_task", e.pass_at_1_by_task}, {"by_task", by_task}};
}

result<eval_report> evaluate(caf::actor_system& system, grader_actor grader, model::transformer& policy,
                             const model::tokenizer& tokenizer, const std::vector<protocol::prompt>& prompts,
                             const eval_settings& settings) {
  eval_report report;
  report.samples = std::max<std::uint32_t>(1, settings.samples);
  report.temperature = settings.temperature;
  auto pass_at = pass_at_values(settings.pass_at, report.samples);
  if (!pass_at) return pass_at.error();
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
  double formatted = 0, samples = 0;
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
      eval_add(report, prompts[i].task, score_prompt(verdicts), *pass_at);
      for (const auto& v : verdicts) {
        const auto* format = component(v, protocol::reward_kind::format);
        formatted += format && format->value >= 1.0f ? 1 : 0;
        samples += 1;
      }
    }
  }
  if (samples_out.is_open() && !samples_out.flush()) return make_error(errc::io_error, "cannot write " + settings.completions_file);
  eval_finish(report);
  report.format_rate = samples > 0 ? formatted / samples : 0;
  return report;
}

}  // namespace aha::actors
