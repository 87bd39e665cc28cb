// Rule-based rewards of R1's reasoning-RL stage besides accuracy: the template format reward
// (<think>…</think> then <answer>…</answer>, nothing outside) and language consistency (share
// of a completion's words written in the target language's script). Pure functions, no state.
// Tests: rewards/format_reward.test.cpp.
#pragma once

#include <string_view>

namespace aha::rewards {

enum class format_mode {
  // 1 when the completion is exactly: optional blanks, "<think>", non-empty reasoning,
  // "</think>", optional blanks, "<answer>", non-empty answer, "</answer>", optional blanks;
  // each tag exactly once. Otherwise 0.
  strict,
  // Partial credit, a quarter for each: reasoning closed by one "</think>" (the opening
  // "<think>" may be missing, as when the prompt ends with it); one <answer>…</answer> after
  // it; both parts non-empty; no text outside the tags.
  lenient,
};

// The format reward in [0, 1].
float format_reward(std::string_view completion, format_mode mode);

// Share in [0, 1] of the words of `text` written in the script of `language`. `language` is an
// ISO 639-1 code ("en", "zh", "ja", "ko", "ru", "ar", "hi", "fr", ...) or a script name
// ("latin", "cjk", "cyrillic", "arabic", "devanagari", "greek", "hebrew", "thai", "hangul").
// A word is a run of letters of one script; each CJK ideograph or kana counts as one word.
// LaTeX commands (\frac) and lone ASCII letters (math variables) are not counted. Text with
// no countable word scores 1 (nothing is in the wrong language); an unknown language scores 0.
float language_consistency(std::string_view text, std::string_view language);

}  // namespace aha::rewards
