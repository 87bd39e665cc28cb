// The weight streamer (cluster/weight_sync.hpp).
#include "cluster/weight_sync.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <optional>

namespace aha::cluster {
namespace {

using clock_type = std::chrono::steady_clock;

struct link {
  weights_receiver_actor receiver;
  std::optional<std::uint64_t> in_flight;          // version sent, not yet acknowledged
  clock_type::time_point sent_at;
  std::optional<std::uint64_t> held;               // version acknowledged (the base of a delta)
  std::shared_ptr<const block_hashes> held_hashes; // its block hashes
  std::shared_ptr<const block_hashes> in_flight_hashes;
  weight_link_stats stats;
};

struct streamer_state {
  weights_section section;
  std::unique_ptr<weight_encoder> encoder;
  actors::weights_ptr latest;
  std::shared_ptr<const block_hashes> latest_hashes;  // computed when first needed
  std::map<caf::actor_addr, link> links;
  std::vector<weight_link_stats> gone;  // links whose receiver went away (kept for the report)
  static inline const char* name = "weight_streamer";
};

using self_ptr = weight_streamer_actor::stateful_pointer<streamer_state>;

// Sends the newest version to a subscriber that has none in flight and does not hold it yet.
void feed(self_ptr self, link& l) {
  auto& st = self->state;
  if (!st.latest || l.in_flight || (l.held && *l.held == st.latest->version)) return;
  if (!st.latest_hashes) st.latest_hashes = std::make_shared<const block_hashes>(st.encoder->hash(*st.latest));
  const bool delta = st.section.delta && l.held && l.held_hashes;
  auto chunks = delta ? st.encoder->encode(*st.latest, *st.latest_hashes, l.held_hashes.get(), *l.held)
                      : st.encoder->encode(*st.latest, *st.latest_hashes);
  for (auto& c : chunks) {
    l.stats.bytes += c.payload.size();
    self->send(l.receiver, wchunk_atom::value, std::move(c));
  }
  ++(delta ? l.stats.delta : l.stats.full);
  l.in_flight = st.latest->version;
  l.in_flight_hashes = st.latest_hashes;
  l.sent_at = clock_type::now();
}

weight_streamer_actor::behavior_type streamer(self_ptr self, weights_section section) {
  self->state.section = section;
  self->state.encoder = std::make_unique<weight_encoder>(options_of(section));
  self->set_down_handler([self](caf::down_msg& down) {
    auto& st = self->state;
    auto it = st.links.find(down.source);
    if (it == st.links.end()) return;
    st.gone.push_back(it->second.stats);
    st.links.erase(it);
  });
  return {
      [self](actors::weights_atom, actors::weights_ptr snapshot) {
        auto& st = self->state;
        if (st.latest && snapshot->version <= st.latest->version) return;
        st.latest = std::move(snapshot);
        st.latest_hashes.reset();
        for (auto& [addr, l] : st.links) feed(self, l);
      },
      [self](wsync_atom, caf::actor receiver) {
        if (!receiver) return;
        auto& st = self->state;
        auto [it, fresh] = st.links.try_emplace(receiver.address());
        auto& l = it->second;
        if (fresh) {
          l.receiver = caf::actor_cast<weights_receiver_actor>(receiver);
          l.stats.receiver = caf::to_string(receiver.node()) + "/" + std::to_string(receiver.id());
          self->monitor(receiver);
        } else {
          ++l.stats.resyncs;
        }
        // Whatever it held or was being sent is void: a full version next (chunks of the old
        // one still on the way are dropped by the receiver until a full version starts).
        l.held.reset();
        l.held_hashes.reset();
        l.in_flight.reset();
        feed(self, l);
      },
      [self](wack_atom, std::uint64_t version) {
        auto& st = self->state;
        auto it = st.links.find(self->current_sender() ? caf::actor_cast<caf::actor_addr>(self->current_sender()) : caf::actor_addr{});
        if (it == st.links.end()) return;
        auto& l = it->second;
        if (!l.in_flight || *l.in_flight != version) return;  // an old version's acknowledgement
        l.stats.send_to_ack_ms += std::chrono::duration<double, std::milli>(clock_type::now() - l.sent_at).count();
        ++l.stats.versions;
        l.stats.last_version = version;
        l.held = version;
        l.held_hashes = std::move(l.in_flight_hashes);
        l.in_flight.reset();
        feed(self, l);
      },
      [self](actors::stats_atom) {
        auto out = self->state.gone;
        for (const auto& [addr, l] : self->state.links) out.push_back(l.stats);
        return out;
      },
  };
}

}  // namespace

stream_options options_of(const weights_section& section) {
  stream_options out;
  out.block_bytes = section.block_kib * 1024;
  out.chunk_bytes = std::max(section.chunk_kib, section.block_kib) * 1024;
  return out;
}

weight_streamer_actor spawn_weight_streamer(caf::actor_system& sys, const weights_section& section) {
  // Hashing and encoding a version is CPU work of milliseconds per 100 MB: a thread of its own
  // keeps it off the scheduler that the grader and the gate run on.
  return sys.spawn<caf::detached>(streamer, section);
}

}  // namespace aha::cluster
