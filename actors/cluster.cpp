// The controller's side of the cluster (actors/cluster.hpp): settings, the registry actor that
// authenticates nodes and hands their workers to the grader, and publishing it.
#include "actors/cluster.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <thread>

#include <arpa/inet.h>

#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>

#include "actors/cluster_auth.hpp"
#include "actors/cluster_tls.hpp"

namespace aha::actors {
namespace {

using clock_type = std::chrono::steady_clock;

// Challenges are single use and expire; a peer that asks for many without joining is refused.
constexpr auto kChallengeLifetime = std::chrono::seconds(60);
constexpr std::size_t kMaxOpenChallenges = 256;
constexpr std::size_t kMaxOpenChallengesPerPeer = 4;  // a join needs one; a peer asking for more is stalling others

struct open_challenge {
  clock_type::time_point issued;
  caf::node_id peer;  // the CAF node (connection) that asked
};
const std::set<std::string> kPools{"cpu", "sandbox", "checker"};

struct node_entry {
  std::string id;
  caf::node_id wire;     // the CAF node it connected from: offers must come from there
  caf::actor supervisor; // monitored: its down_msg means the node is gone
  std::uint64_t workers = 0;
  caf::actor generator_host;        // may be invalid: the node runs no generators
  std::uint32_t generators = 0;
};

struct registry_state {
  registry_setup setup;
  std::string reward_settings;                          // TOML of setup.rewards
  std::map<std::string, open_challenge> challenges;
  std::map<std::string, node_entry> nodes;              // by node id
  caf::actor host_listener;                             // told of generator hosts as they come (a GRPO stage)
  cluster_stats counters;
  static inline const char* name = "cluster_registry";
};

using registry_ptr = cluster_registry_actor::stateful_pointer<registry_state>;

void log_line(registry_ptr self, const std::string& line) {
  if (self->state.setup.log) self->state.setup.log("cluster: " + line);
}

void publish_gauges(registry_ptr self) {
  const auto& st = self->state;
  if (!st.setup.metrics) return;
  metric_map gauges{{"cluster/nodes", static_cast<double>(st.nodes.size())},
                    {"cluster/nodes_lost", static_cast<double>(st.counters.lost)},
                    {"cluster/nodes_refused", static_cast<double>(st.counters.refused)}};
  self->send(st.setup.metrics, gauge_atom::value, std::move(gauges));
}

caf::error refuse(registry_ptr self, errc code, const std::string& why) {
  ++self->state.counters.refused;
  log_line(self, "refused a node: " + why);
  publish_gauges(self);
  return to_caf_error(code, why);
}

std::string describe_node(const protocol::node_registration& r) {
  return "'" + r.node_id + "' (" + r.host + ", " + std::to_string(r.cpu_cores) + " cores)";
}

// join: the challenge must be open, the proof right and the name free.
caf::result<std::string, std::string> on_join(registry_ptr self, const protocol::node_registration& reg,
                                              const std::string& challenge, const std::string& node_nonce,
                                              const caf::actor& supervisor) {
  auto& st = self->state;
  auto open = st.challenges.find(challenge);
  if (open == st.challenges.end()) {
    return refuse(self, errc::denied, "node " + describe_node(reg) + " answered an unknown or expired challenge");
  }
  st.challenges.erase(open);
  auto expected = auth::node_proof(st.setup.secret, challenge, node_nonce, reg.node_id);
  if (!auth::equal_constant_time(expected, reg.auth_proof)) {
    return refuse(self, errc::denied,
                  "node " + describe_node(reg) + " does not know the cluster secret (wrong cluster.secret / --secret)");
  }
  if (reg.node_id.empty() || st.nodes.count(reg.node_id)) {
    return refuse(self, errc::invalid_argument, "a node named '" + reg.node_id + "' is already in the cluster");
  }
  if (!supervisor) return refuse(self, errc::invalid_argument, "node '" + reg.node_id + "' sent no supervisor");
  const auto& sender = self->current_sender();
  st.nodes[reg.node_id] = node_entry{reg.node_id, sender ? sender->node() : caf::node_id{}, supervisor, 0, {}, 0};
  self->monitor(supervisor);
  ++st.counters.joined;
  log_line(self, "node " + describe_node(reg) + " joined");
  publish_gauges(self);
  return {auth::controller_proof(st.setup.secret, challenge, node_nonce, reg.node_id), st.reward_settings};
}

// offer: only a joined node, from the connection it joined on, with the same reward list.
caf::result<std::uint32_t> on_offer(registry_ptr self, const std::string& node_id,
                                    const std::vector<std::string>& reward_names, const std::vector<std::string>& pools,
                                    const std::vector<caf::actor>& workers) {
  auto& st = self->state;
  auto node = st.nodes.find(node_id);
  const auto& sender = self->current_sender();
  if (node == st.nodes.end() || !sender || sender->node() != node->second.wire) {
    return to_caf_error(errc::denied, "offer from '" + node_id + "', which has not joined from this connection");
  }
  if (reward_names != st.setup.reward_names) {
    return to_caf_error(errc::version_mismatch, "node '" + node_id +
                                                    "' builds a different list of rewards than the controller "
                                                    "(are both the same aha version?)");
  }
  if (pools.size() != workers.size()) return to_caf_error(errc::invalid_argument, "offer: one pool per worker");
  const auto& allowed = st.setup.remote_pools;
  for (const auto& pool : pools) {
    if (std::find(allowed.begin(), allowed.end(), pool) == allowed.end()) {
      return to_caf_error(errc::invalid_argument, "node '" + node_id + "' offers workers for pool '" + pool +
                                                      "', which is not in cluster.remote_pools");
    }
  }
  for (std::size_t i = 0; i < workers.size(); ++i) {
    self->request(st.setup.grader, st.setup.request_timeout, offer_atom::value, pools[i], workers[i], node->second.supervisor)
        .then([](caf::ok_atom) {},
              [self, pool = pools[i]](caf::error& e) { log_line(self, "the grader refused a " + pool + " worker: " + describe(e)); });
  }
  node->second.workers += workers.size();
  st.counters.offered_workers += workers.size();
  log_line(self, "node '" + node_id + "' offers " + std::to_string(workers.size()) + " reward worker(s)");
  return static_cast<std::uint32_t>(workers.size());
}

// host: like an offer, only from a joined node on its own connection.
caf::result<caf::ok_atom> on_host(registry_ptr self, const std::string& node_id, std::uint32_t generators,
                                  const caf::actor& host) {
  auto& st = self->state;
  auto node = st.nodes.find(node_id);
  const auto& sender = self->current_sender();
  if (node == st.nodes.end() || !sender || sender->node() != node->second.wire) {
    return to_caf_error(errc::denied, "generators from '" + node_id + "', which has not joined from this connection");
  }
  if (!host || generators == 0) return to_caf_error(errc::invalid_argument, "a generator host needs a handle and a count");
  node->second.generator_host = host;
  node->second.generators = generators;
  log_line(self, "node '" + node_id + "' runs " + std::to_string(generators) + " generator(s)");
  if (st.host_listener) caf::anon_send(st.host_listener, host_atom::value, node_id, generators, host);
  return caf::ok_atom::value;
}

cluster_registry_actor::behavior_type registry(registry_ptr self, registry_setup setup) {
  auto& st = self->state;
  st.setup = std::move(setup);
  st.reward_settings = config::to_toml(st.setup.rewards);
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& nodes = self->state.nodes;
    for (auto it = nodes.begin(); it != nodes.end(); ++it) {
      if (it->second.supervisor.address() != msg.source) continue;
      ++self->state.counters.lost;
      log_line(self, "node '" + it->first + "' is gone (" + describe(msg.reason) + "); the grader re-queues what its " +
                         std::to_string(it->second.workers) + " worker(s) were grading");
      nodes.erase(it);
      publish_gauges(self);
      return;
    }
  });
  return {
      [self](hello_atom, std::uint32_t version) -> caf::result<std::string> {
        if (version != kClusterProtocolVersion) {
          return refuse(self, errc::version_mismatch,
                        "a node speaks cluster protocol " + std::to_string(version) + ", this controller " +
                            std::to_string(kClusterProtocolVersion) + " (run the same aha version on every host)");
        }
        auto& open = self->state.challenges;
        const auto now = clock_type::now();
        for (auto it = open.begin(); it != open.end();) it = now - it->second.issued > kChallengeLifetime ? open.erase(it) : ++it;
        const auto& sender = self->current_sender();
        const auto peer = sender ? sender->node() : caf::node_id{};
        const auto from_peer = std::count_if(open.begin(), open.end(), [&](const auto& c) { return c.second.peer == peer; });
        if (static_cast<std::size_t>(from_peer) >= kMaxOpenChallengesPerPeer) {
          return refuse(self, errc::resource_limit, "a peer asked for more than " +
                                                        std::to_string(kMaxOpenChallengesPerPeer) +
                                                        " join challenges at once");
        }
        if (open.size() >= kMaxOpenChallenges) return to_caf_error(errc::resource_limit, "too many joins in progress");
        auto challenge = auth::random_nonce();
        open.emplace(challenge, open_challenge{now, peer});
        return challenge;
      },
      [self](join_atom, const protocol::node_registration& reg, const std::string& challenge,
             const std::string& node_nonce, const caf::actor& supervisor) {
        return on_join(self, reg, challenge, node_nonce, supervisor);
      },
      [self](offer_atom, const std::string& node_id, const std::vector<std::string>& reward_names,
             const std::vector<std::string>& pools, const std::vector<caf::actor>& workers) {
        return on_offer(self, node_id, reward_names, pools, workers);
      },
      [self](host_atom, const std::string& node_id, std::uint32_t generators, const caf::actor& host) {
        return on_host(self, node_id, generators, host);
      },
      [self](hosts_atom, const caf::actor& listener) {
        auto& st = self->state;
        st.host_listener = listener;
        std::vector<std::string> names;
        std::vector<std::uint32_t> counts;
        std::vector<caf::actor> hosts;
        for (const auto& [id, node] : st.nodes) {
          if (!node.generator_host) continue;
          names.push_back(id);
          counts.push_back(node.generators);
          hosts.push_back(node.generator_host);
        }
        return caf::make_result(std::move(names), std::move(counts), std::move(hosts));
      },
      [self](stats_atom) {
        auto out = self->state.counters;
        out.nodes = self->state.nodes.size();
        return out;
      },
      [self](done_atom) -> caf::result<caf::ok_atom> {
        // Each node acknowledges (or times out), so that the news leaves before this process does.
        auto promise = self->make_response_promise<caf::ok_atom>();
        auto waiting = std::make_shared<std::size_t>(self->state.nodes.size());
        if (*waiting == 0) promise.deliver(caf::ok_atom::value);
        for (const auto& [id, node] : self->state.nodes) {
          self->demonitor(node.supervisor);
          auto answered = [promise, waiting]() mutable {
            if (--*waiting == 0) promise.deliver(caf::ok_atom::value);
          };
          self->request(node.supervisor, self->state.setup.request_timeout, done_atom::value)
              .then([answered](caf::ok_atom) mutable { answered(); }, [answered](caf::error&) mutable { answered(); });
        }
        self->state.nodes.clear();
        return promise;
      },
  };
}

}  // namespace

bool is_loopback(const std::string& host) {
  if (host == "localhost" || host == "::1") return true;
  in_addr v4{};
  return ::inet_pton(AF_INET, host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127;
}

result<std::string> check_cluster(const cluster_config& config, const std::string& address) {
  const auto& where = address.empty() ? config.listen : address;
  if (!where.empty()) {
    auto at = parse_endpoint(where, address.empty() ? "cluster.listen" : "--join");
    if (!at) return at.error();
    if (config.tls_dir.empty() && !config.plaintext && !is_loopback(at->host)) {
      return make_error(errc::invalid_argument,
                        "the cluster at " + where + " would run over plain TCP beyond this host: set cluster.tls_dir "
                        "to a folder made by `aha cluster certs DIR` (copied to every host), or cluster.plaintext = true "
                        "on a network you trust");
    }
  }
  if (!config.tls_dir.empty()) {
    if (auto files = tls::load_tls_dir(config.tls_dir, "cluster.tls_dir"); !files) return files.error();
  }
  for (const auto& pool : config.remote_pools) {
    if (!kPools.count(pool)) {
      return make_error(errc::invalid_argument, "cluster.remote_pools: '" + pool + "' is not a pool (valid: cpu, sandbox, checker)");
    }
  }
  return auth::load_secret(config.secret, config.secret_file, "cluster.");
}

cluster_config redacted(cluster_config config) {
  if (!config.secret.empty()) config.secret = "<redacted>";
  return config;
}

result<endpoint> parse_endpoint(const std::string& text, const std::string& what) {
  auto colon = text.rfind(':');
  auto bad = [&](const std::string& why) {
    return make_error(errc::invalid_argument, what + ": '" + text + "' " + why + " (expected HOST:PORT, e.g. 127.0.0.1:7070)");
  };
  if (colon == std::string::npos || colon == 0) return bad("has no host or port");
  endpoint out;
  out.host = text.substr(0, colon);
  if (out.host.size() > 2 && out.host.front() == '[' && out.host.back() == ']') out.host = out.host.substr(1, out.host.size() - 2);
  const auto digits = text.substr(colon + 1);
  if (digits.empty() || digits.size() > 5 || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return bad("has no port number");
  const auto port = std::stoul(digits);
  if (port > 65535) return bad("has a port above 65535");
  out.port = static_cast<std::uint16_t>(port);
  return out;
}

void configure_middleman(caf::actor_system_config& cfg, const cluster_config& config) {
  cfg.load<caf::io::middleman>();
  // STACK.md: without heartbeats and a connection timeout a frozen peer is never noticed.
  cfg.set("middleman.heartbeat-interval", caf::timespan{config.heartbeat});
  cfg.set("middleman.connection-timeout", caf::timespan{config.connection_timeout});
  if (config.tls_dir.empty()) return;
  // Setting certificate, key and CA turns on CAF's authenticated mode: TLS with both peers'
  // certificates verified against the CA (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT).
  cfg.load<caf::openssl::manager>();
  const std::filesystem::path dir = config.tls_dir;
  cfg.openssl_certificate = (dir / "cert.pem").string();
  cfg.openssl_key = (dir / "key.pem").string();
  cfg.openssl_cafile = (dir / "ca.pem").string();
}

bool uses_tls(const cluster_config& config) { return !config.tls_dir.empty(); }

cluster_registry_actor spawn_cluster_registry(caf::actor_system& sys, registry_setup setup) {
  return sys.spawn(registry, std::move(setup));
}

result<cluster_door> open_cluster(caf::actor_system& sys, const cluster_config& config, const reward_config& rewards,
                                  grader_actor grader, metrics_actor metrics,
                                  std::function<void(const std::string&)> log) {
  if (!sys.has_middleman()) return make_error(errc::internal, "open_cluster: the actor system has no middleman (configure_middleman)");
  auto secret = check_cluster(config);
  if (!secret) return secret.error();
  auto at = parse_endpoint(config.listen, "cluster.listen");
  if (!at) return at.error();
  // The reward list a node must build: the built-in rewards of the same settings, in order.
  auto specs = make_builtin_rewards(rewards, nullptr);
  if (!specs) return specs.error();
  registry_setup setup{*secret, config.remote_pools, rewards, {}, std::move(grader), std::move(metrics),
                       config.request_timeout, std::move(log)};
  for (const auto& spec : *specs) setup.reward_names.push_back(spec.name);
  cluster_door door;
  door.registry = spawn_cluster_registry(sys, std::move(setup));
  auto port = uses_tls(config) ? caf::openssl::publish(door.registry, at->port, at->host.c_str(), true)
                               : sys.middleman().publish(door.registry, at->port, at->host.c_str(), true);
  if (!port) {
    caf::anon_send_exit(door.registry, caf::exit_reason::user_shutdown);
    return make_error(errc::io_error, "cluster.listen = \"" + config.listen + "\": cannot listen: " + sys.render(port.error()));
  }
  door.at = endpoint{at->host, *port};
  door.tls = uses_tls(config);
  return door;
}

cluster_stats stats_of(caf::actor_system& sys, const cluster_door& door) {
  caf::scoped_actor self{sys};
  cluster_stats out;
  self->request(door.registry, std::chrono::seconds(10), stats_atom::value)
      .receive([&](cluster_stats& s) { out = s; }, [](caf::error&) {});
  return out;
}

result<cluster_stats> wait_for_nodes(caf::actor_system& sys, const cluster_door& door, std::uint32_t count,
                                     std::chrono::milliseconds timeout) {
  const auto until = clock_type::now() + timeout;
  for (;;) {
    auto stats = stats_of(sys, door);
    if (stats.nodes >= count) return stats;
    if (clock_type::now() >= until) {
      return make_error(errc::timeout, std::to_string(stats.nodes) + " of " + std::to_string(count) +
                                           " nodes joined within cluster.wait_timeout (" +
                                           std::to_string(timeout.count()) + "ms); " + std::to_string(stats.refused) +
                                           " refused");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void close_cluster(caf::actor_system& sys, const cluster_door& door) {
  if (!door.registry) return;
  caf::scoped_actor self{sys};
  self->request(door.registry, std::chrono::seconds(10), done_atom::value).receive([](caf::ok_atom) {}, [](caf::error&) {});
  if (door.tls) {
    // caf::openssl::unpublish does not compile on 0.17.6 (it names unpublish_atom_v); its
    // manager takes the io middleman's message.
    caf::anon_send(sys.openssl_manager().actor_handle(), caf::unpublish_atom::value, door.registry.address(), door.at.port);
  } else {
    sys.middleman().unpublish(door.registry, door.at.port);
  }
  self->send_exit(door.registry, caf::exit_reason::user_shutdown);
}

}  // namespace aha::actors
