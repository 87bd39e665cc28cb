// policy_trainer: the learner's LibTorch half. Owns the trained policy, the frozen reference
// (only when kl_beta > 0) and the optimizer; runs one SFT optimizer step, or one GRPO learner
// step (ppo_epochs x mini_batches PPO updates against the step's proximal policy), on a batch;
// hands out weight snapshots for the generators; saves and loads checkpoints.
// With a data-parallel group (cluster/data_parallel.hpp) W ranks take each step together.
// No actors here: actors/learner.hpp drives it. Tested by actors/policy_trainer.test.cpp and,
// across ranks, actors/data_parallel_step.test.cpp.
// Letters: N = sequences in a batch (groups x G), L = prompt + completion tokens (padded).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/result.hpp"
#include "model/grpo_loss.hpp"
#include "model/optimizer.hpp"
#include "model/sampling.hpp"
#include "model/transformer.hpp"
#include "protocol/messages.hpp"

namespace aha::cluster {
class data_parallel_group;
}

namespace aha::actors {

using metric_map = std::map<std::string, double>;

// An immutable copy of the policy's parameters at one version: what the learner publishes to
// in-process generators (they copy it into their replicas between batches).
struct weights_snapshot {
  std::uint64_t version = 0;
  std::vector<std::pair<std::string, torch::Tensor>> parameters;  // Hugging Face names
};
using weights_ptr = std::shared_ptr<const weights_snapshot>;

// Copies a snapshot into `model` (same architecture). Throws on a name or shape mismatch.
void load_snapshot(model::transformer& model, const weights_snapshot& snapshot);

struct sft_example {
  std::vector<std::int32_t> prompt;      // [P] including BOS
  std::vector<std::int32_t> completion;  // [T] the demonstration, including EOS
};

struct trainer_config {
  model::grpo_loss_config loss;
  model::optimizer_config optimizer;
  std::uint32_t ppo_epochs = 1;     // passes over the batch per learner step (GRPO)
  std::uint32_t mini_batches = 1;   // optimizer updates per pass: the batch's rows split into this many (GRPO)
  std::uint32_t micro_batches = 1;  // gradient accumulation: each mini-batch is split into this many passes
  double temperature = 1.0;         // must equal the sampling temperature (log-probs are recomputed under it)
  model::sampler_truncation sampler;  // the generators' top-k/top-p: rebuilds pi_prox as a sampler (behaviour weight)
  bool entropy = true;              // compute the policy entropy for the metrics (one extra op over the vocab)
};

class policy_trainer {
 public:
  policy_trainer(model::transformer policy, trainer_config config, std::int32_t pad_id);

  // One optimizer step of cross-entropy on the completions.
  metric_map sft_step(const std::vector<sft_example>& batch);
  // One learner step of the GRPO loss on the groups' rollouts (advantages come with the groups):
  // pi_old (proximal) log-probs once with the weights before the step, then per epoch and
  // mini-batch one optimizer update with ratio pi_theta / pi_old (1 with one update; clipped with
  // more). Rollouts whose grading failed (grading_failed) are left out: no loss, no normaliser place.
  metric_map grpo_step(const protocol::learner_batch& batch);

  // Starts a new stage: fresh optimizer state and schedule; snapshots the reference when kl_beta > 0.
  void begin_stage(const trainer_config& config);

  // Data parallelism. With a group of W ranks every rank calls the same step with the same whole
  // batch; each trains a contiguous share of the rows of every mini-batch (of the SFT batch),
  // keeps the whole mini-batch's loss normaliser, and gradients are summed across the ranks before
  // each update: W ranks make the update one rank makes on the batch, to float rounding.
  // Metrics are the whole batch's on every rank. A lost rank throws cluster::rank_lost.
  // nullptr: alone again.
  void set_group(std::shared_ptr<cluster::data_parallel_group> group);
  // Collective: every rank takes rank 0's weights, reference and optimizer state (moments, schedule).
  void broadcast_state();
  // Whether the step now running (or the last one) applied an update: false when it failed before
  // its first, so the weights and optimizer are still the previous step's.
  bool step_updated() const { return updated_; }

  weights_ptr snapshot(std::uint64_t version);
  model::transformer& policy() { return policy_; }
  model::optimizer& optimizer() { return *optimizer_; }

 private:
  struct packed;  // a batch as padded tensors
  struct grpo_rows;  // a GRPO batch as padded tensors with its per-token inputs
  struct update_sums;  // token-weighted diagnostics summed over a step's updates
  struct mini_batch;   // this rank's rows of one mini-batch and the whole mini-batch's normaliser
  grpo_rows grpo_pack(const protocol::learner_batch& batch) const;
  grpo_rows grpo_share(grpo_rows all, std::int64_t rows_per_mini, std::vector<mini_batch>& plan) const;
  void grpo_proximal(grpo_rows& rows, bool with_proximal);
  double grpo_update(const grpo_rows& rows, const mini_batch& mini, bool proximal_is_current, update_sums& sums);
  bool split() const;
  void sync_gradients();
  void sum_across_ranks(std::vector<double*> values);
  packed pack(const std::vector<std::vector<std::int32_t>>& prompts,
              const std::vector<std::vector<std::int32_t>>& completions) const;

  model::transformer policy_;
  model::transformer reference_{nullptr};  // frozen copy when kl_beta > 0
  trainer_config config_;
  std::unique_ptr<model::optimizer> optimizer_;
  std::int32_t pad_id_;
  std::shared_ptr<cluster::data_parallel_group> group_;  // null: this trainer is alone
  bool updated_ = false;
};

}  // namespace aha::actors
