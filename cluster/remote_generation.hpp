// remote_generation: a GRPO stage's generators on nodes, the controller's side. It asks the
// cluster registry for the nodes that run generators (cluster.node.generators) and is told of
// those that join later; for each it starts the stage's weight streamer (once, subscribed to the
// learner like a local generator) and sends the node's generator host an order (the model as
// text, the [generator] settings, the stage's peers). The host answers with its generators'
// handles once its replicas hold the stage's weights; the stage then supervises them like its
// own. At the end, finish() collects what each node did: rollouts generated, weight versions
// received, bytes streamed. Without a cluster (cluster.listen empty) it does nothing.
// Used by pipeline/grpo_stage.cpp; tested by tests/cluster.test.cpp (real nodes).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <caf/all.hpp>

#include "actors/cluster.hpp"
#include "actors/generator.hpp"
#include "actors/learner.hpp"
#include "cluster/weight_sync.hpp"

namespace aha::cluster {

// What one node did in a stage (report.json cluster.nodes.<name>).
struct node_generation {
  std::uint64_t generators = 0;        // started in the stage
  std::uint64_t rollouts = 0;          // handed to the grader by its generators (those alive at the end)
  std::uint64_t weight_versions = 0;   // versions its replicas received complete
  std::uint64_t weight_bytes = 0;      // payload streamed to it
  std::uint64_t full_versions = 0;     // of those: full
  std::uint64_t delta_versions = 0;    //           deltas
  std::uint64_t resyncs = 0;           // full versions it asked for again (a refused chunk)
  double ms_per_version = 0;           // mean, first chunk sent -> acknowledged
};

struct remote_setup {
  actors::cluster_registry_actor registry;   // invalid: no cluster
  actors::prompt_source_actor prompts;
  actors::grader_actor grader;
  actors::rollout_gate_actor gate;
  actors::metrics_actor metrics;
  actors::learner_actor learner;
  const model::transformer* policy = nullptr;
  const model::tokenizer* tokenizer = nullptr;
  std::string model_path;                    // model.path (tokenizer files for a Hugging Face folder)
  std::string stage;
  actors::generator_config generator;
  std::uint32_t max_staleness = 0;
  std::uint64_t seed = 0;
  actors::weights_section weights;
  std::chrono::milliseconds start_timeout{120000};  // a node's first version, over a slow link too
  std::ostream* log = nullptr;
};

class remote_generation {
 public:
  remote_generation(caf::actor_system& sys, remote_setup setup);
  ~remote_generation();

  // The nodes running generator hosts now (name, host); later ones come to `listener` as
  // host(name, count, host) messages.
  std::vector<std::pair<std::string, caf::actor>> hosts(const caf::actor& listener);
  // Orders the stage's generators from `host`; their handles (none if it failed: logged).
  std::vector<caf::actor> start(const std::string& node, const caf::actor& host);
  // Counts per node, asked of the generators and hosts still there; stops the streamer.
  std::map<std::string, node_generation> finish();

 private:
  caf::actor_system& sys_;
  remote_setup setup_;
  weight_streamer_actor streamer_;
  std::map<std::string, caf::actor> hosts_;                       // node -> host, as started
  std::map<std::string, std::vector<caf::actor>> generators_;     // node -> its generators
  std::map<std::string, std::uint64_t> started_;                  // node -> generators started
  bool finished_ = false;
};

}  // namespace aha::cluster
