// The R1 template format reward, strict and lenient; see format_reward.hpp.
#include "rewards/format_reward.hpp"

#include "rewards/ascii.hpp"

#include <string>

namespace aha::rewards {
namespace {

constexpr std::string_view kThinkOpen = "<think>", kThinkClose = "</think>";
constexpr std::string_view kAnswerOpen = "<answer>", kAnswerClose = "</answer>";

std::size_t count(std::string_view s, std::string_view tag) {
  std::size_t n = 0;
  for (std::size_t at = s.find(tag); at != std::string_view::npos; at = s.find(tag, at + tag.size())) ++n;
  return n;
}

bool blank(std::string_view s) {
  for (char c : s) if (!ascii::is_space(c)) return false;
  return true;
}

// Where the parts of the template are, when each tag occurs at most once.
struct layout {
  bool tags_once = false;       // every tag at most once, and </think>, <answer>, </answer> present
  bool think_opened = false;    // "<think>" present, before "</think>"
  bool answer_after_think = false;
  std::string_view before, think, between, answer, after;
};

layout locate(std::string_view s) {
  layout l;
  if (count(s, kThinkOpen) > 1 || count(s, kThinkClose) != 1 || count(s, kAnswerOpen) != 1 ||
      count(s, kAnswerClose) != 1)
    return l;
  l.tags_once = true;
  std::size_t open = s.find(kThinkOpen), close = s.find(kThinkClose);
  std::size_t a_open = s.find(kAnswerOpen), a_close = s.find(kAnswerClose);
  l.think_opened = open != std::string_view::npos && open < close;
  std::size_t think_begin = l.think_opened ? open + kThinkOpen.size() : 0;
  l.before = l.think_opened ? s.substr(0, open) : std::string_view();
  l.think = s.substr(think_begin, close - think_begin);
  l.answer_after_think = close < a_open && a_open < a_close;
  if (!l.answer_after_think) return l;
  std::size_t think_end = close + kThinkClose.size(), answer_begin = a_open + kAnswerOpen.size();
  l.between = s.substr(think_end, a_open - think_end);
  l.answer = s.substr(answer_begin, a_close - answer_begin);
  l.after = s.substr(a_close + kAnswerClose.size());
  return l;
}

}  // namespace

float format_reward(std::string_view completion, format_mode mode) {
  layout l = locate(completion);
  bool reasoning_closed = l.tags_once;
  bool answer_placed = l.tags_once && l.answer_after_think;
  bool non_empty = answer_placed && !blank(l.think) && !blank(l.answer);
  bool nothing_outside = answer_placed && blank(l.before) && blank(l.between) && blank(l.after);
  if (mode == format_mode::strict)
    return l.think_opened && reasoning_closed && answer_placed && non_empty && nothing_outside ? 1.0f : 0.0f;
  return 0.25f * (static_cast<float>(reasoning_closed) + static_cast<float>(answer_placed) +
                  static_cast<float>(non_empty) + static_cast<float>(nothing_outside));
}

}  // namespace aha::rewards
