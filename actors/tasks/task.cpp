// Shared helpers of the built-in tasks (task.hpp).
#include "actors/tasks/task.hpp"

namespace aha::actors::tasks {
namespace {

long long apply(char op, long long a, long long b) { return op == '+' ? a + b : op == '-' ? a - b : a * b; }

}  // namespace

std::optional<operation_chain> chain_of(const std::vector<int>& numbers, const std::string& ops) {
  operation_chain chain;
  chain.expression = std::to_string(numbers.at(0));
  chain.value = numbers[0];
  char previous = '*';
  for (std::size_t i = 1; i < numbers.size(); ++i) {
    const char op = ops.at(i - 1);
    const long long next = apply(op, chain.value, numbers[i]);
    if (next <= 0) return std::nullopt;
    // Left to right: the left side needs brackets when a product follows a sum or difference.
    const bool wrap = op == '*' && (previous == '+' || previous == '-');
    chain.steps += (chain.steps.empty() ? "" : ",") + std::to_string(chain.value) + op + std::to_string(numbers[i]) +
                   "=" + std::to_string(next);
    chain.expression = (wrap ? "(" + chain.expression + ")" : chain.expression) + op + std::to_string(numbers[i]);
    chain.value = next;
    previous = op;
  }
  return chain;
}

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

}  // namespace aha::actors::tasks
