// learner: a detached actor that turns scored groups into policy updates. One step:
//   1. fetch a batch from the replay buffer (groups within the staleness bound, oldest first). If
//      the gate says groups of the version that ages out after this step are still being sampled
//      or graded, the batch waits for them (up to `expiring_wait`; then they are dropped as stale)
//   2. drop groups whose every grade failed, and uninformative groups when dynamic sampling is on
//   3. GRPO learner step (policy_trainer: ppo_epochs x mini_batches updates)
//   4. publish weights version+1 to every subscribed generator
//   5. record consumption in the replay buffer (atomic with the step)
//   6. mark the prompts done, and advance the rollout gate by the groups consumed and by those the
//      replay buffer dropped as stale since the last step (read from its stats)
//   7. metrics line; checkpoint when due
// With grpo.learner.ranks = W > 1 it is rank 0 of a data-parallel group (actors/learner_rank.hpp):
// it joins the others before its first step and sends them its state; step 3 is taken by all
// ranks. A lost rank fails the learner with the reason; when the step had not updated the weights
// yet, a checkpoint of the last completed step is written first.
// Messages: subscribe(weights sink: a generator, the weight streamer) (sends it the latest weights
// at once), work (internal).
// Tells `listener` (done_atom, steps, idle_fraction, rollouts consumed) when the configured steps are done, or a
// caf::error on failure.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "actors/generator.hpp"
#include "actors/interfaces.hpp"
#include "actors/policy_trainer.hpp"
#include "actors/rollout_gate.hpp"

namespace aha::actors {

using subscribe_atom = caf::atom_constant<caf::atom("subscribe")>;

struct learner_config {
  std::uint64_t steps = 100;                  // GRPO optimizer steps in this stage
  std::uint32_t groups_per_step = 8;          // B: prompts (groups of G) per optimizer step
  bool dynamic_sampling = false;              // DAPO: skip groups whose rewards all agree
  std::chrono::milliseconds fetch_wait{200};  // the replay buffer may wait this long for a full batch
  // How long a step waits for groups in flight that would be too stale after it (grading finishes
  // out of order); 0 = never wait: train what is ready, drop the late ones.
  std::chrono::milliseconds expiring_wait{10000};
  std::uint64_t checkpoint_every = 0;         // steps between checkpoints; 0 = at the end only
  std::uint32_t threads = 1;                  // LibTorch threads of the learner
  // Data parallelism (actors/learner_rank.hpp): this learner is rank 0 of `ranks`; ranks 1.. are
  // `aha learner-rank` processes that join at `rendezvous` (rank 0 listens there).
  std::uint32_t ranks = 1;
  std::string rendezvous;                          // "IP:PORT"; required when ranks > 1
  std::chrono::milliseconds rank_timeout{30000};   // a collective that takes longer: the rank is lost
  std::chrono::milliseconds rendezvous_timeout{300000};  // how long the ranks may take to join
  std::chrono::milliseconds rank_idle{3600000};    // a rank > 0 waits this long for rank 0's next command
};
template <class V>
void describe(V& v, learner_config& c) {
  v.field("steps", c.steps, "GRPO optimizer steps", config::range{0, 1e9});
  v.field("groups_per_step", c.groups_per_step, "B: prompts (groups of G) per step", config::range{1, 1e6});
  v.field("dynamic_sampling", c.dynamic_sampling, "skip groups whose rewards all agree (DAPO)");
  v.field("fetch_wait", c.fetch_wait, "how long a fetch may wait for a full batch (duration)");
  v.field("expiring_wait", c.expiring_wait,
          "how long a step waits for late groups that would be too stale after it; 0 = drop them (duration)");
  v.field("checkpoint_every", c.checkpoint_every, "steps between checkpoints; 0 = at the end", config::range{0, 1e9});
  v.field("threads", c.threads, "LibTorch threads of the learner", config::range{1, 1024});
  v.field("ranks", c.ranks, "data-parallel learner ranks; ranks 1.. run as `aha learner-rank` processes",
          config::range{1, 1024});
  v.field("rendezvous", c.rendezvous, "IP:PORT where rank 0 meets the other ranks (required when ranks > 1)");
  v.field("rank_timeout", c.rank_timeout, "a collective slower than this means a rank is lost (duration)");
  v.field("rendezvous_timeout", c.rendezvous_timeout, "how long the ranks may take to join (duration)");
  v.field("rank_idle", c.rank_idle, "how long a rank > 0 waits for rank 0's next command (duration)");
}

// progress -> progress_list: steps taken (it blocks during a step, so a learner that does not
// answer is stuck in one).
using learner_actor = caf::typed_actor<caf::reacts_to<subscribe_atom, weights_sink_actor>, caf::reacts_to<work_atom>,
                                       caf::replies_to<progress_atom>::with<progress_list>>;

struct learner_peers {
  replay_buffer_actor replay;
  prompt_source_actor prompts;
  rollout_gate_actor gate;
  metrics_actor metrics;  // may be invalid
  caf::actor listener;    // receives (done_atom, steps, idle_fraction, rollouts consumed) or a caf::error
};

struct learner_setup {
  std::shared_ptr<policy_trainer> trainer;  // used only by the learner while it runs
  learner_config config;
  learner_peers peers;
  std::uint32_t max_staleness = 0;
  std::uint64_t first_step = 0;             // resume point
  std::uint64_t weight_version = 0;         // version of the trainer's weights now
  std::uint64_t dropped_stale_before = 0;   // the replay buffer's dropped_stale when this learner starts
  // Called on the learner's thread after step `step` when a checkpoint is due.
  std::function<status(std::uint64_t step, std::uint64_t version)> checkpoint;
};

learner_actor spawn_learner(caf::actor_system& system, learner_setup setup);

// The groups a step trains on (exposed for tests): not those whose every grade failed (counted:
// no rollout has a score), nor, with dynamic sampling, those whose graded rewards all agree.
struct trainable_batch {
  protocol::learner_batch batch;
  std::uint64_t groups_all_failed = 0;
};
trainable_batch trainable_groups(const protocol::learner_batch& batch, bool dynamic_sampling);

// Reward, accuracy, format, length, staleness and timeout statistics of a batch (exposed for tests).
// Rollouts whose grading failed are counted (grading/failed_masked) and left out of reward and accuracy.
metric_map batch_statistics(const protocol::learner_batch& batch, std::uint64_t learner_version);

}  // namespace aha::actors
