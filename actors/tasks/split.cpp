// The split by construction (actors/tasks/split.hpp).
#include "actors/tasks/split.hpp"

#include "actors/tasks/phrasing.hpp"

#include <cmath>

namespace aha::actors::tasks {
namespace {

constexpr std::uint64_t kSplitKey = 0x61686173706c6974ull;  // "ahasplit"

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

}  // namespace

std::string problem_key(std::string_view task, std::string_view text) {
  text = unposed(task, text);  // one problem in every language a built-in task is posed in
  std::string key(task);
  key += '\n';
  bool pending_space = false;
  for (char c : text) {
    if (is_space(c)) {
      pending_space = key.back() != '\n';  // leading white space is dropped
      continue;
    }
    if (pending_space) key += ' ';
    pending_space = false;
    key += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return key;  // trailing white space never reaches the key
}

std::uint64_t problem_hash(std::string_view key) {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a: every byte counts, in order
  for (unsigned char c : key) h = (h ^ c) * 0x100000001b3ull;
  return sample_rng::mix(h ^ kSplitKey);  // spreads FNV's weak low bits over the whole range
}

split split_of(std::string_view key, double eval_fraction) {
  if (eval_fraction <= 0) return split::train;
  if (eval_fraction >= 1) return split::eval;
  // Compare in 53-bit doubles: exact enough, and no overflow of 2^64 * fraction.
  const double point = static_cast<double>(problem_hash(key) >> 11) / 9007199254740992.0;
  return point < eval_fraction ? split::eval : split::train;
}

}  // namespace aha::actors::tasks
