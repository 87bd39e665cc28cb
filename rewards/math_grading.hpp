// One JSONL record of `aha grade math` in, one JSON verdict line out. Kept in rewards/ so that
// the command stays a thin loop and the record handling is unit-tested (math_grading.test.cpp).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "rewards/math_verifier.hpp"

namespace aha::rewards {

// `record` is one line: {"gold": ..., "pred": ...} (strings; numbers are accepted and written
// as JSON numbers). Returns one line of JSON without the newline:
//   {"line":N,"correct":true,"extracted":"...","reason":"..."}
// or, for a malformed record, {"line":N,"error":"..."} naming what is wrong. Never throws.
std::string grade_math_record(std::string_view record, std::size_t line_number, const math_verifier_config& config);

}  // namespace aha::rewards
