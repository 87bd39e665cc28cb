// The command registry and argument helpers (cli/command.hpp).
#include "cli/command.hpp"

#include <iostream>

namespace aha::cli {

arguments::arguments(std::vector<std::string> words) {
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (words[i] == "--") {
      passthrough_.assign(words.begin() + static_cast<std::ptrdiff_t>(i) + 1, words.end());
      break;
    }
    words_.push_back(words[i]);
  }
}

std::vector<std::string> arguments::options(std::string_view name) {
  std::vector<std::string> values;
  std::string prefix = std::string(name) + "=";
  for (std::size_t i = 0; i < words_.size();) {
    if (words_[i] == name && i + 1 < words_.size()) {
      values.push_back(words_[i + 1]);
      words_.erase(words_.begin() + static_cast<std::ptrdiff_t>(i), words_.begin() + static_cast<std::ptrdiff_t>(i) + 2);
    } else if (words_[i].rfind(prefix, 0) == 0) {
      values.push_back(words_[i].substr(prefix.size()));
      words_.erase(words_.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  return values;
}

std::optional<std::string> arguments::option(std::string_view name) {
  auto values = options(name);
  if (values.empty()) return std::nullopt;
  return values.back();
}

bool arguments::flag(std::string_view name) {
  bool present = false;
  for (std::size_t i = 0; i < words_.size();) {
    if (words_[i] == name) {
      present = true;
      words_.erase(words_.begin() + static_cast<std::ptrdiff_t>(i));
    } else {
      ++i;
    }
  }
  return present;
}

std::vector<std::string> arguments::positionals() const {
  std::vector<std::string> out;
  for (const auto& w : words_) {
    if (w.rfind("--", 0) != 0) out.push_back(w);
  }
  return out;
}

std::string arguments::unknown_options() const {
  for (const auto& w : words_) {
    if (w.rfind("--", 0) == 0) return "unknown option '" + w + "'";
  }
  return {};
}

static std::vector<command>& registry() {
  static std::vector<command> all;
  return all;
}

bool register_command(command c) {
  registry().push_back(std::move(c));
  return true;
}

const std::vector<command>& commands() { return registry(); }

int usage_error(std::string_view name, std::string_view message) {
  std::cerr << "aha " << name << ": " << message << "\n";
  return 2;
}

}  // namespace aha::cli
