// `aha sandbox serve --bind tcp://127.0.0.1:PORT [--workers N] [--queue N] [--secret-key-file F
// --authorized-keys F] [--max-time-limit S] [--max-memory-limit MIB]`: serves sandbox runs over
// ZeroMQ until SIGINT/SIGTERM. `aha sandbox keygen` prints a CURVE keypair as JSON. With a
// secret key, only clients whose public key is listed (one Z85 key per line) are served.
#include <csignal>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/command.hpp"
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

int sandbox_serve(aha::cli::arguments& args) {
  auto bind = args.option("--bind"), workers = args.option("--workers"), queue = args.option("--queue");
  auto secret_file = args.option("--secret-key-file"), keys_file = args.option("--authorized-keys");
  auto max_time = args.option("--max-time-limit"), max_memory = args.option("--max-memory-limit");
  if (!args.unknown_options().empty()) return aha::cli::usage_error(kName, args.unknown_options());
  if (!bind) return aha::cli::usage_error(kName, "--bind tcp://HOST:PORT is required");
  if (secret_file.has_value() != keys_file.has_value()) {
    return aha::cli::usage_error(kName, "--secret-key-file and --authorized-keys go together");
  }
  aha::sandbox::sandbox_config config;
  aha::sandbox::server_config service;
  service.bind = *bind;
  try {
    if (workers) config.workers = static_cast<std::uint32_t>(std::stoul(*workers));
    if (queue) config.queue_capacity = static_cast<std::uint32_t>(std::stoul(*queue));
    if (max_time) service.max_limits.cpu_ms = service.max_limits.wall_ms = static_cast<std::uint32_t>(std::stod(*max_time) * 1000);
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

AHA_COMMAND("sandbox serve", "serve sandbox runs over ZeroMQ (msgpack requests, optional CURVE)", sandbox_serve);
AHA_COMMAND("sandbox keygen", "print a CURVE keypair for the sandbox service as JSON", sandbox_keygen);
