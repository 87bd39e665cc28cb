// generator_host: the generators a node runs for the controller's GRPO stages
// (cluster.node.generators). The node offers its host to the registry once it has joined; a
// GRPO stage sends the host an order: the policy's architecture and tokenizer (as text: a node
// needs no copy of the model), the generator settings, the stage's peers (prompt source, grader,
// rollout gate, metrics: remote handles) and its weight streamer. The host subscribes to the
// streamer and, once it holds a complete version, builds one replica per generator from it and
// answers with their handles; the stage watches them like its own. Every later version the host
// assembles goes to its generators, which swap it in between batches: they keep sampling with
// version N while N+1 is on the way, and the rollout gate's version check keeps their groups
// within the staleness bound. Their rollouts carry the behaviour log-probs, and go to the
// controller's grader like a local generator's. When the streamer goes (the stage ended) or the
// node leaves, the generators stop.
// Messages (generator_host_actor):
//   start(order)       -> the generators' handles, once the first complete version is in
//   wchunk(chunk)      -  weights from the streamer (cluster/weight_sync.hpp)
//   stats              -> host_stats
// Tested by cluster/generator_host.test.cpp (in one process, through real CAF messages) and by
// tests/cluster.test.cpp (a real `aha node` hosting a generator for `aha train`).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/generator.hpp"
#include "cluster/weight_sync.hpp"
#include "core/result.hpp"

namespace aha::cluster {

using start_atom = caf::atom_constant<caf::atom("gstart")>;

// What a node needs to build a replica: the architecture (config.json) and the tokenizer files
// of a model folder, by name.
struct model_image {
  std::string config_json;
  std::vector<std::string> file_names;
  std::vector<std::string> file_texts;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, model_image& x) {
  return f(caf::meta::type_name("aha.model_image"), x.config_json, x.file_names, x.file_texts);
}
// The image of a policy: its config, and its tokenizer's files (the character vocabulary's
// marker, or tokenizer.json and tokenizer_config.json from the Hugging Face folder `model_path`).
// A GGUF file's tokenizer has no files: convert it first (aha convert).
result<model_image> image_of(const model::transformer& policy, const model::tokenizer& tokenizer,
                             const std::string& model_path);

struct generator_order {
  std::string stage;                 // names the generators: "<node>/generator/<i>"
  model_image model;
  std::string generator_toml;        // the stage's [generator] section
  std::uint32_t max_staleness = 0;
  std::uint64_t seed = 0;
  std::uint64_t block_bytes = 0;     // the streamer's (cluster.weights.block_kib)
  caf::actor prompts, grader, gate, metrics, streamer;
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, generator_order& x) {
  return f(caf::meta::type_name("aha.generator_order"), x.stage, x.model, x.generator_toml, x.max_staleness, x.seed,
           x.block_bytes, x.prompts, x.grader, x.gate, x.metrics, x.streamer);
}

struct host_stats {
  std::uint64_t versions = 0;        // weight versions assembled
  std::uint64_t refused_chunks = 0;  // chunks refused (corrupt, out of order): each asks for a full version
  std::uint64_t last_version = 0;
  std::uint64_t generators = 0;      // running now
};
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, host_stats& x) {
  return f(caf::meta::type_name("aha.host_stats"), x.versions, x.refused_chunks, x.last_version, x.generators);
}

using generator_host_actor =
    caf::typed_actor<caf::replies_to<start_atom, generator_order>::with<std::vector<caf::actor>>,
                     caf::reacts_to<wchunk_atom, weight_chunk>, caf::replies_to<actors::stats_atom>::with<host_stats>>;

struct host_setup {
  std::string node;                  // this node's id (generator names start with it)
  std::uint32_t generators = 1;      // generators per stage
  actors::threading where = actors::threading::scheduled;  // nodes run no detached actor (actors/node.cpp)
  std::ostream* log = nullptr;
};
generator_host_actor spawn_generator_host(caf::actor_system& sys, host_setup setup);

// Registers the types the weight stream and generator hosts send across processes (called by
// actors::add_message_types).
void add_message_types(caf::actor_system_config& cfg);

}  // namespace aha::cluster
