// The sandbox service end to end: an in-process server thread and clients over TCP on
// 127.0.0.1 — a real run, a malformed request, limit clamping, and CURVE: an authorized key is
// served, an unknown key is refused (no reply ever comes).
#include <random>
#include <thread>

#include "protocol/codec.hpp"
#include "sandbox/sandbox_test_util.hpp"
#include "sandbox/service.hpp"

using aha::protocol::run_status;
using namespace aha::sandbox;
using namespace std::chrono_literals;

namespace {

// A server on a free port, served by a background thread for the test's lifetime.
struct running_server {
  pool workers{testing::shared_executor(), 2, 8};
  std::unique_ptr<server> srv;
  std::atomic<bool> stop{false};
  std::thread loop;

  explicit running_server(server_config config) {
    config.bind = "tcp://127.0.0.1:*";
    auto bound = server::bind(workers, std::move(config));
    REQUIRE(bound);
    srv = std::move(*bound);
    loop = std::thread([this] { srv->serve(stop); });
  }
  ~running_server() {
    stop = true;
    loop.join();
  }
};

aha::protocol::sandbox_request hello(std::uint64_t id) {
  aha::protocol::sandbox_request request;
  request.request_id = id;
  request.source = "print('hello from', 6 * 7)";
  return request;
}

}  // namespace

TEST_CASE("service runs a request and answers malformed bytes with an error", "[service]") {
  server_config config;
  config.max_limits.cpu_ms = 700;
  running_server s(config);
  auto c = client::connect(s.srv->endpoint());
  REQUIRE(c);
  auto reply = (*c)->run(hello(5), 20s);
  REQUIRE(reply);
  CHECK(reply->request_id == 5);
  CHECK(reply->status == run_status::ok);
  CHECK(reply->stdout_data == "hello from 42\n");

  auto raw = (*c)->exchange("\x93garbage that is not msgpack", 10s);
  REQUIRE(raw);
  auto error = aha::protocol::decode<aha::protocol::sandbox_reply>(*raw);
  REQUIRE(error);
  CHECK(error->status == run_status::sandbox_error);
  CHECK(error->error.find("malformed request") != std::string::npos);

  // Random bytes, a frame of the wrong type, and an empty message: each gets an error reply.
  std::mt19937 rng(7);
  std::vector<std::string> junk = {aha::protocol::encode(aha::protocol::sandbox_reply{}), std::string()};
  for (int i = 0; i < 20; ++i) {
    std::string bytes(rng() % 64, '\0');
    for (auto& b : bytes) b = static_cast<char>(rng());
    junk.push_back(bytes);
  }
  for (const auto& bytes : junk) {
    auto answer = (*c)->exchange(bytes, 10s);
    REQUIRE(answer);
    auto decoded = aha::protocol::decode<aha::protocol::sandbox_reply>(*answer);
    REQUIRE(decoded);
    CHECK(decoded->status == run_status::sandbox_error);
  }

  auto spin = hello(6);
  spin.source = "while True: pass";
  spin.cpu_ms = 60000, spin.wall_ms = 60000;  // asks for a minute; the server allows 0.7 s
  auto limited = (*c)->run(spin, 20s);
  REQUIRE(limited);
  CHECK(limited->status == run_status::time_limit);
  CHECK(limited->cpu_ms < 5000);
}

TEST_CASE("CURVE: only authorized client keys are served", "[service]") {
  auto server_keys = curve_keypair::generate();
  auto good_keys = curve_keypair::generate();
  auto bad_keys = curve_keypair::generate();
  server_config config;
  config.secret_key = server_keys.secret_key;
  config.authorized_keys = {good_keys.public_key};
  running_server s(config);

  auto good = client::connect(s.srv->endpoint(), server_keys.public_key, good_keys);
  REQUIRE(good);
  auto reply = (*good)->run(hello(1), 20s);
  REQUIRE(reply);
  CHECK(reply->stdout_data == "hello from 42\n");

  auto bad = client::connect(s.srv->endpoint(), server_keys.public_key, bad_keys);
  REQUIRE(bad);
  auto refused = (*bad)->run(hello(2), 1500ms);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == aha::errc::timeout);

  auto plain = client::connect(s.srv->endpoint());  // no CURVE at all
  REQUIRE(plain);
  CHECK_FALSE((*plain)->run(hello(3), 1000ms));
}
