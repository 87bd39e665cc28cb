// The built-in countdown task: given numbers and a target ("3,5,7->22:"), answer with an
// arithmetic expression that uses each number at most once and equals the target ("3*5+7").
// Graded by running code in the sandbox: countdown_checker_program() is a small Python checker
// that reads one item per line (the numbers, and the expression hex-encoded so that no answer
// can forge a line), allows only + - * / ( ) and the given numbers, and prints each exact value;
// countdown_judge() compares a value line to the target OUTSIDE the box. The expression is
// parsed, never executed, so one run may check many answers (sandbox::batcher).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "actors/tasks/task.hpp"
#include "core/config.hpp"
#include "core/result.hpp"

namespace aha::actors::tasks {

struct countdown_config {
  int numbers = 3;     // how many numbers are given (3 or 4)
  int max_number = 9;  // numbers are drawn from [1, max_number]
};
template <class V>
void describe(V& v, countdown_config& c) {
  v.field("numbers", c.numbers, "numbers per puzzle", config::range{2, 6});
  v.field("max_number", c.max_number, "largest number", config::range{2, 100});
}

// Task name "countdown"; gold = the target; tests = {"numbers":[...],"target":N} (JSON).
task_sample countdown_sample(const countdown_config& config, std::uint64_t seed, split s, std::uint64_t index);

struct countdown_puzzle {
  std::vector<int> numbers;
  long long target = 0;
};
// Reads the puzzle back from a prompt's `tests` JSON.
result<countdown_puzzle> parse_countdown(const std::string& tests_json);

// The checker program (Python 3): per stdin line "3,5,7 <hex of the expression>" it prints one
// line, "VALUE 22" (or "VALUE 7/2") or "INVALID <reason>". Expressions travel as data, never
// inside the source.
std::string countdown_checker_program();
std::string countdown_item(const countdown_puzzle& puzzle, std::string_view expression);
// A checker line -> correct? ("VALUE 22" against target 22).
bool countdown_judge(const countdown_puzzle& puzzle, std::string_view checker_stdout);
// The same check done locally in C++ (tests, and a reference for the sandboxed one).
bool countdown_check_local(const countdown_puzzle& puzzle, std::string_view expression);

}  // namespace aha::actors::tasks
