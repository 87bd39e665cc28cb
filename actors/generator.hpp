// generator: a detached actor that owns a policy replica and the sampling engine. Its loop:
// ask the rollout gate for room (the staleness bound), take prompts from the prompt source,
// sample G completions per prompt, stamp each rollout with its weight version, and hand each
// group to the grader, keeping at most max_outstanding_groups ungraded. New weights arrive as
// snapshots and are swapped in between batches. Messages:
//   weights(snapshot)  - newer policy weights (in-process, shared, immutable)
//   stop               - finish the batch in hand, then quit
// Sends: gate acquire/release, prompt_source next (the source records this generator as the
// prompts' holder, so its death re-queues them) and requeue (a group that cannot be made or
// graded), grader grade, metrics gauge.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/interfaces.hpp"
#include "actors/policy_trainer.hpp"
#include "actors/rollout_gate.hpp"
#include "model/engine.hpp"
#include "model/tokenizer.hpp"

// Weight snapshots hold tensors and never leave the process (other hosts get streamed tensors).
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(aha::actors::weights_ptr)

namespace aha::actors {

using weights_atom = caf::atom_constant<caf::atom("weights")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;

// Whatever takes the learner's weight versions: a generator, or the streamer that forwards them
// to replicas on other hosts (cluster/weight_sync.hpp).
using weights_sink_actor = caf::typed_actor<caf::reacts_to<weights_atom, weights_ptr>>;

struct generator_config {
  std::uint32_t count = 1;                  // generator actors in this process
  std::uint32_t group_size = 8;             // G: completions per prompt
  std::uint32_t prompts_per_batch = 4;      // prompts sampled together (batch rows = prompts x G)
  std::uint32_t max_outstanding_groups = 8; // groups handed to the grader and not yet stored
  double temperature = 1.0;                 // sampling temperature (the learner uses the same)
  double top_p = 1.0;                       // nucleus mass; 1 = off
  std::uint32_t top_k = 0;                  // 0 = off
  std::uint32_t max_new_tokens = 48;        // completion budget per rollout
  std::vector<std::string> stop_strings{"</answer>"};  // finish a rollout once its text contains one
  std::uint32_t threads = 1;                // LibTorch threads of each generator
  std::chrono::milliseconds grade_timeout{600000};     // hang guard on one group's grading
};
template <class V>
void describe(V& v, generator_config& c) {
  v.field("count", c.count, "generator actors in this process", config::range{1, 256});
  v.field("group_size", c.group_size, "G: completions sampled per prompt", config::range{1, 1024});
  v.field("prompts_per_batch", c.prompts_per_batch, "prompts sampled together", config::range{1, 4096});
  v.field("max_outstanding_groups", c.max_outstanding_groups, "ungraded groups before a generator pauses",
          config::range{1, 1e6});
  v.field("temperature", c.temperature, "sampling temperature (> 0 for RL)", config::range{0, 10});
  v.field("top_p", c.top_p, "nucleus mass kept; 1 = off", config::range{0, 1});
  v.field("top_k", c.top_k, "keep the k most likely tokens; 0 = off");
  v.field("max_new_tokens", c.max_new_tokens, "completion budget per rollout (tokens)", config::range{1, 1e6});
  v.field("stop_strings", c.stop_strings, "a rollout finishes once its text contains one");
  v.field("threads", c.threads, "LibTorch threads per generator", config::range{1, 1024});
  v.field("grade_timeout", c.grade_timeout, "hang guard on grading one group (duration)");
}

// progress -> progress_list: batches generated (it blocks while generating, so a generator that
// does not answer is stuck in generation), and rollouts handed to the grader.
using generator_actor = caf::typed_actor<caf::reacts_to<weights_atom, weights_ptr>, caf::reacts_to<stop_atom>,
                                         caf::reacts_to<work_atom>, caf::replies_to<progress_atom>::with<progress_list>>;

struct generator_peers {
  prompt_source_actor prompts;
  grader_actor grader;
  rollout_gate_actor gate;
  metrics_actor metrics;  // may be invalid
};

struct generator_setup {
  std::string name;                                 // "generator/0"
  model::transformer replica{nullptr};              // owned by this generator
  std::shared_ptr<const model::tokenizer> tokenizer;
  generator_config config;
  generator_peers peers;
  std::uint32_t max_staleness = 0;                  // eta (the gate enforces it; the generator checks its weights)
  std::uint64_t weight_version = 0;                 // version of the replica's weights
  std::uint64_t seed = 0;
  threading where = threading::detached;            // a node's are scheduled (actors/node.cpp says why)
};

// Spawns a generator (detached unless setup.where says otherwise); it starts sampling at once.
generator_actor spawn_generator(caf::actor_system& system, generator_setup setup);

// BOS (when the tokenizer has one) followed by the prompt's tokens: the row that the generator,
// the evaluation and the SFT stage all feed the model.
std::vector<std::int32_t> prompt_tokens(const model::tokenizer& tokenizer, const std::string& text);

// Adds the stop criteria: end-of-sequence, and each stop string — as a stop token when the
// vocabulary has it as one token (the tiny vocabulary's "</answer>"), which is cheaper.
void add_stop_criteria(model::sampling_params& params, const model::tokenizer& tokenizer,
                       const std::vector<std::string>& stop_strings);

// The rollouts of one prompt's G completions (exposed for tests).
std::vector<protocol::rollout> make_rollouts(const protocol::prompt& prompt, const std::vector<std::int32_t>& tokens,
                                             const std::vector<model::completion>& completions,
                                             const model::tokenizer& tokenizer, std::uint64_t weight_version,
                                             const std::string& generator, std::uint32_t generation_us);

}  // namespace aha::actors
