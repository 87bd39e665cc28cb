// weight_sync: moving the learner's weights to replicas in other processes, by version.
// The streamer lives with the learner and subscribes to it like a local generator; each remote
// replica (a node's generator host, cluster/generator_host.hpp) subscribes to the streamer.
// Per subscriber, one version is in flight at a time: the streamer sends a version's chunks
// (cluster/weight_stream.hpp), the receiver acknowledges once it holds the whole version, and
// only then does the streamer send the newest version it has, skipping any in between (a slow
// link gets fewer, fresher versions instead of a growing queue). A subscriber whose acknowledged
// version the streamer still knows gets a delta against it (cluster.weights.delta); any other, a
// full version. A receiver that finds a chunk corrupt asks for a full version again.
// Messages of the streamer (weight_streamer_actor):
//   weights(snapshot)               - from the learner: the newest version (in-process)
//   wsync(receiver)                 - a receiver (re)subscribes and needs a full version
//   wack(version)                   - the sender holds `version` complete
//   stats                           -> per subscriber: versions, bytes, full/delta, milliseconds
// Receivers get wchunk(weight_chunk). Tested by cluster/weight_sync.test.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/cluster.hpp"
#include "actors/generator.hpp"
#include "cluster/weight_stream.hpp"
#include "core/config.hpp"

namespace aha::cluster {

using wsync_atom = caf::atom_constant<caf::atom("wsync")>;
using wchunk_atom = caf::atom_constant<caf::atom("wchunk")>;
using wack_atom = caf::atom_constant<caf::atom("wack")>;

// CAF serialisation of a chunk: the payload as one byte string (never per element).
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, weight_chunk& x) {
  return f(caf::meta::type_name("aha.weight_chunk"), x.version, x.delta, x.base_version, x.index, x.count, x.layout,
           x.blocks, x.payload, x.checksum);
}

using actors::weights_section;  // [cluster.weights] (actors/cluster.hpp)
stream_options options_of(const weights_section& section);

// What one subscriber has been sent.
struct weight_link_stats {
  std::string receiver;                // its CAF node and actor id, for the log
  std::uint64_t versions = 0;          // versions acknowledged
  std::uint64_t full = 0;              // of those sent: full versions
  std::uint64_t delta = 0;             //                deltas
  std::uint64_t bytes = 0;             // payload bytes sent
  std::uint64_t resyncs = 0;           // full versions asked for again (a corrupt or lost chunk)
  std::uint64_t last_version = 0;      // newest version acknowledged
  double send_to_ack_ms = 0;           // sum over acknowledged versions: first chunk sent -> acknowledged
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, weight_link_stats& x) {
  return f(caf::meta::type_name("aha.weight_link_stats"), x.receiver, x.versions, x.full, x.delta, x.bytes, x.resyncs,
           x.last_version, x.send_to_ack_ms);
}

// What takes a version's chunks (a node's generator host).
using weights_receiver_actor = caf::typed_actor<caf::reacts_to<wchunk_atom, weight_chunk>>;

using weight_streamer_actor =
    caf::typed_actor<caf::reacts_to<actors::weights_atom, actors::weights_ptr>, caf::reacts_to<wsync_atom, caf::actor>,
                     caf::reacts_to<wack_atom, std::uint64_t>,
                     caf::replies_to<actors::stats_atom>::with<std::vector<weight_link_stats>>>;

weight_streamer_actor spawn_weight_streamer(caf::actor_system& sys, const weights_section& section);

}  // namespace aha::cluster
