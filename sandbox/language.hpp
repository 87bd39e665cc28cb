// The language table: how a program of each language is written into the box and started.
// Interpreters are named by absolute path (STACK.md: the PATH python3 may be a slow shim).
// A compiled language adds a compile step (compile_argv) that runs in the same box first.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace aha::sandbox {

struct language {
  std::string name;                       // key used by sandbox_request::language
  std::string source_path;                // where the source is written inside the box
  std::vector<std::string> compile_argv;  // empty for interpreted languages
  std::vector<std::string> run_argv;      // argv[0] absolute; request args are appended
};

// nullptr when the language is unknown.
const language* find_language(std::string_view name);
// Every known language, for error messages ("python, sh").
std::string language_names();

}  // namespace aha::sandbox
