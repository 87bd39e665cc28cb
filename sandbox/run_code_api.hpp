// SandboxFusion's `POST /run_code`, translated to and from one aha sandbox run. No HTTP here
// (sandbox/http_service.hpp serves it); tested through the service in http_service.test.cpp.
// Each request becomes a `sh` run of a generated launcher that writes `files` into /tmp, writes
// the source, compiles (cpp), runs the program as its child, and prints the `fetch_files` after a
// random marker; parse_reply() splits the output at those markers again.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.hpp"
#include "protocol/messages.hpp"
#include "sandbox/sandbox_config.hpp"

namespace aha::sandbox {

// One parsed request, ready to run.
struct run_code_plan {
  protocol::sandbox_request request;  // language "sh": the launcher script
  bool compiled = false;              // the language has a compile step (compile_result)
  std::string marker;                 // random; separates launcher output from the program's
  std::vector<std::string> fetch_files;
};

// Checks a request body (a JSON object with SandboxFusion's fields: code, language, stdin,
// run_timeout, compile_timeout, memory_limit_MB, files, fetch_files, args) and builds its run.
// Timeouts and memory are clamped to `max` (a request asks for less, never more). An error is
// errc::invalid_argument with one line naming the field and what would be valid.
result<run_code_plan> plan_run_code(const nlohmann::json& body, const run_limits& max);

// The JSON response SandboxFusion documents: status "Success" | "Failed" | "SandboxError",
// message, compile_result, run_result {status "Finished" | "TimeLimitExceeded" | "Error",
// execution_time, cpu_time, return_code, stdout, stderr}, files {path: base64}.
nlohmann::json run_code_response(const run_code_plan& plan, const protocol::sandbox_reply& reply);

// The languages `language` may name, for error messages ("python, cpp, bash, sh").
std::string run_code_languages();

}  // namespace aha::sandbox
