// The `aha` command registry. Each command lives in its own file (cli/*.cpp or bench/*.cpp) and
// registers itself with AHA_COMMAND; main() dispatches on the longest matching command name, so
// adding a command never touches main.cpp.
//
//   static int grade_math(aha::cli::arguments& args) { ... return 0; }
//   AHA_COMMAND("grade math", "check answers in a JSONL file, one verdict per line", grade_math);
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aha::cli {

// The words after the command name. Options are `--name VALUE`, `--name=VALUE` or `--flag`;
// everything after `--` is passed through untouched.
class arguments {
 public:
  explicit arguments(std::vector<std::string> words);

  // Takes `--name VALUE` / `--name=VALUE` out of the arguments (the last one wins).
  std::optional<std::string> option(std::string_view name);
  // Takes every occurrence of a repeatable option (e.g. `--set k=v --set k2=v2`).
  std::vector<std::string> options(std::string_view name);
  // Takes a `--flag` without a value; true when present.
  bool flag(std::string_view name);
  // Words after `--`.
  const std::vector<std::string>& passthrough() const { return passthrough_; }
  // Positional words left after options were taken. Call after taking every option: a word
  // that still starts with "--" is an unknown option and is reported by finish().
  std::vector<std::string> positionals() const;
  // Empty when every option was recognised; else one line naming the first unknown option.
  std::string unknown_options() const;

 private:
  std::vector<std::string> words_;
  std::vector<std::string> passthrough_;
};

struct command {
  std::string name;     // words, e.g. "sandbox exec"
  std::string summary;  // one line for `aha --help`
  int (*run)(arguments& args);
};

// Registers at static-initialisation time; returns true so it can initialise a static.
bool register_command(command c);
const std::vector<command>& commands();

// Prints "aha <name>: <message>" to stderr and returns the usage-error exit code (2).
int usage_error(std::string_view name, std::string_view message);

}  // namespace aha::cli

#define AHA_CONCAT_INNER(a, b) a##b
#define AHA_CONCAT(a, b) AHA_CONCAT_INNER(a, b)
#define AHA_COMMAND(name, summary, function) \
  static const bool AHA_CONCAT(aha_command_registered_, __LINE__) = ::aha::cli::register_command({name, summary, function})
