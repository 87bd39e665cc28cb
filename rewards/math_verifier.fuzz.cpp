// libFuzzer target for verify_math: the input is split at the first newline into gold and
// completion. Finds crashes, sanitizer reports and hangs (libFuzzer -timeout) on hostile LaTeX.
// Built and run by CTest as fuzz.math_verifier_fuzz (see rewards/CMakeLists.txt, AHA_FUZZ=ON).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "rewards/math_verifier.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::size_t cut = input.find('\n');
  std::string_view gold = cut == std::string_view::npos ? input.substr(0, size / 2) : input.substr(0, cut);
  std::string_view pred = cut == std::string_view::npos ? input.substr(size / 2) : input.substr(cut + 1);
  aha::rewards::math_verifier_config config;
  config.deadline_ms = 200;  // sanitizers slow everything down ~10x
  auto verdict = aha::rewards::verify_math(gold, pred, config);
  auto again = aha::rewards::verify_math(gold, pred, config);
  // Determinism: the same input gives the same verdict (no hidden state between calls), unless
  // a deadline cut one of them short.
  if (verdict.correct != again.correct && verdict.reason != "budget exhausted" && again.reason != "budget exhausted")
    __builtin_trap();
  return 0;
}
