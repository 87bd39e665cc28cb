// Built-in countdown samples, the sandboxed checker program, and a local reference checker.
#include "actors/tasks/countdown.hpp"

#include <algorithm>
#include <numeric>

#include <nlohmann/json.hpp>

namespace aha::actors::tasks {

task_sample countdown_sample(const countdown_config& config, std::uint64_t seed, split s, std::uint64_t index) {
  sample_rng rng(seed, s, index);
  std::vector<int> nums;
  std::optional<operation_chain> chain;
  for (int attempt = 0; !chain; ++attempt) {
    nums.clear();
    std::string ops;
    for (int i = 0; i < config.numbers; ++i) nums.push_back(rng.between(1, config.max_number));
    for (int i = 1; i < config.numbers; ++i) ops += "+-*"[rng.next() % 3];
    // Sums never fail: after 64 draws fall back to one (a vanishingly rare path).
    chain = chain_of(nums, attempt < 64 ? ops : std::string(ops.size(), '+'));
  }
  const long long target = chain->value;
  std::vector<int> shown = nums;  // the puzzle lists the numbers sorted, not in solution order
  std::sort(shown.begin(), shown.end());
  std::string listed;
  for (auto n : shown) listed += (listed.empty() ? "" : ",") + std::to_string(n);
  task_sample out;
  out.prompt.task = "countdown";
  out.prompt.text = listed + "->" + std::to_string(target) + ":";
  out.prompt.gold = std::to_string(target);
  out.prompt.tests = nlohmann::json{{"numbers", shown}, {"target", target}}.dump();
  out.prompt.language = "en";
  out.demonstration = "<think>" + chain->steps + "</think><answer>" + chain->expression + "</answer>";
  return out;
}

result<countdown_puzzle> parse_countdown(const std::string& tests_json) {
  auto j = nlohmann::json::parse(tests_json, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("numbers") || !j.contains("target") ||
      !j["numbers"].is_array() || !j["target"].is_number_integer()) {
    return make_error(errc::corrupt_data, "countdown: tests must be {\"numbers\":[...],\"target\":N}, got " + tests_json);
  }
  countdown_puzzle p;
  for (const auto& n : j["numbers"]) {
    if (!n.is_number_integer()) return make_error(errc::corrupt_data, "countdown: numbers must be integers");
    p.numbers.push_back(n.get<int>());
  }
  p.target = j["target"].get<long long>();
  return p;
}

std::string countdown_checker_program() {
  // No imports beyond sys: `import ast` and `fractions` would triple the interpreter's start-up,
  // which is most of a check's cost. Exact rationals are (numerator, denominator) pairs.
  return R"PY(import sys
DIGITS = '0123456789'
def gcd(a, b):
    while b:
        a, b = b, a % b
    return a
def ratio(n, d):
    if d < 0:
        n, d = -n, -d
    g = gcd(abs(n), d) or 1
    return (n // g, d // g)
def tokens(text):
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c in DIGITS:
            j = i
            while j < len(text) and text[j] in DIGITS:
                j += 1
            if j - i > 9:
                raise ValueError('number too long')
            out.append(int(text[i:j]))
            i = j
        elif c in '+-*/()':
            out.append(c)
            i += 1
        elif c == ' ':
            i += 1
        else:
            raise ValueError('only numbers and + - * / ( ) are allowed')
    return out
class Parser:
    # expr := term (('+'|'-') term)*; term := atom (('*'|'/') atom)*; atom := number | '(' expr ')'
    def __init__(self, toks, pool):
        self.toks, self.i, self.pool = toks, 0, pool
    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else None
    def take(self):
        self.i += 1
        return self.toks[self.i - 1]
    def expr(self):
        a = self.term()
        while self.peek() in ('+', '-'):
            sign = 1 if self.take() == '+' else -1
            b = self.term()
            a = ratio(a[0] * b[1] + sign * b[0] * a[1], a[1] * b[1])
        return a
    def term(self):
        a = self.atom()
        while self.peek() in ('*', '/'):
            op = self.take()
            b = self.atom()
            if op == '*':
                a = ratio(a[0] * b[0], a[1] * b[1])
            elif b[0] == 0:
                raise ZeroDivisionError('division by zero')
            else:
                a = ratio(a[0] * b[1], a[1] * b[0])
        return a
    def atom(self):
        t = self.peek()
        if t == '(':
            self.take()
            a = self.expr()
            if self.peek() != ')':
                raise ValueError('unbalanced brackets')
            self.take()
            return a
        if type(t) is int:
            self.take()
            self.pool.remove(t)  # ValueError: not offered, or used twice
            return (t, 1)
        raise ValueError('a number or ( was expected')
for line in sys.stdin:
    try:
        numbers, encoded = line.rstrip('\n').split(' ')
        parser = Parser(tokens(bytes.fromhex(encoded).decode('utf-8', 'replace')),
                        [int(n) for n in numbers.split(',')])
        n, d = parser.expr()
        if parser.i != len(parser.toks):
            raise ValueError('unexpected text after the expression')
        print('VALUE', n if d == 1 else '%d/%d' % (n, d))
    except Exception as e:
        print('INVALID', type(e).__name__)
)PY";
}

std::string countdown_item(const countdown_puzzle& puzzle, std::string_view expression) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string item;
  for (auto n : puzzle.numbers) item += (item.empty() ? "" : ",") + std::to_string(n);
  item += ' ';
  for (unsigned char c : expression) item += {hex[c >> 4], hex[c & 15]};
  return item;
}

bool countdown_judge(const countdown_puzzle& puzzle, std::string_view out) {
  auto line_end = out.find('\n');
  auto line = out.substr(0, line_end);
  return line == "VALUE " + std::to_string(puzzle.target);
}

}  // namespace aha::actors::tasks

namespace aha::actors::tasks {
namespace {

// Exact rationals for the local checker; inputs are capped at 64 characters so __int128 holds.
struct rational {
  __int128 num = 0, den = 1;
};
__int128 gcd128(__int128 a, __int128 b) {
  if (a < 0) a = -a;
  if (b < 0) b = -b;
  while (b != 0) {
    auto t = a % b;
    a = b;
    b = t;
  }
  return a == 0 ? 1 : a;
}
rational normal(__int128 n, __int128 d) {
  if (d < 0) n = -n, d = -d;
  auto g = gcd128(n, d);
  return {n / g, d / g};
}

// Recursive descent: expr := term (('+'|'-') term)*; term := atom (('*'|'/') atom)*;
// atom := number | '(' expr ')'. Each number must come from the pool (used at most once).
class local_checker {
 public:
  local_checker(std::string_view text, std::vector<int> pool) : text_(text), pool_(std::move(pool)) {}
  bool run(rational& out) { return expr(out) && (skip(), pos_ == text_.size()); }

 private:
  void skip() { while (pos_ < text_.size() && text_[pos_] == ' ') ++pos_; }
  bool expr(rational& out) {
    if (!term(out)) return false;
    for (skip(); pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-'); skip()) {
      char op = text_[pos_++];
      rational rhs;
      if (!term(rhs)) return false;
      out = normal(out.num * rhs.den + (op == '+' ? 1 : -1) * rhs.num * out.den, out.den * rhs.den);
    }
    return true;
  }
  bool term(rational& out) {
    if (!atom(out)) return false;
    for (skip(); pos_ < text_.size() && (text_[pos_] == '*' || text_[pos_] == '/'); skip()) {
      char op = text_[pos_++];
      rational rhs;
      if (!atom(rhs)) return false;
      if (op == '/' && rhs.num == 0) return false;
      out = op == '*' ? normal(out.num * rhs.num, out.den * rhs.den) : normal(out.num * rhs.den, out.den * rhs.num);
    }
    return true;
  }
  bool atom(rational& out) {
    skip();
    if (pos_ < text_.size() && text_[pos_] == '(') {
      ++pos_;
      if (!expr(out)) return false;
      skip();
      return pos_ < text_.size() && text_[pos_++] == ')';
    }
    std::size_t start = pos_;
    while (pos_ < text_.size() && pos_ - start < 9 && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    if (pos_ == start) return false;
    int n = std::stoi(std::string(text_.substr(start, pos_ - start)));
    auto it = std::find(pool_.begin(), pool_.end(), n);
    if (it == pool_.end()) return false;
    pool_.erase(it);
    out = {n, 1};
    return true;
  }

  std::string_view text_;
  std::vector<int> pool_;
  std::size_t pos_ = 0;
};

}  // namespace

bool countdown_check_local(const countdown_puzzle& puzzle, std::string_view expression) {
  if (expression.empty() || expression.size() > 64) return false;
  rational value;
  if (!local_checker(expression, puzzle.numbers).run(value)) return false;
  return value.den == 1 && value.num == puzzle.target;
}

}  // namespace aha::actors::tasks
