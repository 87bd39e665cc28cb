// Tests of the format reward (strict and lenient) and of language consistency.
#include "rewards/format_reward.hpp"

#include <catch2/catch.hpp>

using aha::rewards::format_mode;
using aha::rewards::format_reward;
using aha::rewards::language_consistency;

TEST_CASE("format: strict accepts exactly the R1 template") {
  CHECK(format_reward("<think>\n2+2=4\n</think>\n<answer>\n4\n</answer>", format_mode::strict) == 1.0f);
  CHECK(format_reward("  <think>a</think><answer>b</answer>\n", format_mode::strict) == 1.0f);
  CHECK(format_reward("<think>a</think>text<answer>b</answer>", format_mode::strict) == 0.0f);
  CHECK(format_reward("<think>a</think><answer>b</answer> trailing", format_mode::strict) == 0.0f);
  CHECK(format_reward("preamble <think>a</think><answer>b</answer>", format_mode::strict) == 0.0f);
  CHECK(format_reward("<think></think><answer>b</answer>", format_mode::strict) == 0.0f);
  CHECK(format_reward("<think>a</think><answer> </answer>", format_mode::strict) == 0.0f);
  CHECK(format_reward("<think>a</think><answer>b</answer><answer>c</answer>", format_mode::strict) == 0.0f);
  CHECK(format_reward("<answer>b</answer><think>a</think>", format_mode::strict) == 0.0f);
  CHECK(format_reward("a</think><answer>b</answer>", format_mode::strict) == 0.0f);  // no <think>
  CHECK(format_reward("", format_mode::strict) == 0.0f);
}

TEST_CASE("format: lenient gives a quarter per satisfied rule") {
  CHECK(format_reward("<think>a</think><answer>b</answer>", format_mode::lenient) == 1.0f);
  CHECK(format_reward("a</think><answer>b</answer>", format_mode::lenient) == 1.0f);  // <think> in the prompt
  CHECK(format_reward("<think>a</think> so <answer>b</answer>", format_mode::lenient) == 0.75f);
  CHECK(format_reward("<think>a</think><answer></answer>", format_mode::lenient) == 0.75f);
  CHECK(format_reward("<think>a</think> the answer is 4", format_mode::lenient) == 0.0f);
  CHECK(format_reward("<answer>b</answer><think>a</think>", format_mode::lenient) == 0.25f);
  CHECK(format_reward("no tags at all", format_mode::lenient) == 0.0f);
}

TEST_CASE("language: share of words in the target script") {
  CHECK(language_consistency("The answer is clearly four.", "en") == 1.0f);
  CHECK(language_consistency("答案是四", "zh") == 1.0f);
  CHECK(language_consistency("答案是四", "en") == 0.0f);
  // Two Latin words and two ideographs: half in each language.
  CHECK(language_consistency("hello world 你好", "zh") == Approx(0.5f));
  CHECK(language_consistency("Ответ равен четырем", "ru") == 1.0f);
  CHECK(language_consistency("Ответ равен четырем", "latin") == 0.0f);
  CHECK(language_consistency("الجواب هو أربعة", "ar") == 1.0f);
  CHECK(language_consistency("これはペンです", "ja") == 1.0f);
  CHECK(language_consistency("정답은 사입니다", "ko") == 1.0f);
}

TEST_CASE("language: math, LaTeX and variables are not words") {
  CHECK(language_consistency("因此 $x = \\frac{1}{2}$", "zh") == 1.0f);
  CHECK(language_consistency("12345 + 678 = ?", "zh") == 1.0f);  // no words at all
  CHECK(language_consistency("text", "klingon") == 0.0f);
  // Invalid UTF-8 must not crash or count.
  CHECK(language_consistency(std::string("\xff\xfe\xc3", 3), "en") == 1.0f);
}
