// The JSON form of a sandbox reply, as printed by `aha sandbox exec` and embedded by `aha grade
// code`: status name, exit code or signal, streams (invalid UTF-8 replaced), flags, cpu/wall/peak.
#pragma once

#include <nlohmann/json.hpp>

#include "protocol/messages.hpp"

namespace aha::sandbox {

nlohmann::json to_json(const protocol::sandbox_reply& reply);
// Serialises without throwing on invalid UTF-8 in program output (bytes are replaced).
std::string dump_json(const nlohmann::json& value);

}  // namespace aha::sandbox
