// Self-revision detection (rewards/revision.hpp).
#include "rewards/revision.hpp"

#include <map>
#include <string>

namespace aha::rewards {
namespace {

std::string_view thinking_of(std::string_view text) {
  auto open = text.find("<think>");
  if (open == std::string_view::npos) return text;
  auto start = open + 7;
  auto close = text.find("</think>", start);
  return text.substr(start, close == std::string_view::npos ? std::string_view::npos : close - start);
}

std::string lowered(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return out;
}

bool has_revision_word(const std::string& text) {
  static constexpr const char* kWords[] = {"wait",      "recheck",  "re-check", "let me check", "let me verify",
                                           "actually",  "mistake",  "correction", "double-check", "重新", "等等",
                                           "检查一下"};
  for (const char* w : kWords) {
    if (text.find(w) != std::string::npos) return true;
  }
  return false;
}

// Steps are "lhs=rhs" separated by ',' or white space; the same lhs with another rhs is a redo.
bool has_recomputed_step(std::string_view text) {
  std::map<std::string_view, std::string_view> seen;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find_first_of(", \n", start);
    if (end == std::string_view::npos) end = text.size();
    auto step = text.substr(start, end - start);
    auto eq = step.find('=');
    if (eq != std::string_view::npos && eq > 0 && eq + 1 < step.size()) {
      auto [it, fresh] = seen.emplace(step.substr(0, eq), step.substr(eq + 1));
      if (!fresh && it->second != step.substr(eq + 1)) return true;
    }
    start = end + 1;
  }
  return false;
}

}  // namespace

bool revises_itself(std::string_view completion) {
  auto thinking = thinking_of(completion);
  return has_revision_word(lowered(thinking)) || has_recomputed_step(thinking);
}

}  // namespace aha::rewards
