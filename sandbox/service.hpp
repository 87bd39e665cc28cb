// The sandbox as a ZeroMQ service (`aha sandbox serve`) and its client.
// Wire: the client's DEALER sends one frame, an encoded protocol::sandbox_request
// (protocol/codec.hpp); the server's ROUTER answers with one encoded protocol::sandbox_reply.
// Undecodable requests get a SANDBOX_ERROR reply naming the problem (request_id 0), never a
// crash; a full queue gets "server busy". Limits in requests are clamped to the server's maxima.
// With CURVE on, only clients whose public key is in the authorized list can connect (a ZAP
// handler checks each handshake). Tested end to end by sandbox/service.test.cpp.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <zmq.hpp>

#include "core/result.hpp"
#include "protocol/messages.hpp"
#include "sandbox/pool.hpp"

namespace aha::sandbox {

struct curve_keypair {
  std::string public_key;  // Z85, 40 characters
  std::string secret_key;
  static curve_keypair generate();
};

struct server_config {
  std::string bind = "tcp://127.0.0.1:5556";
  std::string secret_key;                    // Z85; empty = no CURVE (plain TCP, anyone may submit)
  std::vector<std::string> authorized_keys;  // Z85 public keys of the clients allowed in
  run_limits max_limits;                     // requests asking for more are clamped to these
  std::uint32_t queue_deadline_ms = 60000;   // a request not started within this is answered late-error
};

class server {
 public:
  // Binds now (so a bind error is reported here); tcp://127.0.0.1:* picks a free port.
  static result<std::unique_ptr<server>> bind(pool& workers, server_config config);
  ~server();
  const std::string& endpoint() const { return endpoint_; }
  // Serves until `stop` becomes true (checked every 100 ms). Call from one thread only.
  void serve(const std::atomic<bool>& stop);

 private:
  server(pool& workers, server_config config);
  void handle_request(zmq::message_t& identity, zmq::message_t& body);
  void send_reply(const std::string& identity, const protocol::sandbox_reply& reply);
  void run_zap_handler();

  pool& workers_;
  server_config config_;
  zmq::context_t context_;
  zmq::socket_t router_, done_pull_, done_push_, zap_;
  std::mutex done_mutex_;  // serialises the worker threads' use of done_push_
  std::string endpoint_;
  std::atomic<bool> zap_stop_{false};
  std::thread zap_thread_;
};

class client {
 public:
  // server_public_key empty = plain TCP; else CURVE with this client's keypair.
  static result<std::unique_ptr<client>> connect(const std::string& endpoint, const std::string& server_public_key = {},
                                                 const curve_keypair& keys = {});
  // Sends the request and waits for its reply; errc::timeout when none comes in time.
  result<protocol::sandbox_reply> run(const protocol::sandbox_request& request, std::chrono::milliseconds timeout);
  // Sends raw bytes (tests use this to send malformed requests) and returns the raw reply.
  result<std::string> exchange(const std::string& bytes, std::chrono::milliseconds timeout);

 private:
  client() : socket_(context_, zmq::socket_type::dealer) {}
  zmq::context_t context_;
  zmq::socket_t socket_;
};

}  // namespace aha::sandbox
