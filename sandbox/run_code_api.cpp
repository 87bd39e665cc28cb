// SandboxFusion's /run_code request and response (see run_code_api.hpp).
#include "sandbox/run_code_api.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <random>

#include "sandbox/language.hpp"

namespace aha::sandbox {
namespace {

using nlohmann::json;

constexpr double kDefaultTimeoutSeconds = 10;  // SandboxFusion's default run_timeout and compile_timeout
constexpr const char* kTimeout = "/usr/bin/timeout";
constexpr int kTimeoutExit = 124;  // GNU timeout's exit status when the time ran out
constexpr const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// The sandbox's table, except the shells: the launcher itself is the table's `sh` program at
// /tmp/main.sh (owned by the box's root, so it cannot be replaced), hence another path; and
// `bash`, which the table lacks.
const language* find_api_language(const std::string& name) {
  static const language sh{"sh", "/tmp/code.sh", {}, {"/bin/sh", "/tmp/code.sh"}};
  static const language bash{"bash", "/tmp/code.sh", {}, {"/bin/bash", "/tmp/code.sh"}};
  return name == "sh" ? &sh : name == "bash" ? &bash : find_language(name);
}

error bad(const std::string& message) { return make_error(errc::invalid_argument, message); }

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string base64_encode(const std::string& bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    std::uint32_t n = static_cast<unsigned char>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 1]) << 8;
    if (i + 2 < bytes.size()) n |= static_cast<unsigned char>(bytes[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < bytes.size() ? kAlphabet[n & 63] : '=';
  }
  return out;
}

// Standard base64 with padding, as SandboxFusion's clients send it (no line breaks).
bool valid_base64(const std::string& s) {
  if (s.size() % 4 != 0) return false;
  const std::size_t pad = s.size() >= 2 && s.end()[-2] == '=' ? 2 : !s.empty() && s.back() == '=' ? 1 : 0;
  return std::all_of(s.begin(), s.end() - pad, [](char c) { return c && std::strchr(kAlphabet, c); });
}

// A path the request names, as a path inside the box: relative to /tmp (the program's working
// directory) or absolute under /tmp; no "..", no empty or "." components.
result<std::string> box_path(const std::string& field, const std::string& path) {
  const std::string rel = path.rfind("/tmp/", 0) == 0 ? path.substr(5) : path;
  const std::string why = field + ": '" + path + "' must be a path relative to /tmp (or under /tmp/) without '..'";
  if (rel.empty() || rel[0] == '/' || rel.back() == '/' ||
      rel.find_first_of(std::string("\0\n", 2)) != std::string::npos) {
    return bad(why);
  }
  for (std::size_t start = 0; start <= rel.size();) {
    const std::size_t end = std::min(rel.find('/', start), rel.size());
    const std::string part = rel.substr(start, end - start);
    if (part.empty() || part == "." || part == "..") return bad(why);
    start = end + 1;
  }
  return "/tmp/" + rel;
}

std::string random_marker() {
  std::random_device device;
  std::string marker = "AHA";
  for (int i = 0; i < 4; ++i) {
    char hex[9];
    std::snprintf(hex, sizeof hex, "%08x", device());
    marker += hex;
  }
  return marker;
}

// A number field in seconds (absent or null: the default), as milliseconds clamped to `max_ms`.
result<std::uint32_t> timeout_ms(const json& body, const char* key, std::uint32_t max_ms) {
  double seconds = kDefaultTimeoutSeconds;
  if (body.contains(key) && !body[key].is_null()) {
    if (!body[key].is_number()) return bad(std::string(key) + " must be a number of seconds");
    seconds = body[key].get<double>();
  }
  if (!(seconds > 0)) return bad(std::string(key) + " must be > 0 seconds");
  return static_cast<std::uint32_t>(std::min<double>(std::ceil(seconds * 1000), max_ms));
}

result<std::vector<std::string>> string_list(const json& body, const char* key) {
  std::vector<std::string> out;
  if (!body.contains(key) || body[key].is_null()) return out;
  if (!body[key].is_array()) return bad(std::string(key) + " must be a list of strings");
  for (const auto& item : body[key]) {
    if (!item.is_string()) return bad(std::string(key) + " must be a list of strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

// The launcher: 1. write the files 2. write the source 3. compile 4. run 5. print fetch_files.
// Every payload travels as base64 in a quoted here-document, so no byte of it is interpreted.
struct launcher {
  std::string script =
      "aha_write() { case \"$1\" in */*) mkdir -p \"${1%/*}\" || return 1;; esac; "
      "base64 -d > \"$1\"; }\n";
  std::string marker;

  void write(const std::string& path, const std::string& base64) {
    script += "aha_write " + quote(path) + " <<'" + marker + "' || { echo " + quote("aha: cannot write " + path) +
              " >&2; exit 1; }\n" + base64 + "\n" + marker + "\n";
  }
  static std::string command(const std::vector<std::string>& argv) {
    std::string line;
    for (const auto& word : argv) line += (line.empty() ? "" : " ") + quote(word);
    return line;
  }
  void compile(const std::vector<std::string>& argv) {
    // The marker line on stderr ends the compiler's output and carries its exit code.
    script += command(argv) + "\nrc=$?\nprintf '\\n%s %d\\n' " + quote(marker) + " \"$rc\" >&2\n" +
              "[ \"$rc\" -eq 0 ] || exit \"$rc\"\n";
  }
  // The shell reports a program killed by a signal ("Segmentation fault") on its fd 2 as it is
  // during the wait: in a subshell the program gets the real stderr (kept as fd 4) while the
  // waiting shell's fd 2 is /dev/null.
  void run(const std::vector<std::string>& argv) {
    script += "exec 4>&2 2>/dev/null\n(exec " + command(argv) + " 2>&4 4>&-)\nrc=$?\nexec 2>&4 4>&-\n";
  }
  void fetch(const std::vector<std::string>& paths) {
    script += "printf '\\n%s\\n' " + quote(marker) + "\n";
    for (const auto& p : paths) {
      script += "if [ -f " + quote(p) + " ]; then printf +; base64 -w0 " + quote(p) + "; echo; else echo -; fi\n";
    }
  }
};

result<std::string> string_field(const json& body, const char* key, bool required) {
  if (!body.contains(key) || body[key].is_null()) {
    if (required) return bad(std::string("missing field '") + key + "'");
    return std::string();
  }
  if (!body[key].is_string()) return bad(std::string(key) + " must be a string");
  return body[key].get<std::string>();
}

// memory_limit_MB: absent, null or <= 0 = the server's default (0 in the request), else MiB.
result<std::uint64_t> memory_bytes(const json& body, std::uint64_t max_bytes) {
  if (!body.contains("memory_limit_MB") || body["memory_limit_MB"].is_null()) return std::uint64_t{0};
  if (!body["memory_limit_MB"].is_number())
    return bad("memory_limit_MB must be a number of MiB (-1: the server's default)");
  const double mib = body["memory_limit_MB"].get<double>();
  if (!(mib > 0)) return std::uint64_t{0};
  return static_cast<std::uint64_t>(std::min(mib * 1048576.0, static_cast<double>(max_bytes)));
}

// files: {path: base64 or null}; null writes nothing, as in SandboxFusion.
status write_files(launcher& l, const json& body) {
  if (!body.contains("files") || body["files"].is_null()) return ok_t{};
  if (!body["files"].is_object()) return bad("files must be an object {path: base64 content}");
  for (const auto& [path, content] : body["files"].items()) {
    auto target = box_path("files", path);
    if (!target) return target.error();
    if (content.is_null()) continue;
    if (!content.is_string() || !valid_base64(content.get<std::string>())) {
      return bad("files: the content of '" + path + "' must be a base64 string");
    }
    l.write(*target, content.get<std::string>());
  }
  return ok_t{};
}

}  // namespace

std::string run_code_languages() { return language_names() + ", bash"; }

result<run_code_plan> plan_run_code(const json& body, const run_limits& max) {
  if (!body.is_object()) return bad("the body must be a JSON object with at least 'code' and 'language'");
  // 1. Fields.
  auto code = string_field(body, "code", true);
  auto language_name = string_field(body, "language", true);
  auto stdin_data = string_field(body, "stdin", false);
  for (const auto* field : {&code, &language_name, &stdin_data}) {
    if (!*field) return field->error();
  }
  const language* lang = find_api_language(*language_name);
  if (!lang) return bad("unknown language '" + *language_name + "'; this server runs: " + run_code_languages());
  run_code_plan plan;
  plan.compiled = !lang->compile_argv.empty();
  plan.marker = random_marker();
  auto run_ms = timeout_ms(body, "run_timeout", max.wall_ms);
  auto compile_ms = timeout_ms(body, "compile_timeout", max.wall_ms);
  if (!run_ms) return run_ms.error();
  if (!compile_ms) return compile_ms.error();
  auto fetch = string_list(body, "fetch_files");
  auto args = string_list(body, "args");
  if (!fetch) return fetch.error();
  if (!args) return args.error();
  auto memory = memory_bytes(body, max.memory_bytes);
  if (!memory) return memory.error();
  // 2. The launcher.
  launcher l;
  l.marker = plan.marker;
  if (auto written = write_files(l, body); !written) return written.error();
  l.write(lang->source_path, base64_encode(*code));
  if (plan.compiled) l.compile(lang->compile_argv);
  // A compiled program gets its own run_timeout (GNU timeout: exit 124 when it struck), since the
  // box's wall limit covers compile and run together.
  std::vector<std::string> run_argv;
  if (plan.compiled) run_argv = {kTimeout, "-k", "1", std::to_string(*run_ms / 1000.0)};
  run_argv.insert(run_argv.end(), lang->run_argv.begin(), lang->run_argv.end());
  run_argv.insert(run_argv.end(), args->begin(), args->end());
  l.run(run_argv);
  if (!fetch->empty()) {
    std::vector<std::string> targets;
    for (const auto& path : *fetch) {
      auto target = box_path("fetch_files", path);
      if (!target) return target.error();
      targets.push_back(*target);
    }
    l.fetch(targets);
    plan.fetch_files = std::move(*fetch);
  }
  l.script += "exit \"$rc\"\n";
  // 3. The run: a compiled language's box gets compile_timeout + run_timeout (+ timeout's 1 s grace).
  protocol::sandbox_request& r = plan.request;
  r.language = "sh";
  r.source = std::move(l.script);
  r.stdin_data = std::move(*stdin_data);
  r.wall_ms = std::min<std::uint64_t>(*run_ms + (plan.compiled ? *compile_ms + 1000 : 0), max.wall_ms);
  r.cpu_ms = std::min(r.wall_ms, max.cpu_ms);
  r.memory_bytes = *memory;
  r.output_bytes = max.output_bytes;
  return plan;
}

namespace {

std::int64_t return_code(const protocol::sandbox_reply& reply) {
  return reply.signal != 0 ? -reply.signal : reply.exit_code;
}

json command_result(const char* status, std::optional<std::int64_t> code, std::string out, std::string err,
                    std::optional<double> seconds, std::optional<double> cpu_seconds) {
  return json{{"status", status},
              {"return_code", code ? json(*code) : json(nullptr)},
              {"stdout", std::move(out)},
              {"stderr", std::move(err)},
              {"execution_time", seconds ? json(*seconds) : json(nullptr)},
              {"cpu_time", cpu_seconds ? json(*cpu_seconds) : json(nullptr)}};
}

// Splits the fetch_files block off the end of stdout; the files found, keyed as requested.
json take_fetched(const run_code_plan& plan, std::string& out) {
  json files = json::object();
  if (plan.fetch_files.empty()) return files;
  const std::string head = "\n" + plan.marker + "\n";
  const std::size_t at = out.rfind(head);     // the last: the program may print the marker too
  if (at == std::string::npos) return files;  // the run ended early or its output was cut
  std::string block = out.substr(at + head.size());
  out.resize(at);
  std::size_t pos = 0;
  for (const auto& path : plan.fetch_files) {
    const std::size_t end = block.find('\n', pos);
    if (end == std::string::npos) break;
    if (block[pos] == '+') files[path] = block.substr(pos + 1, end - pos - 1);
    pos = end + 1;
  }
  return files;
}

}  // namespace

json run_code_response(const run_code_plan& plan, const protocol::sandbox_reply& reply) {
  using protocol::run_status;
  json response{{"status", "Failed"},           {"message", ""},
                {"compile_result", nullptr},    {"run_result", nullptr},
                {"executor_pod_name", nullptr}, {"files", json::object()}};
  if (reply.status == run_status::sandbox_error) {
    response["status"] = "SandboxError";
    response["message"] = reply.error;
    return response;
  }
  std::string out = reply.stdout_data, err = reply.stderr_data;
  response["files"] = take_fetched(plan, out);
  bool timed_out = reply.status == run_status::time_limit;
  const double seconds = reply.wall_ms / 1000.0, cpu_seconds = reply.cpu_ms / 1000.0;
  // A compiled language: the compiler's stderr ends at the first marker line, which carries its
  // exit code; no marker means the run ended while compiling.
  if (plan.compiled) {
    const std::string head = "\n" + plan.marker + " ";
    const std::size_t at = err.find(head);
    if (at == std::string::npos) {
      response["compile_result"] = command_result(
          timed_out ? "TimeLimitExceeded" : "Finished",
          timed_out ? std::nullopt : std::optional<std::int64_t>(return_code(reply)), out, err, seconds, cpu_seconds);
      return response;
    }
    const std::size_t line_end = err.find('\n', at + head.size());
    const std::int64_t compile_code = std::atoll(err.c_str() + at + head.size());
    response["compile_result"] =
        command_result("Finished", compile_code, "", err.substr(0, at), std::nullopt, std::nullopt);
    err = line_end == std::string::npos ? std::string() : err.substr(line_end + 1);
    if (compile_code != 0) return response;
  }
  if (plan.compiled && reply.status == run_status::runtime_error && reply.exit_code == kTimeoutExit) timed_out = true;
  response["run_result"] = command_result(timed_out ? "TimeLimitExceeded" : "Finished",
                                          timed_out ? std::nullopt : std::optional<std::int64_t>(return_code(reply)),
                                          std::move(out), std::move(err), seconds, cpu_seconds);
  if (reply.status == run_status::ok) response["status"] = "Success";
  if (reply.status == run_status::memory_limit) response["message"] = "memory limit exceeded";
  if (reply.status == run_status::output_limit) response["message"] = "output limit exceeded: stdout/stderr were cut";
  return response;
}

}  // namespace aha::sandbox
