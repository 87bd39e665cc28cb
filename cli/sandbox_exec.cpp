// `aha sandbox exec PROGRAM [--language L] [--time-limit S] [--wall-limit S] [--memory-limit MIB]
// [--output-limit BYTES] [--stdin FILE] [-- ARGS...]`: runs one program in the sandbox and prints
// its verdict as one JSON object (status, exit_code, signal, stdout, stderr, cpu_ms, wall_ms...).
// The language follows the extension (.py python, .sh sh, .cpp cpp) unless --language says.
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/command.hpp"
#include "sandbox/executor.hpp"
#include "sandbox/reply_json.hpp"

namespace {

constexpr const char* kName = "sandbox exec";

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream text;
  text << in.rdbuf();
  out = text.str();
  return true;
}

std::string language_of(const std::string& path) {
  auto dot = path.rfind('.');
  std::string ext = dot == std::string::npos ? "" : path.substr(dot + 1);
  return ext == "sh" ? "sh" : ext == "cpp" || ext == "cc" ? "cpp" : "python";
}

// Seconds (may be fractional) to milliseconds; false when not a positive number.
bool seconds_to_ms(const std::optional<std::string>& text, std::uint32_t& ms) {
  if (!text) return true;
  try {
    double s = std::stod(*text);
    if (!(s > 0 && s < 86400)) return false;
    ms = static_cast<std::uint32_t>(s * 1000 + 0.5);
    return true;
  } catch (...) {
    return false;
  }
}

int sandbox_exec(aha::cli::arguments& args) {
  aha::protocol::sandbox_request request;
  auto language = args.option("--language");
  auto time_limit = args.option("--time-limit"), wall_limit = args.option("--wall-limit");
  auto memory = args.option("--memory-limit"), output = args.option("--output-limit");
  auto stdin_file = args.option("--stdin");
  auto positionals = args.positionals();
  if (!args.unknown_options().empty()) return aha::cli::usage_error(kName, args.unknown_options());
  if (positionals.size() != 1) return aha::cli::usage_error(kName, "expected one PROGRAM file");
  if (!read_file(positionals[0], request.source)) return aha::cli::usage_error(kName, "cannot read " + positionals[0]);
  if (stdin_file && !read_file(*stdin_file, request.stdin_data)) {
    return aha::cli::usage_error(kName, "cannot read --stdin " + *stdin_file);
  }
  request.language = language ? *language : language_of(positionals[0]);
  if (!seconds_to_ms(time_limit, request.cpu_ms) || !seconds_to_ms(wall_limit, request.wall_ms)) {
    return aha::cli::usage_error(kName, "--time-limit/--wall-limit take seconds, e.g. 2 or 0.5");
  }
  if (!wall_limit && time_limit) request.wall_ms = request.cpu_ms * 2 + 1000;
  try {
    if (memory) request.memory_bytes = std::stoull(*memory) << 20;
    if (output) request.output_bytes = std::stoull(*output);
  } catch (...) {
    return aha::cli::usage_error(kName, "--memory-limit takes MiB and --output-limit bytes (integers)");
  }
  request.args = args.passthrough();
  aha::sandbox::sandbox_config config;
  config.warm = false;  // one run: starting a warm interpreter would cost more than it saves
  auto sandbox = aha::sandbox::executor::create(config);
  if (!sandbox) {
    std::cerr << "aha sandbox exec: " << sandbox.error().message << "\n";
    return 1;
  }
  std::cout << aha::sandbox::dump_json(aha::sandbox::to_json((*sandbox)->run(request))) << "\n";
  return 0;
}

}  // namespace

AHA_COMMAND("sandbox exec", "run one program in the sandbox and print its verdict as JSON", sandbox_exec);
