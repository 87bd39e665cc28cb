// Shared vocabulary of the built-in tasks: the train/eval split, a sample (prompt + SFT
// demonstration), and a small deterministic RNG keyed by (seed, split, index) so any sample can
// be regenerated from its index alone (resumable cursors, identical runs across machines).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/messages.hpp"

namespace aha::actors::tasks {

// The two sides of a dataset. Which side a problem is on is decided by its content alone
// (split.hpp), never by the seed stream it was drawn from.
enum class split : std::uint8_t { train = 0, eval = 1 };

struct task_sample {
  protocol::prompt prompt;    // id left 0: the prompt source assigns ids
  std::string demonstration;  // SFT target completion: "<think>...</think><answer>...</answer>"
};

// splitmix64: tiny, portable, and good enough to draw small numbers.
class sample_rng {
 public:
  sample_rng(std::uint64_t seed, split s, std::uint64_t index)
      : state_(mix(mix(seed ^ 0x9e3779b97f4a7c15ull) + static_cast<std::uint64_t>(s) * 0xbf58476d1ce4e5b9ull + index)) {}
  std::uint64_t next() { return mix(state_ += 0x9e3779b97f4a7c15ull); }
  // Uniform in [lo, hi] (modulo bias is negligible for the small ranges used here).
  int between(int lo, int hi) { return lo + static_cast<int>(next() % static_cast<std::uint64_t>(hi - lo + 1)); }

  static std::uint64_t mix(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t state_;
};

// A left-to-right chain of operations over `numbers` with `ops` (ops[i] joins numbers[i+1]):
// the expression in ordinary notation, parenthesised where precedence needs it ("(3+4)*5"),
// its worked steps ("3+4=7,7*5=35") and its value. nullopt when an intermediate result or the
// value is not positive (callers draw again). Shared by arithmetic and countdown.
struct operation_chain {
  std::string expression;
  std::string steps;
  long long value = 0;
};
std::optional<operation_chain> chain_of(const std::vector<int>& numbers, const std::string& ops);

// The text inside the last <answer>...</answer> of a completion, trimmed; "" when there is none.
std::string tagged_answer(std::string_view completion);

}  // namespace aha::actors::tasks
