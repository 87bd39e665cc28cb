// Built-in arithmetic samples: a chain of small operands, worked or direct demonstrations.
#include "actors/tasks/arithmetic.hpp"

#include <algorithm>

namespace aha::actors::tasks {
namespace {

std::string demonstration(const std::string& thinking, const std::string& answer) {
  return "<think>" + thinking + "</think><answer>" + answer + "</answer>";
}

}  // namespace

task_sample arithmetic_sample(const arithmetic_config& config, std::uint64_t seed, split s, std::uint64_t index) {
  sample_rng rng(seed, s, index);
  const std::string ops = config.ops.empty() ? std::string("+") : config.ops;
  task_sample out;
  out.prompt.task = "arithmetic";
  out.prompt.language = "en";
  if (config.terms <= 2) {
    // One operation: the worked and direct forms coincide.
    char op = ops[rng.next() % ops.size()];
    long long a = rng.between(0, config.max_operand);
    long long b = rng.between(0, config.max_operand);
    if (op == '-' && a < b) std::swap(a, b);
    long long value = op == '+' ? a + b : op == '-' ? a - b : a * b;
    std::string question = std::to_string(a) + op + std::to_string(b);
    out.prompt.text = question + "=";
    out.prompt.gold = std::to_string(value);
    out.demonstration = demonstration(question + "=" + out.prompt.gold, out.prompt.gold);
    return out;
  }
  std::optional<operation_chain> chain;
  for (int attempt = 0; !chain; ++attempt) {
    std::vector<int> numbers;
    std::string chosen;
    for (int i = 0; i < config.terms; ++i) numbers.push_back(rng.between(1, std::max(1, config.max_operand)));
    for (int i = 1; i < config.terms; ++i) chosen += ops[rng.next() % ops.size()];
    // Sums never fail: after 64 draws fall back to one (a vanishingly rare path).
    chain = chain_of(numbers, attempt < 64 ? chosen : std::string(chosen.size(), '+'));
  }
  out.prompt.text = chain->expression + "=";
  out.prompt.gold = std::to_string(chain->value);
  const bool worked = static_cast<double>(rng.next() % 1000000) < config.worked_fraction * 1000000;
  out.demonstration = demonstration(worked ? chain->steps : chain->expression + "=" + out.prompt.gold, out.prompt.gold);
  return out;
}

}  // namespace aha::actors::tasks
