// Built-in arithmetic samples: one operator, two small operands.
#include "actors/tasks/arithmetic.hpp"

#include <algorithm>

namespace aha::actors::tasks {

std::string tagged_answer(std::string_view completion) {
  auto open = completion.rfind("<answer>");
  if (open == std::string_view::npos) return {};
  auto start = open + 8;
  auto close = completion.find("</answer>", start);
  if (close == std::string_view::npos) return {};
  auto body = completion.substr(start, close - start);
  auto first = body.find_first_not_of(" \t\n");
  if (first == std::string_view::npos) return {};
  auto last = body.find_last_not_of(" \t\n");
  return std::string(body.substr(first, last - first + 1));
}

task_sample arithmetic_sample(const arithmetic_config& config, std::uint64_t seed, split s, std::uint64_t index) {
  sample_rng rng(seed, s, index);
  std::string ops = config.ops.empty() ? std::string("+") : config.ops;
  char op = ops[rng.next() % ops.size()];
  long long a = rng.between(0, config.max_operand);
  long long b = rng.between(0, config.max_operand);
  if (op == '-' && a < b) std::swap(a, b);
  long long value = op == '+' ? a + b : op == '-' ? a - b : a * b;
  std::string question = std::to_string(a) + op + std::to_string(b);
  task_sample out;
  out.prompt.task = "arithmetic";
  out.prompt.text = question + "=";
  out.prompt.gold = std::to_string(value);
  out.prompt.language = "en";
  out.demonstration = "<think>" + question + "=" + out.prompt.gold + "</think><answer>" + out.prompt.gold + "</answer>";
  return out;
}

}  // namespace aha::actors::tasks
