// The c10d data-parallel group (cluster/data_parallel.hpp): TCPStore rendezvous, Gloo collectives.
// The only translation unit that includes c10d's and Gloo's headers (they are slow to compile).
#include "cluster/data_parallel.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include <c10/util/Exception.h>

#if AHA_HAVE_GLOO
#define USE_C10D_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace aha::cluster {

result<std::pair<std::string, std::uint16_t>> parse_endpoint(const std::string& endpoint) {
  const auto colon = endpoint.rfind(':');
  const auto bad = [&] {
    return make_error(errc::invalid_argument,
                      "rendezvous '" + endpoint + "' is not IP:PORT (e.g. 127.0.0.1:29500, port 1-65535)");
  };
  if (colon == std::string::npos || colon == 0 || colon + 1 == endpoint.size()) return bad();
  const std::string port_text = endpoint.substr(colon + 1);
  if (port_text.find_first_not_of("0123456789") != std::string::npos || port_text.size() > 5) return bad();
  const unsigned long port = std::stoul(port_text);
  if (port == 0 || port > 65535) return bad();
  return std::make_pair(endpoint.substr(0, colon), static_cast<std::uint16_t>(port));
}

#if AHA_HAVE_GLOO

bool gloo_available() { return true; }

namespace {

// The local address that faces `host`: a connected UDP socket is given the route's source
// address without sending anything. Gloo binds its device there, so each host's rank listens on
// the interface its peers reach (a namespace host's veth address, or loopback).
std::string local_address_towards(const std::string& host) {
  sockaddr_in peer{};
  peer.sin_family = AF_INET;
  peer.sin_port = htons(9);
  if (inet_pton(AF_INET, host.c_str(), &peer.sin_addr) != 1) return host;  // a name: Gloo resolves it
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return host;
  std::string out = host;
  sockaddr_in mine{};
  socklen_t length = sizeof(mine);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&peer), sizeof(peer)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&mine), &length) == 0) {
    char text[INET_ADDRSTRLEN] = {};
    if (inet_ntop(AF_INET, &mine.sin_addr, text, sizeof(text))) out = text;
  }
  ::close(fd);
  return out;
}

// c10::Error's what() carries a C++ backtrace; the one-line message is enough for a user.
std::string message_of(const std::exception& e) {
  if (const auto* c10 = dynamic_cast<const c10::Error*>(&e)) return c10->what_without_backtrace();
  return e.what();
}

}  // namespace

struct data_parallel_group::impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
};

result<std::unique_ptr<data_parallel_group>> data_parallel_group::join(const data_parallel_config& config) {
  if (config.world < 1 || config.rank < 0 || config.rank >= config.world) {
    return make_error(errc::invalid_argument, "data-parallel rank " + std::to_string(config.rank) +
                                                  " is outside 0.." + std::to_string(config.world - 1));
  }
  auto endpoint = parse_endpoint(config.rendezvous);
  if (!endpoint) return endpoint.error();
  const auto& [host, port] = *endpoint;
  auto state = std::make_unique<impl>();
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = port;
    store_options.isServer = config.rank == 0;
    store_options.numWorkers = static_cast<std::size_t>(config.world);
    store_options.waitWorkers = true;  // rank 0 returns once all W ranks have connected
    store_options.timeout = config.rendezvous_timeout;
    state->store = c10::make_intrusive<c10d::TCPStore>(host, store_options);
    // Rank 0's store returns once every rank has connected; the others learn it from this key, so
    // an early rank does not spend the (shorter) collective timeout waiting for a late one.
    const std::string all_here = "aha/rendezvous/complete";
    if (config.rank == 0) {
      state->store->set(all_here, {1});
    } else {
      state->store->wait({all_here}, config.rendezvous_timeout);
    }
    auto options = c10d::ProcessGroupGloo::Options::create(config.timeout);
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(local_address_towards(host)));
    options->threads = 1;  // one collective at a time: the learner's step is sequential
    state->group = c10::make_intrusive<c10d::ProcessGroupGloo>(state->store, config.rank, config.world, options);
  } catch (const std::exception& e) {
    return make_error(errc::unavailable, "data-parallel rendezvous at " + config.rendezvous + " (rank " +
                                             std::to_string(config.rank) + " of " + std::to_string(config.world) +
                                             ") failed within " + std::to_string(config.rendezvous_timeout.count()) +
                                             " ms: " + message_of(e));
  }
  return std::unique_ptr<data_parallel_group>(new data_parallel_group(config, std::move(state)));
}

template <class F>
void data_parallel_group::collective(const char* what, F&& run) {
  try {
    auto work = run(*impl_->group);
    work->wait(config_.timeout);
  } catch (const std::exception& e) {
    throw rank_lost("data-parallel " + std::string(what) + " failed on rank " + std::to_string(config_.rank) + " of " +
                    std::to_string(config_.world) + " (a rank was lost or did not answer within " +
                    std::to_string(config_.timeout.count()) + " ms): " + message_of(e));
  }
}

void data_parallel_group::post(const std::string& key, const std::string& value) {
  try {
    impl_->store->set(key, std::vector<std::uint8_t>(value.begin(), value.end()));
  } catch (const std::exception& e) {
    throw rank_lost("data-parallel store: rank " + std::to_string(config_.rank) + " cannot post '" + key +
                    "': " + message_of(e));
  }
}

std::string data_parallel_group::await(const std::string& key, std::chrono::milliseconds wait) {
  try {
    impl_->store->wait({key}, wait);
    const auto value = impl_->store->get(key);
    return std::string(value.begin(), value.end());
  } catch (const std::exception& e) {
    throw rank_lost("data-parallel store: rank " + std::to_string(config_.rank) + " got no '" + key + "' within " +
                    std::to_string(wait.count()) + " ms (rank 0 gone, or silent that long): " + message_of(e));
  }
}

void data_parallel_group::erase(const std::string& key) {
  try {
    impl_->store->deleteKey(key);
  } catch (const std::exception& e) {
    throw rank_lost("data-parallel store: cannot erase '" + key + "': " + message_of(e));
  }
}

#else  // no Gloo headers at build time: every entry point says so.

bool gloo_available() { return false; }

struct data_parallel_group::impl {};

result<std::unique_ptr<data_parallel_group>> data_parallel_group::join(const data_parallel_config& config) {
  return make_error(errc::unavailable,
                    "this aha was built without Gloo (install libgloo-dev and rebuild): no data-parallel learner");
}

template <class F>
void data_parallel_group::collective(const char* what, F&&) {
  throw rank_lost(std::string("data-parallel ") + what + ": built without Gloo");
}
void data_parallel_group::post(const std::string&, const std::string&) { collective("post", 0); }
std::string data_parallel_group::await(const std::string&, std::chrono::milliseconds) {
  collective("await", 0);
  return {};
}
void data_parallel_group::erase(const std::string&) { collective("erase", 0); }

#endif

data_parallel_group::data_parallel_group(data_parallel_config config, std::unique_ptr<impl> state)
    : config_(std::move(config)), impl_(std::move(state)) {}

data_parallel_group::~data_parallel_group() = default;

// Tensors of one dtype, in order, copied into flat buckets; each bucket is one collective, then
// copied back. Packing costs a copy but turns hundreds of small messages into a few large ones.
void data_parallel_group::bucketed(const char* what, const std::vector<at::Tensor>& tensors, int root, bool sum) {
  std::size_t begin = 0;
  while (begin < tensors.size()) {
    std::size_t end = begin, bytes = 0;
    const auto dtype = tensors[begin].scalar_type();
    while (end < tensors.size() && tensors[end].scalar_type() == dtype &&
           (end == begin || bytes + tensors[end].nbytes() <= config_.bucket_bytes)) {
      bytes += tensors[end].nbytes();
      ++end;
    }
    std::vector<at::Tensor> flat_parts;
    for (std::size_t i = begin; i < end; ++i) flat_parts.push_back(tensors[i].detach().reshape({-1}).cpu());
    std::vector<at::Tensor> bucket{at::cat(flat_parts)};  // [sum of numel]
#if AHA_HAVE_GLOO
    collective(what, [&](c10d::ProcessGroupGloo& group) {
      if (sum) return group.allreduce(bucket);
      c10d::BroadcastOptions options;
      options.rootRank = root;
      return group.broadcast(bucket, options);
    });
#else
    collective(what, [&] {});
#endif
    std::int64_t offset = 0;
    for (std::size_t i = begin; i < end; ++i) {
      const auto n = tensors[i].numel();
      tensors[i].detach().copy_(bucket[0].narrow(0, offset, n).view(tensors[i].sizes()));
      offset += n;
    }
    begin = end;
  }
}

void data_parallel_group::all_reduce_sum(const std::vector<at::Tensor>& tensors) {
  if (config_.world > 1) bucketed("all-reduce", tensors, 0, true);
}

void data_parallel_group::broadcast(const std::vector<at::Tensor>& tensors, int root) {
  if (config_.world > 1) bucketed("broadcast", tensors, root, false);
}

void data_parallel_group::broadcast_bytes(std::string& bytes, int root) {
  if (config_.world == 1) return;
  at::Tensor length = at::full({1}, static_cast<std::int64_t>(bytes.size()), at::kLong);
  broadcast({length}, root);
  const auto n = length.item<std::int64_t>();
  at::Tensor data = at::empty({n}, at::kByte);
  if (config_.rank == root && n > 0) std::memcpy(data.data_ptr(), bytes.data(), static_cast<std::size_t>(n));
  if (n > 0) broadcast({data}, root);
  bytes.assign(static_cast<const char*>(data.data_ptr()), static_cast<std::size_t>(n));
}

}  // namespace aha::cluster
