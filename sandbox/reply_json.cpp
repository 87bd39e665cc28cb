// JSON rendering of sandbox replies (see reply_json.hpp).
#include "sandbox/reply_json.hpp"

namespace aha::sandbox {

nlohmann::json to_json(const protocol::sandbox_reply& reply) {
  return nlohmann::json{{"status", protocol::to_string(reply.status)},
                        {"exit_code", reply.exit_code},
                        {"signal", reply.signal},
                        {"stdout", reply.stdout_data},
                        {"stderr", reply.stderr_data},
                        {"stdout_truncated", reply.stdout_truncated},
                        {"stderr_truncated", reply.stderr_truncated},
                        {"cpu_ms", reply.cpu_ms},
                        {"wall_ms", reply.wall_ms},
                        {"peak_memory_bytes", reply.peak_memory_bytes},
                        {"error", reply.error}};
}

std::string dump_json(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace aha::sandbox
