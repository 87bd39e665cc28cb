// Answer extraction for the math verifier (internal to rewards/): which part of a completion, or
// of a gold solution, is the answer. See math_extract.cpp for the order of the rules.
#pragma once

#include <string>
#include <string_view>

#include "rewards/math_verifier.hpp"

namespace aha::rewards::detail {

// A gold answer is never inside a <think> block, and a short gold string is taken whole;
// last_number skips straight to the last number of the prediction (the fallback rule).
enum class extract_role { gold, prediction, last_number };

bool has_prose_words(std::string_view text);
// Prose words or any non-ASCII text (other scripts): not a bare formula.
bool looks_like_prose(std::string_view text);
// The first number (or \frac{a}{b}) in a short answer sentence: "220 $ à payer d'ici 12 mois".
std::string first_number(std::string_view text);
std::string extract_from(std::string_view text, const math_verifier_config& config, extract_role role);

}  // namespace aha::rewards::detail
