// Built-in column arithmetic (actors/tasks/addition.hpp).
#include "actors/tasks/addition.hpp"

#include <algorithm>

namespace aha::actors::tasks {
namespace {

long long draw_operand(sample_rng& rng, int min_digits, int max_digits) {
  const int digits = rng.between(min_digits, max_digits);
  long long low = 1;
  for (int i = 1; i < digits; ++i) low *= 10;
  const long long high = low * 10 - 1;
  if (digits == 1) return rng.between(0, 9);
  return low + static_cast<long long>(rng.next() % static_cast<std::uint64_t>(high - low + 1));
}

std::string padded(long long n, int width) {
  auto text = std::to_string(n);
  return text.size() < static_cast<std::size_t>(width) ? std::string(width - text.size(), '0') + text : text;
}

}  // namespace

std::string column_steps(long long a, long long b, char op, int columns) {
  // One step is one small fact; the carry is written only when there is one, which keeps the
  // completions short (sampling time is most of a GRPO step).
  std::string steps;
  int carry = 0;
  for (long long x = a, y = b; x > 0 || y > 0 || columns > 0; x /= 10, y /= 10, --columns) {
    const int top = static_cast<int>(x % 10), bottom = static_cast<int>(y % 10);
    const std::string in = carry ? std::string(1, op) + "1" : "";
    if (!steps.empty()) steps += ',';
    if (op == '+') {
      const int value = top + bottom + carry;
      steps += std::to_string(top) + "+" + std::to_string(bottom) + in + "=" + std::to_string(value);
      carry = value / 10;
    } else {
      const bool borrow = top - bottom - carry < 0;  // the column borrows ten from the next
      const int lifted = borrow ? top + 10 : top;
      steps += std::to_string(lifted) + "-" + std::to_string(bottom) + in + "=" + std::to_string(lifted - bottom - carry);
      carry = borrow ? 1 : 0;
    }
  }
  return steps;
}

task_sample addition_sample(const addition_config& config, std::uint64_t seed, split s, std::uint64_t index) {
  sample_rng rng(seed, s, index);
  const std::string ops = config.ops.empty() ? std::string("+") : config.ops;
  const int low = std::max(1, std::min(config.min_digits, config.max_digits));
  const int high = std::max(low, config.max_digits);
  const char op = ops[rng.next() % ops.size()];
  long long a = draw_operand(rng, low, high);
  long long b = draw_operand(rng, low, high);
  if (op == '-' && a < b) std::swap(a, b);
  const long long value = op == '+' ? a + b : a - b;
  task_sample out;
  out.prompt.task = "addition";
  out.prompt.language = "en";
  const int width = config.pad ? high : 1;
  out.prompt.text = padded(a, width) + op + padded(b, width) + "=";
  out.prompt.gold = std::to_string(value);
  out.demonstration =
      "<think>" + column_steps(a, b, op, width) + "</think><answer>" + out.prompt.gold + "</answer>";
  return out;
}

}  // namespace aha::actors::tasks
