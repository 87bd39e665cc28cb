// Answer extraction for the math verifier (internal to rewards/): which part of a completion, or
// of a gold solution, is the answer. See math_extract.cpp for the order of the rules.
#pragma once

#include <string>
#include <string_view>

#include "rewards/math_verifier.hpp"

namespace aha::rewards::detail {

// A gold answer is never inside a <think> block, and a short gold string is taken whole.
enum class extract_role { gold, prediction };

std::string extract_from(std::string_view text, const math_verifier_config& config, extract_role role);

}  // namespace aha::rewards::detail
