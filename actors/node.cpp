// `aha node`: join the controller, offer reward workers, supervise them (actors/node.hpp).
#include "actors/node.hpp"

#include <map>
#include <optional>
#include <thread>

#include <unistd.h>

#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>

#include "actors/cluster_auth.hpp"
#include "cluster/generator_host.hpp"
#include "sandbox/pool.hpp"

namespace aha::actors {
namespace {

using clock_type = std::chrono::steady_clock;

std::string host_name() {
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "localhost";
  return name;
}

// A failed request as one line: the controller's own reason when it refused.
aha::error refusal(const std::string& what, const caf::error& failure) {
  if (failure.category() != kErrorCategory) return make_error(errc::unavailable, what + ": " + describe(failure));
  const auto& context = failure.context();
  auto reason = context.match_elements<std::string>() ? context.get_as<std::string>(0) : describe(failure);
  return make_error(errc_of(failure), what + ": the controller refused: " + reason);
}

// A request from the node's blocking supervisor: the reply, or refusal().
template <class T, class Handle, class... Ts>
result<T> ask(caf::scoped_actor& self, const Handle& to, std::chrono::milliseconds timeout, const std::string& what,
              Ts&&... xs) {
  std::optional<T> out;
  caf::error failure;
  self->request(to, timeout, std::forward<Ts>(xs)...)
      .receive([&](T& x) { out = std::move(x); }, [&](caf::error& e) { failure = std::move(e); });
  if (out) return std::move(*out);
  return refusal(what, failure);
}

// Connects to the registry, retrying while the controller is not up yet.
// With TLS a failed handshake (a controller with another CA) looks like an unreachable one to
// CAF; the error says to check both.
result<cluster_registry_actor> connect(caf::actor_system& sys, const endpoint& at, bool tls,
                                       std::chrono::milliseconds patience, const std::atomic<bool>& stop) {
  const auto until = clock_type::now() + patience;
  for (;;) {
    auto registry = tls ? caf::openssl::remote_actor<cluster_registry_actor>(sys, at.host, at.port)
                        : sys.middleman().remote_actor<cluster_registry_actor>(at.host, at.port);
    if (registry) return *registry;
    if (stop) return make_error(errc::unavailable, "stopped (signal) before reaching the controller");
    if (clock_type::now() >= until) {
      return make_error(errc::unavailable, "cannot reach the controller at " + at.host + ":" + std::to_string(at.port) +
                                               " (" + sys.render(registry.error()) +
                                               "); is `aha train` running with cluster.listen there" +
                                               (tls ? ", with the same cluster.tls_dir?" : "?"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

struct worker_set {
  std::shared_ptr<const std::vector<reward_spec>> specs;
  std::vector<std::string> reward_names;
  std::map<caf::actor_addr, std::string> pool_of;  // live workers and their pool
};

// Spawns one worker per entry of `pools` and offers them; the supervisor monitors each. The
// workers are scheduled, not detached: on CAF 0.17.6 ~actor_system waits until every detached
// actor's *object* is destroyed (await_detached_threads; fixed upstream in 0.18 by PR 1202), and
// a worker handed to the controller is also referenced from inside CAF's middleman (its actor
// registry, queued BASP messages), beyond this code's control: one reference left there holds
// the node's exit forever (STACK.md). Their blocking checks get scheduler threads instead, as
// many as there are workers (run_node).
status offer_workers(caf::scoped_actor& self, const cluster_registry_actor& registry, const node_setup& setup,
                     const std::string& node_id, worker_set& set, const std::vector<std::string>& pools,
                     node_outcome& outcome) {
  if (pools.empty()) return ok_status();
  std::vector<caf::actor> workers;
  for (const auto& pool : pools) {
    auto worker = caf::actor_cast<caf::actor>(spawn_reward_worker(self->system(), set.specs, threading::scheduled));
    self->monitor(worker);
    set.pool_of[worker.address()] = pool;
    workers.push_back(worker);
  }
  auto accepted = ask<std::uint32_t>(self, registry, setup.cluster.request_timeout, "offer", offer_atom::value,
                                     node_id, set.reward_names, pools, workers);
  if (!accepted) return accepted.error();
  outcome.workers_offered += *accepted;
  return ok_status();
}

// The sandbox pool behind the sandbox workers; none when none are wanted, or (when allowed)
// when it cannot start on this host.
result<std::shared_ptr<sandbox::pool>> make_sandbox(const node_setup& setup, std::ostream& log) {
  if (setup.cluster.node.sandbox_workers + setup.cluster.node.checker_workers == 0) return std::shared_ptr<sandbox::pool>{};
  auto created = sandbox::pool::create(setup.sandbox);
  if (created) return std::shared_ptr<sandbox::pool>{std::move(*created)};
  if (setup.require_sandbox) {
    return make_error(created.error().code, "the sandbox cannot start: " + created.error().message +
                                                " (set cluster.node.sandbox_workers and checker_workers to 0, or "
                                                "grader.require_sandbox = false to offer cpu workers only)");
  }
  log << "aha node: warning: no sandbox (" << created.error().message << "); offering cpu workers only\n";
  return std::shared_ptr<sandbox::pool>{};
}

// hello, join: both sides prove they hold the secret; returns the controller's reward settings.
result<reward_config> handshake(caf::scoped_actor& self, const cluster_registry_actor& registry,
                                const node_setup& setup, const std::string& secret, const std::string& node_id,
                                std::vector<std::string> offered_kinds) {
  const auto timeout = setup.cluster.request_timeout;
  auto challenge = ask<std::string>(self, registry, timeout, "hello", hello_atom::value, kClusterProtocolVersion);
  if (!challenge) return challenge.error();
  protocol::node_registration reg;
  reg.node_id = node_id;
  reg.host = host_name();
  reg.actors = std::move(offered_kinds);
  reg.cpu_cores = std::thread::hardware_concurrency();
  reg.memory_bytes = static_cast<std::uint64_t>(::sysconf(_SC_PHYS_PAGES)) * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  const auto node_nonce = auth::random_nonce();
  reg.auth_proof = auth::node_proof(secret, *challenge, node_nonce, node_id);
  std::optional<std::pair<std::string, std::string>> welcome;
  caf::error failure;
  self->request(registry, timeout, join_atom::value, reg, *challenge, node_nonce, caf::actor_cast<caf::actor>(self))
      .receive([&](std::string& proof, std::string& settings) { welcome.emplace(std::move(proof), std::move(settings)); },
               [&](caf::error& e) { failure = std::move(e); });
  if (!welcome) return refusal("join", failure);
  if (!auth::equal_constant_time(welcome->first, auth::controller_proof(secret, *challenge, node_nonce, node_id))) {
    return make_error(errc::denied, "join: the controller could not prove it knows the cluster secret: leaving");
  }
  return config::load_string<reward_config>(welcome->second, {}, "the controller's reward settings");
}

// Until the run is over, the controller is gone or `stop` is set: replaces dead workers.
node_end supervise(caf::scoped_actor& self, const cluster_registry_actor& registry, const node_setup& setup,
                   const std::string& node_id, worker_set& set, node_outcome& outcome, const std::atomic<bool>& stop,
                   std::ostream& log) {
  self->monitor(registry);
  node_end end = node_end::run_over;
  bool running = true;
  self->receive_while(running)(
      [&](done_atom) {
        log << "aha node: the controller finished the run; leaving\n";
        running = false;
        return caf::ok_atom::value;
      },
      [&](probe_atom) { return caf::ok_atom::value; },  // the grader asks whether this node is reachable
      [&](caf::down_msg& down) {
        if (down.source == registry.address()) {
          log << "aha node: lost the controller (" << describe(down.reason) << "); leaving\n";
          end = node_end::controller_lost;
          running = false;
          return;
        }
        auto dead = set.pool_of.find(down.source);
        if (dead == set.pool_of.end()) return;
        auto pool = dead->second;
        set.pool_of.erase(dead);
        ++outcome.worker_restarts;
        if (auto s = offer_workers(self, registry, setup, node_id, set, {pool}, outcome); !s) {
          log << "aha node: a replacement " << pool << " worker was not taken: " << s.error().message << "\n";
        }
      },
      caf::after(std::chrono::milliseconds(200)) >> [&] {
        if (!stop) return;
        log << "aha node: stopping (signal)\n";
        end = node_end::stopped;
        running = false;
      });
  return end;
}

// Connects (retrying within join_timeout), authenticates both ways, builds the rewards the
// controller names (the first time) and offers one worker per entry of `pools`. On a rejoin a
// refusal other than a wrong secret or version (the controller may not have noticed the old
// connection's loss yet: the name is still taken) is retried within join_timeout too.
result<cluster_registry_actor> join_and_offer(caf::scoped_actor& self, caf::actor_system& sys, const endpoint& at,
                                              const node_setup& setup, const std::string& secret,
                                              const std::string& node_id, const std::vector<std::string>& kinds,
                                              const std::vector<std::string>& pools,
                                              const std::shared_ptr<sandbox::pool>& sandbox, bool rejoining,
                                              const std::atomic<bool>& stop, worker_set& set, node_outcome& outcome) {
  const auto until = clock_type::now() + setup.cluster.node.join_timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock_type::now());
    auto registry = connect(sys, at, uses_tls(setup.cluster), std::max(left, std::chrono::milliseconds(0)), stop);
    if (!registry) return registry.error();
    auto rewards = handshake(self, *registry, setup, secret, node_id, kinds);
    if (!rewards) {
      const bool final = !rejoining || rewards.error().code == errc::denied ||
                         rewards.error().code == errc::version_mismatch || stop || clock_type::now() >= until;
      if (final) return rewards.error();
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      continue;
    }
    if (!set.specs) {
      auto specs = make_builtin_rewards(*rewards, sandbox, "this node has no sandbox");
      if (!specs) return specs.error();
      set.specs = std::make_shared<const std::vector<reward_spec>>(bounded_by_deadlines(std::move(*specs)));
      for (const auto& spec : *set.specs) set.reward_names.push_back(spec.name);
    }
    if (auto s = offer_workers(self, *registry, setup, node_id, set, pools, outcome); !s) return s.error();
    return *registry;
  }
}

}  // namespace

result<node_outcome> run_node(const node_setup& setup, const std::atomic<bool>& stop, std::ostream& log) {
  // 1. Settings: the controller's address, the secret, this node's name and pools.
  auto at = parse_endpoint(setup.join, "--join");
  if (!at) return at.error();
  auto secret = check_cluster(setup.cluster, setup.join);
  if (!secret) {
    const bool about_secret = secret.error().message.find("secret") != std::string::npos;
    return make_error(secret.error().code, secret.error().message + (about_secret ? "; on aha node: --secret or --secret-file" : ""));
  }
  const auto& node = setup.cluster.node;
  const std::string node_id = node.name.empty() ? host_name() + ":" + std::to_string(::getpid()) : node.name;
  auto sandbox = make_sandbox(setup, log);
  if (!sandbox) return sandbox.error();
  std::vector<std::string> pools(node.cpu_workers, "cpu");
  if (*sandbox) pools.insert(pools.end(), node.sandbox_workers, "sandbox");
  if (*sandbox) pools.insert(pools.end(), node.checker_workers, "checker");
  if (pools.empty() && node.generators == 0) {
    return make_error(errc::invalid_argument, "cluster.node: nothing to offer (no reward workers: cpu_workers = 0 and no "
                                              "sandbox; generators = 0)");
  }

  // 2. The actor system, with the middleman's heartbeats so that a frozen controller is noticed.
  // No detached actor anywhere in it (offer_workers says why): one scheduler thread per worker,
  // as each may block in a check, plus `threads` for the middleman's work; the middleman's own
  // utility actors are scheduled too (CAF spawns them detached by default).
  caf::actor_system_config cfg;
  const auto threads = setup.threads ? setup.threads : std::thread::hardware_concurrency();
  cfg.set("scheduler.max-threads", static_cast<std::size_t>(std::max(2u, threads)) + pools.size() + node.generators);
  cfg.set("middleman.attach-utility-actors", true);
  cfg.set("logger.verbosity", caf::atom("quiet"));
  add_message_types(cfg);
  configure_middleman(cfg, setup.cluster);
  caf::actor_system sys{cfg};

  // 3. Join, offer the workers and supervise them until the run ends. A node that loses the
  //    controller (a cut link: heartbeats stop) joins again when cluster.node.rejoin, with fresh
  //    workers: the controller has re-queued whatever the old ones held.
  caf::scoped_actor self{sys};
  std::vector<std::string> kinds;
  for (const auto& pool : pools) kinds.push_back("reward_worker:" + pool);
  if (node.generators > 0) kinds.push_back("generator:" + std::to_string(node.generators));
  node_outcome outcome;
  worker_set set;
  cluster::generator_host_actor host;  // this join's generators (GRPO stages order them)
  auto stop_host = [&] {
    if (host) self->send_exit(host, caf::exit_reason::user_shutdown);
    host = nullptr;
  };
  for (std::uint64_t joins = 0;; ++joins) {
    auto joined = join_and_offer(self, sys, *at, setup, *secret, node_id, kinds, pools, *sandbox, joins > 0, stop, set,
                                 outcome);
    if (joined && node.generators > 0) {
      host = cluster::spawn_generator_host(sys, {node_id, node.generators, threading::scheduled, &log});
      auto hosted = ask<caf::ok_atom>(self, *joined, setup.cluster.request_timeout, "host", host_atom::value, node_id,
                                      node.generators, caf::actor_cast<caf::actor>(host));
      if (!hosted) {
        stop_host();
        joined = hosted.error();
      }
    }
    if (!joined) {
      if (joins == 0) return joined.error();
      log << "aha node: could not join again: " << joined.error().message << "\n";
      outcome.end = node_end::controller_lost;
      break;
    }
    if (joins == 0) {
      log << "aha node: '" << node_id << "' joined " << setup.join << ": offering " << node.cpu_workers << " cpu, "
          << (*sandbox ? node.sandbox_workers : 0) << " sandbox and " << (*sandbox ? node.checker_workers : 0)
          << " checker reward workers and " << node.generators << " generators\n";
    } else {
      ++outcome.rejoins;
      log << "aha node: '" << node_id << "' joined " << setup.join << " again (" << outcome.rejoins << ")\n";
    }
    outcome.end = supervise(self, *joined, setup, node_id, set, outcome, stop, log);
    if (outcome.end != node_end::controller_lost || !node.rejoin || stop) break;
    for (const auto& [worker, pool] : set.pool_of) self->send_exit(caf::actor_cast<caf::actor>(worker), caf::exit_reason::user_shutdown);
    set.pool_of.clear();
    stop_host();
    log << "aha node: trying to join again for up to " << node.join_timeout.count() << " ms\n";
  }
  if (setup.on_leaving) setup.on_leaving(outcome.end);
  for (const auto& [worker, pool] : set.pool_of) {
    self->send_exit(caf::actor_cast<caf::actor>(worker), caf::exit_reason::user_shutdown);
  }
  stop_host();
  return outcome;
}

}  // namespace aha::actors
