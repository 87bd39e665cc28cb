// The sandbox as a SandboxFusion-compatible HTTP service (`aha sandbox serve --http ADDR`), on
// cpp-httplib. Endpoints: POST /run_code (sandbox/run_code_api.hpp: SandboxFusion's fields in and
// out) and GET /v1/ping ("pong"). Errors are JSON {"detail": "..."}: 400 malformed JSON, 401
// missing or wrong bearer token, 404 unknown path, 405 wrong method, 413 body over the bound, 415
// multipart, 422 a field that is not valid, 503 more runs in flight than allowed (Retry-After).
// Without a token it binds loopback addresses only. Tested by sandbox/http_service.test.cpp.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>

#include "core/result.hpp"
#include "sandbox/pool.hpp"

namespace aha::sandbox {

// SandboxFusion's default run_timeout is 10 s; so is this service's cap unless configured.
inline run_limits http_default_max_limits() {
  run_limits max;
  max.cpu_ms = max.wall_ms = 10000;
  return max;
}

struct http_config {
  std::string host = "127.0.0.1";                     // without a token: a loopback address only
  int port = 8080;                                    // 0 = a free port (http_service::port() says which)
  std::string token;                                  // empty = no authentication; else `Authorization: Bearer TOKEN`
  std::size_t max_body_bytes = 1u << 20;              // larger request bodies get 413
  std::size_t max_in_flight = 0;                      // runs admitted at once (running + waiting); 0 = 2 x workers
  run_limits max_limits = http_default_max_limits();  // requests asking for more are clamped
  std::uint32_t queue_deadline_ms = 60000;            // an admitted run not started within this: SandboxError
};

class http_service {
 public:
  // Checks the configuration and binds now, so a bad address is reported here.
  static result<std::unique_ptr<http_service>> bind(pool& workers, http_config config);
  ~http_service();
  int port() const;
  std::size_t max_in_flight() const;
  // Serves until `stop` becomes true (checked every 100 ms); lets admitted runs finish. One thread.
  void serve(const std::atomic<bool>& stop);

 private:
  struct impl;
  explicit http_service(std::unique_ptr<impl> state);
  std::unique_ptr<impl> impl_;
};

// "HOST:PORT" or "[V6]:PORT" -> host and port; errc::invalid_argument naming what is wrong.
result<std::pair<std::string, int>> parse_http_address(const std::string& address);
// 127.0.0.0/8, ::1 and "localhost".
bool is_loopback_host(const std::string& host);
// The token in a file, without surrounding whitespace; an empty or unreadable file is an error.
result<std::string> read_token_file(const std::string& path);
// Compares in time that depends only on `given`'s length, not on where it differs.
bool tokens_equal(const std::string& given, const std::string& expected);

}  // namespace aha::sandbox
