// ZeroMQ sandbox server and client (see service.hpp).
#include "sandbox/service.hpp"

#include <algorithm>
#include <set>

#include <zmq_addon.hpp>

#include "protocol/codec.hpp"

namespace aha::sandbox {
namespace {

constexpr const char* kDoneEndpoint = "inproc://aha-sandbox-done";
constexpr const char* kZapEndpoint = "inproc://zeromq.zap.01";

protocol::sandbox_reply error_reply(std::uint64_t id, std::string message) {
  protocol::sandbox_reply reply;
  reply.request_id = id;
  reply.error = std::move(message);
  return reply;
}

// Requests may ask for less than the server allows, never more; 0 means the server's default.
void clamp_limits(protocol::sandbox_request& r, const run_limits& max) {
  r.cpu_ms = std::min(r.cpu_ms, max.cpu_ms);
  r.wall_ms = std::min(r.wall_ms, max.wall_ms);
  r.memory_bytes = std::min(r.memory_bytes, max.memory_bytes);
  r.output_bytes = std::min(r.output_bytes, max.output_bytes);
}

}  // namespace

curve_keypair curve_keypair::generate() {
  char public_key[41] = {}, secret_key[41] = {};
  zmq_curve_keypair(public_key, secret_key);
  return {public_key, secret_key};
}

server::server(pool& workers, server_config config)
    : workers_(workers), config_(std::move(config)), router_(context_, zmq::socket_type::router),
      done_pull_(context_, zmq::socket_type::pull), done_push_(context_, zmq::socket_type::push),
      zap_(context_, zmq::socket_type::rep) {}

server::~server() {
  zap_stop_ = true;
  if (zap_thread_.joinable()) zap_thread_.join();
}

result<std::unique_ptr<server>> server::bind(pool& workers, server_config config) {
  std::unique_ptr<server> s(new server(workers, std::move(config)));
  try {
    if (!s->config_.secret_key.empty()) {
      // The ZAP handler must be bound before the first CURVE handshake.
      s->zap_.bind(kZapEndpoint);
      s->zap_thread_ = std::thread([raw = s.get()] { raw->run_zap_handler(); });
      s->router_.set(zmq::sockopt::curve_server, 1);
      s->router_.set(zmq::sockopt::curve_secretkey, s->config_.secret_key);
      s->router_.set(zmq::sockopt::zap_domain, "aha-sandbox");
    }
    s->router_.set(zmq::sockopt::linger, 0);
    s->router_.set(zmq::sockopt::maxmsgsize, int64_t{256} << 20);
    s->router_.bind(s->config_.bind);
    s->endpoint_ = s->router_.get(zmq::sockopt::last_endpoint);
    s->done_pull_.bind(kDoneEndpoint);
    s->done_push_.connect(kDoneEndpoint);
  } catch (const zmq::error_t& e) {
    return make_error(errc::io_error, "sandbox serve: " + s->config_.bind + ": " + e.what());
  }
  return s;
}

// ZAP (RFC 27): each CURVE handshake is accepted only for an authorized client key.
void server::run_zap_handler() {
  std::set<std::string> allowed(config_.authorized_keys.begin(), config_.authorized_keys.end());
  zap_.set(zmq::sockopt::rcvtimeo, 100);
  while (!zap_stop_) {
    std::vector<zmq::message_t> request;
    if (!zmq::recv_multipart(zap_, std::back_inserter(request))) continue;
    if (request.size() < 6) continue;  // not a ZAP request; nothing sensible to answer
    std::string key;
    if (request[5].to_string() == "CURVE" && request.size() >= 7 && request[6].size() == 32) {
      char z85[41] = {};
      zmq_z85_encode(z85, static_cast<const uint8_t*>(request[6].data()), 32);
      key = z85;
    }
    bool ok = !key.empty() && allowed.count(key) > 0;
    std::vector<zmq::const_buffer> reply = {zmq::str_buffer("1.0"), zmq::buffer(request[1].data(), request[1].size()),
                                            zmq::buffer(std::string_view(ok ? "200" : "400")),
                                            zmq::buffer(std::string_view(ok ? "OK" : "unknown client key")),
                                            zmq::buffer(std::string_view(ok ? key : "")), zmq::str_buffer("")};
    zmq::send_multipart(zap_, reply);
  }
}

void server::send_reply(const std::string& identity, const protocol::sandbox_reply& reply) {
  std::string bytes = protocol::encode(reply);
  std::lock_guard<std::mutex> lock(done_mutex_);
  done_push_.send(zmq::buffer(identity), zmq::send_flags::sndmore);
  done_push_.send(zmq::buffer(bytes), zmq::send_flags::none);
}

void server::handle_request(zmq::message_t& identity, zmq::message_t& body) {
  std::string who = identity.to_string();
  auto request = protocol::decode<protocol::sandbox_request>(body.to_string_view());
  if (!request) return send_reply(who, error_reply(0, "malformed request: " + request.error().message));
  clamp_limits(*request, config_.max_limits);
  auto start_by = std::chrono::steady_clock::now() + std::chrono::milliseconds(config_.queue_deadline_ms);
  std::uint64_t id = request->request_id;
  bool queued = workers_.try_submit(std::move(*request),
                                    [this, who](protocol::sandbox_reply reply) { send_reply(who, reply); }, start_by);
  if (!queued) send_reply(who, error_reply(id, "server busy: the queue is full"));
}

void server::serve(const std::atomic<bool>& stop) {
  while (!stop) {
    zmq::pollitem_t items[] = {{router_.handle(), 0, ZMQ_POLLIN, 0}, {done_pull_.handle(), 0, ZMQ_POLLIN, 0}};
    try {
      zmq::poll(items, 2, std::chrono::milliseconds(100));
    } catch (const zmq::error_t& e) {
      if (e.num() == EINTR) continue;  // a signal (e.g. the one that sets `stop`)
      throw;
    }
    if (items[0].revents & ZMQ_POLLIN) {
      std::vector<zmq::message_t> frames;
      zmq::recv_multipart(router_, std::back_inserter(frames), zmq::recv_flags::dontwait);
      if (frames.size() == 2) {
        handle_request(frames[0], frames[1]);
      } else if (!frames.empty()) {
        send_reply(frames[0].to_string(), error_reply(0, "malformed request: expected exactly one frame"));
      }
    }
    if (items[1].revents & ZMQ_POLLIN) {  // a finished run: forward [identity, reply] to its client
      std::vector<zmq::message_t> frames;
      zmq::recv_multipart(done_pull_, std::back_inserter(frames), zmq::recv_flags::dontwait);
      if (frames.size() == 2) zmq::send_multipart(router_, frames, zmq::send_flags::dontwait);
    }
  }
}

result<std::unique_ptr<client>> client::connect(const std::string& endpoint, const std::string& server_public_key,
                                                const curve_keypair& keys) {
  std::unique_ptr<client> c(new client());
  try {
    if (!server_public_key.empty()) {
      c->socket_.set(zmq::sockopt::curve_serverkey, server_public_key);
      c->socket_.set(zmq::sockopt::curve_publickey, keys.public_key);
      c->socket_.set(zmq::sockopt::curve_secretkey, keys.secret_key);
    }
    c->socket_.set(zmq::sockopt::linger, 0);
    c->socket_.connect(endpoint);
  } catch (const zmq::error_t& e) {
    return make_error(errc::invalid_argument, "sandbox client: " + endpoint + ": " + e.what());
  }
  return c;
}

result<std::string> client::exchange(const std::string& bytes, std::chrono::milliseconds timeout) {
  socket_.send(zmq::buffer(bytes), zmq::send_flags::none);
  zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
  if (zmq::poll(&item, 1, timeout) == 0) return make_error(errc::timeout, "sandbox client: no reply in time");
  zmq::message_t reply;
  if (!socket_.recv(reply, zmq::recv_flags::dontwait)) return make_error(errc::unavailable, "sandbox client: receive failed");
  return reply.to_string();
}

result<protocol::sandbox_reply> client::run(const protocol::sandbox_request& request, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  socket_.send(zmq::buffer(protocol::encode(request)), zmq::send_flags::none);
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    zmq::pollitem_t item{socket_.handle(), 0, ZMQ_POLLIN, 0};
    if (left.count() <= 0 || zmq::poll(&item, 1, left) == 0) {
      return make_error(errc::timeout, "sandbox client: no reply in time");
    }
    zmq::message_t bytes;
    if (!socket_.recv(bytes, zmq::recv_flags::dontwait)) continue;
    auto reply = protocol::decode<protocol::sandbox_reply>(bytes.to_string_view());
    if (!reply) return reply.error();
    if (reply->request_id == request.request_id) return reply;  // else: a late reply to an earlier request
  }
}

}  // namespace aha::sandbox
