// `aha`: the command-line entry point. Dispatches to the command whose name matches the most
// leading words (`aha sandbox exec ...` -> "sandbox exec"); `aha --help` lists them all.
#include <algorithm>
#include <iostream>
#include <sstream>

#include "cli/command.hpp"

namespace {

int print_help(std::ostream& out) {
  out << "aha — asynchronous GRPO training in C++\n\nusage: aha COMMAND [ARGS...]\n\ncommands:\n";
  auto sorted = aha::cli::commands();
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  std::size_t width = 0;
  for (const auto& c : sorted) width = std::max(width, c.name.size());
  for (const auto& c : sorted) {
    out << "  " << c.name << std::string(width + 2 - c.name.size(), ' ') << c.summary << "\n";
  }
  return 0;
}

// How many leading words of `argv` spell `name`.
std::size_t match_length(const std::string& name, const std::vector<std::string>& words) {
  std::istringstream parts(name);
  std::string part;
  std::size_t n = 0;
  while (parts >> part) {
    if (n >= words.size() || words[n] != part) return 0;
    ++n;
  }
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> words(argv + 1, argv + argc);
  if (words.empty() || words[0] == "--help" || words[0] == "-h" || words[0] == "help") {
    return print_help(words.empty() ? std::cerr : std::cout) + (words.empty() ? 2 : 0);
  }
  const aha::cli::command* best = nullptr;
  std::size_t best_length = 0;
  for (const auto& c : aha::cli::commands()) {
    std::size_t n = match_length(c.name, words);
    if (n > best_length) best = &c, best_length = n;
  }
  if (!best) {
    std::cerr << "aha: unknown command '" << words[0] << "'; run `aha --help` for the list\n";
    return 2;
  }
  aha::cli::arguments args(std::vector<std::string>(words.begin() + static_cast<std::ptrdiff_t>(best_length), words.end()));
  try {
    return best->run(args);
  } catch (const std::exception& e) {
    std::cerr << "aha " << best->name << ": " << e.what() << "\n";
    return 1;
  }
}
