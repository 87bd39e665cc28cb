// A GRPO stage's generators on nodes (cluster/remote_generation.hpp).
#include "cluster/remote_generation.hpp"

#include "cluster/generator_host.hpp"

namespace aha::cluster {
namespace {

constexpr auto kAskTimeout = std::chrono::seconds(10);

std::string receiver_id(const caf::actor& a) { return caf::to_string(a.node()) + "/" + std::to_string(a.id()); }

}  // namespace

remote_generation::remote_generation(caf::actor_system& sys, remote_setup setup) : sys_(sys), setup_(std::move(setup)) {}

remote_generation::~remote_generation() {
  if (!finished_) finish();
}

std::vector<std::pair<std::string, caf::actor>> remote_generation::hosts(const caf::actor& listener) {
  std::vector<std::pair<std::string, caf::actor>> out;
  if (!setup_.registry) return out;
  caf::scoped_actor self{sys_};
  self->request(setup_.registry, kAskTimeout, actors::hosts_atom::value, listener)
      .receive(
          [&](std::vector<std::string>& names, std::vector<std::uint32_t>&, std::vector<caf::actor>& handles) {
            for (std::size_t i = 0; i < names.size() && i < handles.size(); ++i) out.emplace_back(names[i], handles[i]);
          },
          [&](caf::error& e) {
            if (setup_.log) *setup_.log << "cluster: cannot list the nodes' generators: " << actors::describe(e) << "\n";
          });
  return out;
}

std::vector<caf::actor> remote_generation::start(const std::string& node, const caf::actor& host) {
  auto say = [&](const std::string& line) {
    if (setup_.log) *setup_.log << "cluster: node '" << node << "': " << line << "\n";
  };
  // 1. The stage's streamer, subscribed to the learner once (it sends the latest version at once).
  if (!streamer_) {
    streamer_ = spawn_weight_streamer(sys_, setup_.weights);
    caf::anon_send(setup_.learner, actors::subscribe_atom::value, actors::weights_sink_actor{streamer_});
  }
  // 2. The order: the model as text, the settings, the peers.
  auto image = image_of(*setup_.policy, *setup_.tokenizer, setup_.model_path);
  if (!image) {
    say("cannot describe the model to it: " + image.error().message);
    return {};
  }
  generator_order order;
  order.stage = setup_.stage;
  order.model = std::move(*image);
  order.generator_toml = config::to_toml(setup_.generator);
  order.max_staleness = setup_.max_staleness;
  order.seed = setup_.seed + 7919 * (hosts_.size() + 1);  // a stream per node, reproducible
  order.block_bytes = options_of(setup_.weights).block_bytes;
  order.prompts = caf::actor_cast<caf::actor>(setup_.prompts);
  order.grader = caf::actor_cast<caf::actor>(setup_.grader);
  order.gate = caf::actor_cast<caf::actor>(setup_.gate);
  order.metrics = caf::actor_cast<caf::actor>(setup_.metrics);
  order.streamer = caf::actor_cast<caf::actor>(streamer_);
  // 3. The host answers once its replicas hold the stage's weights.
  std::vector<caf::actor> out;
  caf::scoped_actor self{sys_};
  self->request(caf::actor_cast<generator_host_actor>(host), setup_.start_timeout, start_atom::value, std::move(order))
      .receive([&](std::vector<caf::actor>& handles) { out = std::move(handles); },
               [&](caf::error& e) { say("its generators did not start: " + actors::describe(e)); });
  if (!out.empty()) {
    say(std::to_string(out.size()) + " generator(s) started");
    hosts_[node] = host;
    auto& mine = generators_[node];
    mine.insert(mine.end(), out.begin(), out.end());
    started_[node] += out.size();
  }
  return out;
}

std::map<std::string, node_generation> remote_generation::finish() {
  finished_ = true;
  std::map<std::string, node_generation> out;
  caf::scoped_actor self{sys_};
  if (setup_.registry) {
    self->request(setup_.registry, kAskTimeout, actors::hosts_atom::value, caf::actor{})
        .receive([](std::vector<std::string>&, std::vector<std::uint32_t>&, std::vector<caf::actor>&) {},
                 [](caf::error&) {});
  }
  if (!streamer_) return out;
  for (const auto& [node, handles] : generators_) {
    auto& n = out[node];
    n.generators = started_[node];
    for (const auto& g : handles) {
      self->request(caf::actor_cast<actors::generator_actor>(g), kAskTimeout, actors::progress_atom::value)
          .receive(
              [&](actors::progress_list& parts) {
                for (const auto& p : parts) {
                  if (p.unit == "rollouts") n.rollouts += p.done;
                }
              },
              [](caf::error&) {});  // gone with its node: its rollouts are not counted here
    }
  }
  std::vector<weight_link_stats> links;
  self->request(streamer_, kAskTimeout, actors::stats_atom::value)
      .receive([&](std::vector<weight_link_stats>& s) { links = std::move(s); }, [](caf::error&) {});
  for (const auto& [node, host] : hosts_) {
    auto& n = out[node];
    for (const auto& l : links) {
      if (l.receiver != receiver_id(host)) continue;
      n.weight_versions += l.versions;
      n.weight_bytes += l.bytes;
      n.full_versions += l.full;
      n.delta_versions += l.delta;
      n.resyncs += l.resyncs;
      n.ms_per_version = l.versions ? l.send_to_ack_ms / static_cast<double>(l.versions) : 0;
    }
  }
  self->send_exit(streamer_, caf::exit_reason::user_shutdown);
  streamer_ = nullptr;
  return out;
}

}  // namespace aha::cluster
