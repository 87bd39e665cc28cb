// grade_math_record: parse one JSONL record, verify it, render the verdict; see math_grading.hpp.
#include "rewards/math_grading.hpp"

#include <nlohmann/json.hpp>

namespace aha::rewards {
namespace {

using nlohmann::json;

// A field as the verifier sees it: strings as they are, numbers in their JSON spelling.
bool field_text(const json& record, const char* key, std::string& out, std::string& error) {
  if (!record.contains(key)) { error = std::string("missing field \"") + key + "\""; return false; }
  const json& v = record[key];
  if (v.is_string()) out = v.get<std::string>();
  else if (v.is_number()) out = v.dump();
  else { error = std::string("field \"") + key + "\" must be a string or a number"; return false; }
  return true;
}

std::string error_line(std::size_t line_number, const std::string& message) {
  return json{{"line", line_number}, {"error", message}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

std::string grade_math_record(std::string_view record, std::size_t line_number, const math_verifier_config& config) {
  json parsed = json::parse(record.begin(), record.end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return error_line(line_number, "line " + std::to_string(line_number) + ": not valid JSON");
  if (!parsed.is_object()) return error_line(line_number, "line " + std::to_string(line_number) + ": expected a JSON object");
  std::string gold, pred, error;
  if (!field_text(parsed, "gold", gold, error) || !field_text(parsed, "pred", pred, error))
    return error_line(line_number, "line " + std::to_string(line_number) + ": " + error);
  math_verdict v = verify_math(gold, pred, config);
  json out{{"line", line_number}, {"correct", v.correct}, {"extracted", v.extracted}, {"reason", v.reason}};
  return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace aha::rewards
