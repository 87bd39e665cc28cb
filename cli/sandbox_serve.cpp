// `aha sandbox serve --bind tcp://127.0.0.1:PORT [--workers N] [--queue N] [--secret-key-file F
// --authorized-keys F] [--max-time-limit S] [--max-memory-limit MIB]`: serves sandbox runs over
// ZeroMQ until SIGINT/SIGTERM. `aha sandbox keygen` prints a CURVE keypair as JSON. With a
// secret key, only clients whose public key is listed (one Z85 key per line) are served.
// `aha sandbox serve --http HOST:PORT [--token-file F] [--max-body-bytes N] [--max-in-flight N]`
// serves SandboxFusion's POST /run_code instead (sandbox/http_service.hpp); without a token only
// on a loopback address.
#include <csignal>
#include <fstream>
#include <iostream>
#include <tuple>

#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "sandbox/http_service.hpp"
#include "sandbox/service.hpp"

namespace {

constexpr const char* kName = "sandbox serve";
std::atomic<bool> g_stop{false};

void on_signal(int) { g_stop = true; }

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty() && line[0] != '#') lines.push_back(line);
  }
  return lines;
}

// The HTTP mode: SandboxFusion's API on cpp-httplib.
int serve_http(aha::cli::arguments& args, const std::string& address) {
  auto workers = args.option("--workers"), queue = args.option("--queue");
  auto max_time = args.option("--max-time-limit"), max_memory = args.option("--max-memory-limit");
  auto token_file = args.option("--token-file"), max_body = args.option("--max-body-bytes");
  auto max_in_flight = args.option("--max-in-flight");
  if (!args.unknown_options().empty()) return aha::cli::usage_error(kName, args.unknown_options());
  auto host_port = aha::sandbox::parse_http_address(address);
  if (!host_port) return aha::cli::usage_error(kName, "--http " + host_port.error().message);
  aha::sandbox::sandbox_config config;
  aha::sandbox::http_config http;
  std::tie(http.host, http.port) = *host_port;
  try {
    if (workers) config.workers = static_cast<std::uint32_t>(std::stoul(*workers));
    if (queue) config.queue_capacity = static_cast<std::uint32_t>(std::stoul(*queue));
    if (max_time)
      http.max_limits.cpu_ms = http.max_limits.wall_ms = static_cast<std::uint32_t>(std::stod(*max_time) * 1000);
    if (max_memory) http.max_limits.memory_bytes = std::stoull(*max_memory) << 20;
    if (max_body) http.max_body_bytes = std::stoull(*max_body);
    if (max_in_flight) http.max_in_flight = std::stoull(*max_in_flight);
  } catch (...) {
    return aha::cli::usage_error(kName,
                                 "--workers/--queue/--max-body-bytes/--max-in-flight/--max-memory-limit take integers, "
                                 "--max-time-limit seconds");
  }
  if (token_file) {
    auto token = aha::sandbox::read_token_file(*token_file);
    if (!token) return aha::cli::usage_error(kName, token.error().message);
    http.token = *token;
  }
  auto pool = aha::sandbox::pool::create(config);
  if (!pool) return std::cerr << "aha sandbox serve: " << pool.error().message << "\n", 1;
  auto server = aha::sandbox::http_service::bind(**pool, http);
  if (!server) return std::cerr << "aha sandbox serve: " << server.error().message << "\n", 1;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  // The port line is what scripts (and tests) wait for when they ask for port 0.
  std::cerr << "aha sandbox serve: listening on http://" << http.host << ":" << (*server)->port() << " with "
            << (*pool)->workers() << " workers, " << (*server)->max_in_flight() << " runs in flight at most, cgroups "
            << (*pool)->runner().cgroups().reason << (http.token.empty() ? ", no authentication" : ", bearer token")
            << std::endl;
  (*server)->serve(g_stop);
  return 0;
}

int sandbox_serve(aha::cli::arguments& args) {
  if (auto http = args.option("--http")) return serve_http(args, *http);
  auto bind = args.option("--bind"), workers = args.option("--workers"), queue = args.option("--queue");
  auto secret_file = args.option("--secret-key-file"), keys_file = args.option("--authorized-keys");
  auto max_time = args.option("--max-time-limit"), max_memory = args.option("--max-memory-limit");
  if (!args.unknown_options().empty()) return aha::cli::usage_error(kName, args.unknown_options());
  if (!bind) return aha::cli::usage_error(kName, "--bind tcp://HOST:PORT (ZeroMQ) or --http HOST:PORT is required");
  if (secret_file.has_value() != keys_file.has_value()) {
    return aha::cli::usage_error(kName, "--secret-key-file and --authorized-keys go together");
  }
  aha::sandbox::sandbox_config config;
  aha::sandbox::server_config service;
  service.bind = *bind;
  try {
    if (workers) config.workers = static_cast<std::uint32_t>(std::stoul(*workers));
    if (queue) config.queue_capacity = static_cast<std::uint32_t>(std::stoul(*queue));
    if (max_time)
      service.max_limits.cpu_ms = service.max_limits.wall_ms = static_cast<std::uint32_t>(std::stod(*max_time) * 1000);
    if (max_memory) service.max_limits.memory_bytes = std::stoull(*max_memory) << 20;
  } catch (...) {
    return aha::cli::usage_error(kName, "--workers/--queue/--max-memory-limit take integers, --max-time-limit seconds");
  }
  service.max_limits.output_bytes = 16ull << 20;
  if (secret_file) {
    auto secret = read_lines(*secret_file);
    if (secret.size() != 1 || secret[0].size() != 40) {
      return aha::cli::usage_error(kName, *secret_file + ": expected one Z85 secret key (40 characters)");
    }
    service.secret_key = secret[0];
    service.authorized_keys = read_lines(*keys_file);
  }
  auto pool = aha::sandbox::pool::create(config);
  if (!pool) return std::cerr << "aha sandbox serve: " << pool.error().message << "\n", 1;
  auto server = aha::sandbox::server::bind(**pool, service);
  if (!server) return std::cerr << "aha sandbox serve: " << server.error().message << "\n", 1;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::cerr << "aha sandbox serve: listening on " << (*server)->endpoint() << " with " << (*pool)->workers()
            << " workers, cgroups " << (*pool)->runner().cgroups().reason
            << (service.secret_key.empty() ? ", no authentication" : ", CURVE") << "\n";
  (*server)->serve(g_stop);
  return 0;
}

int sandbox_keygen(aha::cli::arguments& args) {
  if (!args.unknown_options().empty() || !args.positionals().empty()) {
    return aha::cli::usage_error("sandbox keygen", "takes no arguments");
  }
  auto keys = aha::sandbox::curve_keypair::generate();
  std::cout << nlohmann::json{{"public", keys.public_key}, {"secret", keys.secret_key}}.dump() << "\n";
  return 0;
}

}  // namespace

AHA_COMMAND("sandbox serve",
            "serve sandbox runs over ZeroMQ (msgpack, optional CURVE) or HTTP (SandboxFusion's /run_code)",
            sandbox_serve);
AHA_COMMAND("sandbox keygen", "print a CURVE keypair for the sandbox service as JSON", sandbox_keygen);
