// Built-in prompts in other languages (actors/tasks/phrasing.hpp).
#include "actors/tasks/phrasing.hpp"

#include <array>

namespace aha::actors::tasks {
namespace {

struct phrase {
  const char* language;
  const char* calculate;  // arithmetic and addition: "work out <expression>="
  const char* reach;      // countdown: "reach the target with <numbers>"
};
// English is the bare prompt (the tasks' own format since the first runs).
constexpr std::array<phrase, 4> kPhrases{{{"en", "", ""},
                                          {"fr", "Calcule ", "Trouve "},
                                          {"de", "Rechne ", "Finde "},
                                          {"es", "Calcula ", "Encuentra "}}};

bool builtin(std::string_view task) { return task == "arithmetic" || task == "addition" || task == "countdown"; }

std::string_view phrase_of(const phrase& p, std::string_view task) { return task == "countdown" ? p.reach : p.calculate; }

}  // namespace

const std::vector<std::string>& phrasing_languages() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (const auto& p : kPhrases) out.emplace_back(p.language);
    return out;
  }();
  return names;
}

std::string pose(std::string_view task, std::string_view language, std::string& text) {
  for (const auto& p : kPhrases) {
    if (language == p.language) {
      text = std::string(phrase_of(p, task)) + text;
      return {};
    }
  }
  std::string valid;
  for (const auto& name : phrasing_languages()) valid += (valid.empty() ? "" : ", ") + name;
  return "built-in tasks have no phrasing in language '" + std::string(language) + "' (valid: " + valid + ")";
}

std::string_view unposed(std::string_view task, std::string_view text) {
  if (!builtin(task)) return text;
  for (const auto& p : kPhrases) {
    const std::string_view prefix = phrase_of(p, task);
    if (!prefix.empty() && text.substr(0, prefix.size()) == prefix) return text.substr(prefix.size());
  }
  return text;
}

}  // namespace aha::actors::tasks
