// The SandboxFusion-compatible HTTP service (see http_service.hpp).
#include "sandbox/http_service.hpp"

#include <arpa/inet.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "sandbox/run_code_api.hpp"

namespace aha::sandbox {
namespace {

using nlohmann::json;

// Handler threads beyond the admitted runs, so 4xx/503 answers and pings never wait behind runs.
constexpr std::size_t kSpareThreads = 4;

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  // Program output need not be UTF-8: invalid bytes become U+FFFD instead of failing the reply.
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void send_error(httplib::Response& res, int status, const std::string& detail) {
  send_json(res, status, json{{"detail", detail}});
}

// What httplib itself rejects (unknown path, oversize body, unparsable request) gets JSON too.
std::string default_detail(int status, std::size_t max_body) {
  switch (status) {
    case 404:
      return "no such endpoint; this server answers POST /run_code and GET /v1/ping";
    case 413:
      return "request body over " + std::to_string(max_body) + " bytes";
    case 400:
      return "malformed HTTP request";
    default:
      return "HTTP error " + std::to_string(status);
  }
}

}  // namespace

struct http_service::impl {
  pool& workers;
  http_config config;
  httplib::Server server;
  std::atomic<std::size_t> in_flight{0};
  int port = 0;

  impl(pool& w, http_config c) : workers(w), config(std::move(c)) {}

  bool authorized(const httplib::Request& req) const {
    if (config.token.empty()) return true;
    const std::string value = req.get_header_value("Authorization");
    if (value.size() < 7 || strncasecmp(value.c_str(), "Bearer ", 7) != 0) return false;
    return tokens_equal(value.substr(7), config.token);
  }

  void install_routes() {
    // A content reader takes the body whatever its Content-Type: httplib would otherwise parse a
    // form-encoded one (urllib's default) and refuse it over 8 KiB.
    server.Post("/run_code",
                [this](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& reader) {
                  if (req.is_multipart_form_data()) {
                    return send_error(res, 415, "multipart bodies are not served; send the JSON request as the body");
                  }
                  std::string body;
                  const bool read = reader([&body](const char* data, std::size_t size) {
                    body.append(data, size);
                    return true;
                  });
                  if (!read) return;  // too large (413) or the client went away: httplib set the status
                  run_code(req, body, res);
                });
    server.Get("/v1/ping", [this](const httplib::Request& req, httplib::Response& res) {
      if (!authorized(req)) return unauthorized(res);
      res.set_content("\"pong\"", "application/json");
    });
    auto wrong_method = [](const char* allowed) {
      return [allowed](const httplib::Request& req, httplib::Response& res) {
        res.set_header("Allow", allowed);
        send_error(res, 405, req.method + " " + req.path + " is not served; use " + allowed);
      };
    };
    server.Get("/run_code", wrong_method("POST")).Put("/run_code", wrong_method("POST"));
    server.Delete("/run_code", wrong_method("POST")).Patch("/run_code", wrong_method("POST"));
    server.Post("/v1/ping", wrong_method("GET"));
    server.set_error_handler([this](const httplib::Request&, httplib::Response& res) {
      if (res.body.empty()) send_error(res, res.status, default_detail(res.status, config.max_body_bytes));
    });
    server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr e) {
      std::string what = "internal error";
      try {
        if (e) std::rethrow_exception(e);
      } catch (const std::exception& x) {
        what += std::string(": ") + x.what();
      } catch (...) {
      }
      send_error(res, 500, what);
    });
  }

  static void unauthorized(httplib::Response& res) {
    res.set_header("WWW-Authenticate", "Bearer");
    send_error(res, 401, "missing or wrong token: send 'Authorization: Bearer TOKEN'");
  }

  // 1. authenticate 2. parse 3. admit 4. run through the pool 5. answer.
  void run_code(const httplib::Request& req, const std::string& text, httplib::Response& res) {
    if (!authorized(req)) return unauthorized(res);
    const json body = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded()) return send_error(res, 400, "the request body is not valid JSON");
    auto plan = plan_run_code(body, config.max_limits);
    if (!plan) return send_error(res, 422, plan.error().message);
    if (in_flight.fetch_add(1) >= config.max_in_flight) {
      in_flight.fetch_sub(1);
      res.set_header("Retry-After", "1");
      return send_error(res, 503,
                        "busy: " + std::to_string(config.max_in_flight) + " runs in flight already; retry later");
    }
    auto done = std::make_shared<std::promise<protocol::sandbox_reply>>();
    auto reply = done->get_future();
    const auto start_by = std::chrono::steady_clock::now() + std::chrono::milliseconds(config.queue_deadline_ms);
    const bool queued = workers.try_submit(
        plan->request, [done](protocol::sandbox_reply r) { done->set_value(std::move(r)); }, start_by);
    if (!queued) {
      in_flight.fetch_sub(1);
      res.set_header("Retry-After", "1");
      return send_error(res, 503, "the sandbox pool is full or stopping; retry later");
    }
    const protocol::sandbox_reply r = reply.get();
    in_flight.fetch_sub(1);
    send_json(res, 200, run_code_response(*plan, r));
  }
};

http_service::http_service(std::unique_ptr<impl> state) : impl_(std::move(state)) {}
http_service::~http_service() = default;
int http_service::port() const { return impl_->port; }
std::size_t http_service::max_in_flight() const { return impl_->config.max_in_flight; }

result<std::unique_ptr<http_service>> http_service::bind(pool& workers, http_config config) {
  if (config.token.empty() && !is_loopback_host(config.host)) {
    return make_error(errc::invalid_argument, "refusing to serve " + config.host +
                                                  " without a token (anyone who reaches it could run code): "
                                                  "give --token-file, or bind 127.0.0.1");
  }
  if (config.max_body_bytes == 0) return make_error(errc::invalid_argument, "max_body_bytes must be > 0");
  if (config.max_in_flight == 0) config.max_in_flight = 2 * workers.workers();
  auto state = std::make_unique<impl>(workers, std::move(config));
  impl& s = *state;
  const std::size_t threads = s.config.max_in_flight + kSpareThreads;
  s.server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  s.server.set_payload_max_length(s.config.max_body_bytes);
  s.install_routes();
  if (s.config.port == 0) {
    s.port = s.server.bind_to_any_port(s.config.host);
  } else if (s.server.bind_to_port(s.config.host, s.config.port)) {
    s.port = s.config.port;
  } else {
    s.port = -1;
  }
  if (s.port <= 0) {
    return make_error(errc::io_error, "cannot listen on " + s.config.host + ":" + std::to_string(s.config.port) +
                                          " (address in use, or not an address of this host)");
  }
  return std::unique_ptr<http_service>(new http_service(std::move(state)));
}

void http_service::serve(const std::atomic<bool>& stop) {
  std::atomic<bool> returned{false};
  std::thread listener([this, &returned] {
    impl_->server.listen_after_bind();
    returned = true;
  });
  // stop() only acts on a running server: wait until it runs (or failed) before honouring `stop`.
  while (!impl_->server.is_running() && !returned) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  while (!stop && !returned) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  impl_->server.stop();
  listener.join();
}

result<std::pair<std::string, int>> parse_http_address(const std::string& address) {
  const std::string why = "'" + address + "': expected HOST:PORT (e.g. 127.0.0.1:8080) or [V6]:PORT";
  const std::size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == address.size()) {
    return make_error(errc::invalid_argument, why);
  }
  std::string host = address.substr(0, colon);
  if (host.front() == '[') {
    if (host.back() != ']') return make_error(errc::invalid_argument, why);
    host = host.substr(1, host.size() - 2);
  }
  const std::string port_text = address.substr(colon + 1);
  if (port_text.find_first_not_of("0123456789") != std::string::npos || port_text.size() > 5) {
    return make_error(errc::invalid_argument, why);
  }
  const int port = std::stoi(port_text);
  if (port > 65535) return make_error(errc::invalid_argument, why + "; ports are 0-65535");
  return std::make_pair(host, port);
}

bool is_loopback_host(const std::string& host) {
  if (host == "localhost" || host == "::1") return true;
  in_addr v4{};
  return inet_pton(AF_INET, host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

result<std::string> read_token_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(errc::not_found, "--token-file " + path + ": cannot read it");
  std::stringstream text;
  text << in.rdbuf();
  std::string token = text.str();
  const auto first = token.find_first_not_of(" \t\r\n");
  if (first == std::string::npos)
    return make_error(errc::invalid_argument, "--token-file " + path + ": the file is empty");
  token = token.substr(first, token.find_last_not_of(" \t\r\n") - first + 1);
  if (token.find_first_of(" \t\r\n") != std::string::npos) {
    return make_error(errc::invalid_argument, "--token-file " + path + ": one token expected, without whitespace");
  }
  return token;
}

bool tokens_equal(const std::string& given, const std::string& expected) {
  unsigned char diff = given.size() != expected.size();
  if (expected.empty()) return false;
  for (std::size_t i = 0; i < given.size(); ++i) diff |= given[i] ^ expected[i % expected.size()];
  return diff == 0;
}

}  // namespace aha::sandbox
