// The built-in language table (see language.hpp).
#include "sandbox/language.hpp"

namespace aha::sandbox {
namespace {

const std::vector<language>& table() {
  static const std::vector<language> languages = {
      // -I: ignore PYTHON* variables and the user site; -B: never write .pyc (the system is read-only).
      {"python", "/tmp/main.py", {}, {"/usr/bin/python3", "-I", "-B", "/tmp/main.py"}},
      {"sh", "/tmp/main.sh", {}, {"/bin/sh", "/tmp/main.sh"}},
      // C++: compiled inside the same box before the run, by the /bin/sh wrapper, so compiler and
      // program share the limits. The compiler's diagnostics land on stderr.
      {"cpp", "/tmp/main.cpp", {"/usr/bin/g++", "-O2", "-o", "/tmp/main", "/tmp/main.cpp"}, {"/tmp/main"}},
  };
  return languages;
}

}  // namespace

const language* find_language(std::string_view name) {
  for (const auto& l : table()) {
    if (l.name == name) return &l;
  }
  return nullptr;
}

std::string language_names() {
  std::string names;
  for (const auto& l : table()) names += (names.empty() ? "" : ", ") + l.name;
  return names;
}

}  // namespace aha::sandbox
