// Unit tests of verify_math: extraction rules, each equivalence family, the configurable
// policies, and the safety bounds (deep nesting, huge exponents, megabyte inputs, threads).
#include "rewards/math_verifier.hpp"

#include <catch2/catch.hpp>

#include "core/config.hpp"

#include <chrono>
#include <string>
#include <thread>
#include <vector>

using aha::rewards::extract_answer;
using aha::rewards::math_verifier_config;
using aha::rewards::verify_math;

namespace {
bool eq(const std::string& gold, const std::string& pred, const math_verifier_config& c = {}) {
  return verify_math(gold, pred, c).correct;
}
}  // namespace

TEST_CASE("math extract: boxed, answer tags, think blocks, sentences, fallback") {
  CHECK(extract_answer("so \\boxed{\\frac{1}{2}} and") == "\\frac{1}{2}");
  CHECK(extract_answer("first \\boxed{1}, which fails the check on the boundary, so \\boxed{{2}+1}") == "{2}+1");
  CHECK(extract_answer("\\fbox{7}") == "7");
  CHECK(extract_answer("<think>maybe \\boxed{3}</think><answer>4</answer>") == "4");
  CHECK(extract_answer("<think>\\boxed{3}</think> The answer is 5.") == "5");
  CHECK(extract_answer("<think>so the answer is \\boxed{3}").empty());  // never finished thinking
  CHECK(extract_answer("<|begin_of_box|>42<|end_of_box|>") == "42");
  CHECK(extract_answer("Thus the final answer is $x = 2$. I hope") == "x = 2");
  CHECK(extract_answer("We get 3 apples and then 12 pears in total now") == "12");
  math_verifier_config no_fallback;
  no_fallback.fallback_last_number = false;
  CHECK(extract_answer("We get 3 apples and then 12 pears in total now", no_fallback).empty());
  math_verifier_config boxed_only;
  boxed_only.require_boxed = true;
  CHECK(extract_answer("The answer is 4.", boxed_only).empty());
  CHECK(extract_answer("\\boxed{1}, \\boxed{2} and \\boxed{3}") == "1, 2, 3");
  CHECK(extract_answer("\\boxed{1} no no no no no \\boxed{2}") == "2");
}

TEST_CASE("math equivalence: numbers and their spellings") {
  CHECK(eq("7425000", "7,425,000"));
  CHECK(eq("0.5", "\\frac{1}{2}"));
  CHECK(eq("-10/9", "-\\frac{10}{9}"));
  CHECK(eq("1.5", "1\\frac{1}{2}"));
  CHECK(eq("2.5", "2 1/2"));
  CHECK(eq("0.0025", "2.5 \\times 10^{-3}"));
  CHECK(eq("0.0025", "2.5e-3"));
  CHECK(eq("28\\%", "28"));
  CHECK(eq("10\\%", "0.1"));
  CHECK(eq("\\$10", "10"));
  CHECK(eq("033", "33"));
  CHECK(eq("\\frac{1}{3}", "0.\\overline{3}"));
  CHECK(eq("\\frac{62}{495}", "0.1\\overline{25}"));
  CHECK_FALSE(eq("\\frac{1}{3}", "0.\\overline{33}4"));
  CHECK_FALSE(eq("5", "5.001"));
  CHECK_FALSE(eq("2", "3"));
}

TEST_CASE("math equivalence: decimal approximation rule is configurable") {
  CHECK(eq("\\frac{1}{3}", "0.33"));
  CHECK(eq("\\frac{8}{3}", "2.6667"));
  CHECK_FALSE(eq("\\frac{1}{3}", "0.3"));  // one digit is below decimal_min_digits
  CHECK_FALSE(eq("\\frac{1}{3}", "0.34"));
  math_verifier_config strict;
  strict.decimal_min_digits = 6;
  CHECK_FALSE(eq("\\frac{1}{3}", "0.33", strict));
  CHECK(eq("\\frac{1}{3}", "0.333333", strict));
}

TEST_CASE("math equivalence: exact arithmetic on huge and tiny values") {
  CHECK_FALSE(eq("\\frac{1}{2004!}", "\\frac{1}{2006!}"));
  CHECK_FALSE(eq("\\frac{1}{2^{99}}", "\\frac{1}{2^{98}}"));
  CHECK(eq("2^{100}", "1267650600228229401496703205376"));
  CHECK(eq("\\binom{10}{3}", "120"));
  CHECK(eq("5!", "120"));
}

TEST_CASE("math equivalence: radicals, constants, trig, logs, complex") {
  CHECK(eq("2\\sqrt{3}", "\\sqrt{12}"));
  CHECK(eq("\\sqrt[3]{8}", "2"));
  CHECK(eq("\\frac{\\sqrt{3}}{2}", "0.8660254"));
  CHECK(eq("40\\pi", "125.664"));
  CHECK(eq("40\\pi", "125.663"));  // truncated
  CHECK(eq("\\sqrt{2}", "1.41"));
  CHECK_FALSE(eq("\\sqrt{2}", "1.42"));
  CHECK(eq("\\sin(30^\\circ)", "\\frac12"));
  CHECK(eq("\\log_2 8", "3"));
  CHECK(eq("e^{\\ln 5}", "5"));
  CHECK(eq("1+2i", "i(2-i)"));
  CHECK(eq("i", "\\sqrt{-1}"));
  CHECK_FALSE(eq("4", "4\\sqrt{2}"));
  CHECK(eq("\\pi", "3.14"));  // the decimal rule: 3.14 is π to two digits
  math_verifier_config precise;
  precise.decimal_min_digits = 4;
  CHECK_FALSE(eq("\\pi", "3.14", precise));
}

TEST_CASE("math equivalence: symbolic expressions by randomized evaluation") {
  CHECK(eq("(x+1)^2", "x^2+2x+1"));
  CHECK(eq("\\frac{x+2}{7}", "\\frac{x}{7}+\\frac{2}{7}"));
  CHECK(eq("\\tan^2(y)+1", "\\sec^2(y)"));
  CHECK(eq("\\sqrt{1/n}", "\\frac{1}{\\sqrt{n}}"));
  CHECK_FALSE(eq("x^2+2x+1", "x^3+2x+1"));
  CHECK_FALSE(eq("y^2+2y+1", "x^2+2x+1"));
  CHECK_FALSE(eq("f(x)", "f(y)"));
}

TEST_CASE("math equivalence: relations and assignments") {
  CHECK(eq("5", "x = 5"));
  CHECK(eq("x = 5", "5"));
  CHECK(eq("x = 11", "x = 5+5+1 = 11"));
  CHECK(eq("x \\geq 5", "5 \\leq x"));
  CHECK(eq("x < 1", "-x > -1"));
  CHECK_FALSE(eq("x < 1", "x > -1"));
  CHECK(eq("2x+4y-3=0", "y = -\\frac{1}{2}x + \\frac{3}{4}"));
  CHECK_FALSE(eq("\\frac{x^2}{4} + \\frac{y^2}{3} = 1", "\\frac{x^2}{16} + \\frac{y^2}{12} = 1"));
  CHECK_FALSE(eq("a + 3z = 0", "0"));
}

TEST_CASE("math equivalence: tuples, sets, lists, intervals, matrices") {
  CHECK(eq("(1, \\frac{9}{2})", "(1, 4.5)"));
  CHECK_FALSE(eq("(3, 1)", "(1, 3)"));
  CHECK(eq("\\{1, 2, 3\\}", "\\{3, 2, 1\\}"));
  CHECK(eq("1, 2, 3", "3, 1, 2"));
  CHECK(eq("\\pm 2", "\\{-2, 2\\}"));
  CHECK_FALSE(eq("\\pm 2", "2"));
  CHECK(eq("[0, 1)", "[0,1)"));
  CHECK_FALSE(eq("[0, 1)", "(0, 1)"));
  CHECK(eq("(-\\infty, 2] \\cup (3, \\infty)", "(3, +\\infty) \\cup (-\\infty, 2]"));
  CHECK(eq("x \\geq 2", "[2, \\infty)"));
  CHECK(eq("|x| \\leq 2", "[-2, 2]"));
  CHECK(eq("1 \\leq |z| \\leq 2", "[-2, -1] \\cup [1, 2]"));
  CHECK_FALSE(eq("1 \\leq |z| \\leq 2", "[1, 2]"));
  CHECK_FALSE(eq("[2, \\infty)", "x \\geq 2"));  // anti-hacking default
  math_verifier_config lenient;
  lenient.interval_gold_accepts_inequality = true;
  CHECK(eq("[2, \\infty)", "x \\geq 2", lenient));
  CHECK(eq("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{bmatrix} 1 & 2 \\\\ 3 & 4 \\end{bmatrix}"));
  CHECK_FALSE(eq("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{pmatrix} 1 & 2 \\\\ 3 & 5 \\end{pmatrix}"));
}

TEST_CASE("math equivalence: text, units and option letters") {
  CHECK(eq("\\text{odd}", "odd"));
  CHECK_FALSE(eq("odd", "\\text{oddd}"));
  CHECK(eq("\\text{No solution}", "No solution"));
  CHECK(eq("\\text{Evelyn}", "The fastest runner is $\\boxed{\\text{Evelyn}}$."));
  CHECK_FALSE(eq("\\text{No solution}", "one solution"));
  CHECK_FALSE(eq("1.5 \\text{ cups}", "15 cups"));
  CHECK(eq("10", "10 \\text{ cm}^2"));
  CHECK(eq("125", "125 miles"));
  CHECK(eq("C", "The answer is C."));
  CHECK(eq("(B) Paris", "B"));
  CHECK_FALSE(eq("A", "The answer is D"));
  CHECK_FALSE(eq("", "42"));
  CHECK_FALSE(eq("42", ""));
}

TEST_CASE("math safety: hostile inputs finish quickly and are wrong") {
  auto timed = [](const std::string& gold, const std::string& pred) {
    auto start = std::chrono::steady_clock::now();
    bool ok = verify_math(gold, pred).correct;
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    CHECK(ms < 2000);  // hang guard only; the real bound is config.deadline_ms
    return ok;
  };
  CHECK_FALSE(timed("1", "10^{10^{10}}"));
  CHECK_FALSE(timed("1", "(10^{10^{10}})!"));
  CHECK_FALSE(timed("1", std::string(100000, '(') + "1" + std::string(100000, ')')));
  CHECK_FALSE(timed("1", std::string(5000, '{') + "1" + std::string(5000, '}')));
  CHECK_FALSE(timed("1", "\\boxed{" + std::string(1 << 20, '9') + "}"));
  CHECK_FALSE(timed("1", std::string(1 << 20, 'x')));
  std::string chain;
  for (int i = 0; i < 20000; ++i) chain += "x^";
  CHECK_FALSE(timed("1", chain + "2"));
  std::string sum;
  for (int i = 0; i < 50000; ++i) sum += "\\sqrt{2}+";
  CHECK_FALSE(timed("1", sum + "1"));
}

TEST_CASE("math safety: concurrent checks agree with sequential ones") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"\\frac{1}{2}", "0.5"}, {"x^2+2x+1", "(x+1)^2"}, {"3", "4"}, {"[0,1)", "[0,1]"}, {"2\\sqrt{3}", "\\sqrt{12}"}};
  std::vector<bool> expected;
  for (const auto& [g, p] : cases) expected.push_back(eq(g, p));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(8, 0);
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&, t] {
      for (int round = 0; round < 200; ++round)
        for (std::size_t k = 0; k < cases.size(); ++k)
          if (eq(cases[k].first, cases[k].second) != expected[k]) ++mismatches[static_cast<std::size_t>(t)];
    });
  for (auto& th : threads) th.join();
  for (int m : mismatches) CHECK(m == 0);
  CHECK(expected == std::vector<bool>{true, true, false, false, true});
}

TEST_CASE("math config: every rule loads from TOML and prints back") {
  auto loaded = aha::config::load_string<math_verifier_config>(
      "require_boxed = true\ndecimal_min_digits = 4\nmax_exponent = 100\ndeadline_ms = 20\n");
  REQUIRE(loaded.ok());
  CHECK(loaded->require_boxed);
  CHECK(loaded->decimal_min_digits == 4);
  CHECK(loaded->max_exponent == 100u);
  CHECK(loaded->deadline_ms == 20.0);
  CHECK_FALSE(verify_math("4", "The answer is 4.", *loaded).correct);  // require_boxed
  std::string toml = aha::config::to_toml(*loaded);
  CHECK(toml.find("interval_gold_accepts_inequality") != std::string::npos);
  CHECK_FALSE(aha::config::load_string<math_verifier_config>("decimal_min_digit = 3\n").ok());  // typo is an error
}
