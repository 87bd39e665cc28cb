// The cluster: other processes or hosts (`aha node --join HOST:PORT`, actors/node.hpp) offer
// reward workers to the controller's grader. The controller publishes one actor, the registry,
// at cluster.listen (CAF middleman). A node authenticates (challenge-response over the shared
// secret, cluster_auth.hpp), receives the run's reward settings, and offers its workers; the
// registry hands each to the grader, which dispatches to them like local workers and re-queues
// the tasks of any that die. Registry messages (cluster_registry_actor):
//   hello(protocol version)                         -> challenge (random, single use)
//   join(registration, challenge, node nonce, node) -> controller proof, reward settings (TOML)
//   offer(node id, reward names, pools, workers)    -> workers accepted (each sent to the grader)
//   host(node id, generators, host)                 -> ok: the node runs generators for GRPO stages
//                                                      (cluster/generator_host.hpp)
//   hosts(listener)                                 -> the generator hosts now (names, counts, hosts);
//                                                      later ones are sent to `listener` as host(...)
//                                                      until hosts(invalid) replaces it
//   stats -> cluster_stats;  done -> ok after telling every node that the run is over.
// It monitors each node's supervisor: a node that disappears is logged and counted (its workers'
// tasks are re-queued by the grader, which monitors them). Tested by actors/cluster.test.cpp and
// tests/cluster.test.cpp (real `aha node` processes).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/interfaces.hpp"
#include "actors/reward_workers.hpp"
#include "core/config.hpp"
#include "core/result.hpp"

namespace aha::actors {

// Bumped whenever a registry message or the handshake changes; a node of another version is refused.
constexpr std::uint32_t kClusterProtocolVersion = 2;

// Settings of a process that joins (`aha node`).
struct node_section {
  std::string name;                                 // node id; "" = hostname:pid
  std::uint32_t cpu_workers = 2;                    // reward workers offered to the "cpu" pool
  std::uint32_t sandbox_workers = 2;                // reward workers offered to the "sandbox" pool; 0 = none
  std::uint32_t checker_workers = 8;                // reward workers offered to the "checker" pool; 0 = none
  std::uint32_t generators = 0;                     // generators this node runs in each GRPO stage; 0 = none
  std::chrono::milliseconds join_timeout{60000};    // how long to keep trying to reach the controller
  bool rejoin = true;                               // after losing the controller, try to join again
};
template <class V>
void describe(V& v, node_section& c) {
  v.field("name", c.name, "node id shown in the controller's log; empty = hostname:pid");
  v.field("cpu_workers", c.cpu_workers, "reward workers this node offers for math, format and language checks",
          config::range{0, 1024});
  v.field("sandbox_workers", c.sandbox_workers,
          "reward workers this node offers for sandboxed programs (code); 0 = none (needs grader.sandbox)",
          config::range{0, 1024});
  v.field("checker_workers", c.checker_workers,
          "reward workers this node offers for batched sandboxed checkers (countdown); 0 = none (needs grader.sandbox)",
          config::range{0, 1024});
  v.field("generators", c.generators,
          "generators this node runs in each GRPO stage, with replicas fed by the learner's streamed weights; 0 = none",
          config::range{0, 256});
  v.field("join_timeout", c.join_timeout, "how long a node keeps trying to reach the controller (duration)",
          config::range{0, 86400});
  v.field("rejoin", c.rejoin,
          "after losing the controller (a cut link, a restart), keep trying to join again for join_timeout, "
          "with fresh workers; false = exit at once");
}

// [cluster.weights]: how the learner's weights reach generators on nodes (cluster/weight_sync.hpp).
struct weights_section {
  bool delta = true;                      // send only blocks that changed since the receiver's version
  std::uint64_t block_kib = 64;           // unit of change detection and checksums
  std::uint64_t chunk_kib = 4096;         // bound on one message's payload
};
template <class V>
void describe(V& v, weights_section& c) {
  v.field("delta", c.delta, "send a node's replicas only the blocks that changed since the version they hold");
  v.field("block_kib", c.block_kib, "block size of change detection and checksums (KiB)", config::range{1, 1 << 20});
  v.field("chunk_kib", c.chunk_kib, "largest payload of one weights message (KiB; at least block_kib)",
          config::range{1, 1 << 22});
}

struct cluster_config {
  std::string listen;                                    // controller: "HOST:PORT" nodes join at; "" = one process
  std::string secret;                                    // shared token (prefer secret_file: config.toml shows it redacted)
  std::string secret_file;                               // a file whose first line is the token
  std::string tls_dir;                                   // ca.pem, cert.pem, key.pem (aha cluster certs); "" = no TLS
  bool plaintext = false;                                // allow a non-loopback address without TLS
  std::vector<std::string> remote_pools{"cpu", "sandbox", "checker"};  // grader pools nodes may add workers to
  std::uint32_t wait_for_nodes = 0;                      // controller: nodes that must join before the first stage
  std::chrono::milliseconds wait_timeout{120000};        // how long to wait for them
  std::chrono::milliseconds heartbeat{500};              // CAF middleman heartbeat interval (both sides)
  std::chrono::milliseconds connection_timeout{5000};    // a silent peer is gone after this (a frozen node)
  std::chrono::milliseconds request_timeout{10000};      // each handshake request
  node_section node;
  weights_section weights;
};
template <class V>
void describe(V& v, cluster_config& c) {
  v.field("listen", c.listen,
          "controller: HOST:PORT where nodes join (aha node --join HOST:PORT); port 0 = any free port (printed); "
          "empty = everything in one process");
  v.field("secret", c.secret, "shared token every node must prove it knows (never sent); shown redacted");
  v.field("secret_file", c.secret_file, "file whose first line is the token (instead of secret)");
  v.field("tls_dir", c.tls_dir,
          "folder made by `aha cluster certs DIR` (ca.pem, cert.pem, key.pem), the same on every host: all cluster "
          "traffic is TLS and each side must present the cluster's certificate; empty = plain TCP");
  v.field("plaintext", c.plaintext,
          "allow plain TCP (no tls_dir) on an address other than loopback: traffic readable and forgeable on the way");
  v.field("remote_pools", c.remote_pools, "grader worker pools nodes may add workers to (cpu, sandbox, checker)");
  v.field("wait_for_nodes", c.wait_for_nodes, "controller: nodes that must join before the first stage; 0 = none",
          config::range{0, 4096});
  v.field("wait_timeout", c.wait_timeout, "controller: how long to wait for wait_for_nodes (duration)",
          config::range{0, 86400});
  v.field("heartbeat", c.heartbeat, "heartbeat interval between controller and nodes (duration)",
          config::range{0.001, 3600});
  v.field("connection_timeout", c.connection_timeout,
          "a peer silent this long is gone: a frozen node's tasks are re-queued (duration)", config::range{0.01, 86400});
  v.field("request_timeout", c.request_timeout, "timeout of each join handshake request (duration)",
          config::range{0.01, 3600});
  v.section("node", c.node, "settings of a process started with aha node --join HOST:PORT");
  v.section("weights", c.weights, "how the learner's weights reach generators on nodes");
}

// Validates the keys both sides use (listen when set, the pools, the secret, the TLS folder, and
// that a non-loopback address has TLS unless cluster.plaintext); returns the resolved secret.
// `address` is the HOST:PORT this side listens at or joins ("" = cluster.listen).
result<std::string> check_cluster(const cluster_config& config, const std::string& address = "");
// The same config with the secret replaced by "<redacted>" (what config.toml and `config show` print).
cluster_config redacted(cluster_config config);

struct endpoint {
  std::string host;
  std::uint16_t port = 0;
};
// "HOST:PORT" (or "[v6]:PORT"); `what` names the key or flag in the error.
result<endpoint> parse_endpoint(const std::string& text, const std::string& what);

// Loads CAF's middleman with the cluster's heartbeat and connection timeout, and CAF's OpenSSL
// module with the TLS folder's files when cluster.tls_dir is set (call on both sides before the
// actor_system is built, after check_cluster; add_message_types too).
void configure_middleman(caf::actor_system_config& cfg, const cluster_config& config);
// True when cluster.tls_dir is set: publish and connect through caf::openssl.
bool uses_tls(const cluster_config& config);
// 127.0.0.0/8, ::1 and "localhost": traffic that never leaves this host.
bool is_loopback(const std::string& host);

using hello_atom = caf::atom_constant<caf::atom("hello")>;
using join_atom = caf::atom_constant<caf::atom("join")>;
using host_atom = caf::atom_constant<caf::atom("host")>;
using hosts_atom = caf::atom_constant<caf::atom("hosts")>;

struct cluster_stats {
  std::uint64_t nodes = 0;           // nodes joined and alive now
  std::uint64_t joined = 0;          // nodes that joined since start (re-joins included)
  std::uint64_t lost = 0;            // nodes that disappeared (killed, frozen, or left) since start
  std::uint64_t refused = 0;         // join attempts refused (wrong secret, version, name in use)
  std::uint64_t offered_workers = 0; // workers handed to the grader since start
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_stats& x) {
  return f(caf::meta::type_name("aha.cluster_stats"), x.nodes, x.joined, x.lost, x.refused, x.offered_workers);
}

using cluster_registry_actor = caf::typed_actor<
    caf::replies_to<hello_atom, std::uint32_t>::with<std::string>,
    caf::replies_to<join_atom, protocol::node_registration, std::string, std::string, caf::actor>::with<std::string,
                                                                                                         std::string>,
    caf::replies_to<offer_atom, std::string, std::vector<std::string>, std::vector<std::string>,
                    std::vector<caf::actor>>::with<std::uint32_t>,
    caf::replies_to<host_atom, std::string, std::uint32_t, caf::actor>::with<caf::ok_atom>,
    caf::replies_to<hosts_atom, caf::actor>::with<std::vector<std::string>, std::vector<std::uint32_t>,
                                                  std::vector<caf::actor>>,
    caf::replies_to<stats_atom>::with<cluster_stats>,
    caf::replies_to<done_atom>::with<caf::ok_atom>>;

struct registry_setup {
  std::string secret;                       // resolved (check_cluster)
  std::vector<std::string> remote_pools;    // pools nodes may add workers to
  reward_config rewards;                    // the grader's reward settings, sent to every node
  std::vector<std::string> reward_names;    // the grader's reward specs in order: a node's must match
  grader_actor grader;
  metrics_actor metrics;                    // may be invalid
  std::chrono::milliseconds request_timeout{10000};
  std::function<void(const std::string&)> log;  // one line per event (joins, refusals, losses)
};
cluster_registry_actor spawn_cluster_registry(caf::actor_system& sys, registry_setup setup);

// The controller's side: the registry, published at cluster.listen.
struct cluster_door {
  cluster_registry_actor registry;
  endpoint at;  // the port actually bound (cluster.listen may ask for port 0)
  bool tls = false;
};
// Spawns the registry for `grader` and publishes it. The grader must run the built-in rewards of
// `rewards` (nodes build the same list and the registry checks that their names match).
result<cluster_door> open_cluster(caf::actor_system& sys, const cluster_config& config, const reward_config& rewards,
                                  grader_actor grader, metrics_actor metrics,
                                  std::function<void(const std::string&)> log);
// Waits until `count` nodes are in the cluster, or fails after `timeout` saying how many came.
result<cluster_stats> wait_for_nodes(caf::actor_system& sys, const cluster_door& door, std::uint32_t count,
                                     std::chrono::milliseconds timeout);
cluster_stats stats_of(caf::actor_system& sys, const cluster_door& door);
// Tells every node that the run is over, closes the port and stops the registry.
void close_cluster(caf::actor_system& sys, const cluster_door& door);

}  // namespace aha::actors
