// The GRPO policy loss with AReaL's decoupled off-policy correction, DAPO's clip-higher and an
// optional k3 KL penalty; and the SFT (cross-entropy) loss. Pure tensor math: no model inside.
// Letters: B = sequences in the micro-batch, T = completion positions (padded).
// Tested by model/grpo_loss.test.cpp against hand-computed values.
#pragma once

#include <ATen/ATen.h>

#include "core/config.hpp"

namespace aha::model {

// How per-token losses become one number.
enum class loss_aggregation {
  token_mean,     // sum over every token / number of tokens (DAPO): long answers weigh more
  sequence_mean,  // mean over sequences of each sequence's token mean (the original GRPO)
};

// What happens to a token whose behaviour weight pi_prox / pi_behaviour exceeds the cap.
enum class over_cap_policy {
  truncate,  // the weight becomes the cap (truncated IS, as V-trace / verl's TIS): the token still trains
  mask,      // the weight becomes 0 (AReaL): the token trains nothing but stays in the normaliser
};

struct grpo_loss_config {
  double clip_low = 0.2;            // ratio floor is 1 - clip_low
  double clip_high = 0.28;          // ratio ceiling is 1 + clip_high (DAPO clip-higher)
  double kl_beta = 0.0;             // weight of KL(pi_theta || pi_ref), k3 estimator; 0 = no reference
  double behaviour_weight_cap = 5;  // cap of pi_prox / pi_behaviour (AReaL); <= 0 disables the correction
  over_cap_policy behaviour_weight_over_cap = over_cap_policy::truncate;  // past the cap: truncate or mask
  loss_aggregation aggregation = loss_aggregation::token_mean;
};

template <class V>
void describe(V& v, grpo_loss_config& c) {
  v.field("clip_low", c.clip_low, "ratio floor is 1 - clip_low", config::range{0, 1});
  v.field("clip_high", c.clip_high, "ratio ceiling is 1 + clip_high (DAPO clip-higher)", config::range{0, 10});
  v.field("kl_beta", c.kl_beta, "weight of the k3 KL to the reference; 0 = no reference model", config::range{0, 100});
  v.field("behaviour_weight_cap", c.behaviour_weight_cap,
          "cap of pi_prox/pi_behaviour (decoupled PPO); 0 disables the correction", config::range{0, 1e6});
  // Default truncate: today's behaviour, and an estimator in use too (V-trace, verl's TIS); mask is
  // AReaL's choice (no gradient at all from tokens the stale sampler found very unlikely).
  v.field("behaviour_weight_over_cap", c.behaviour_weight_over_cap,
          "tokens whose pi_prox/pi_behaviour exceeds the cap: truncate (weight = cap) or mask (weight = 0, AReaL)",
          {{"truncate", over_cap_policy::truncate}, {"mask", over_cap_policy::mask}});
  v.field("aggregation", c.aggregation, "token_mean (DAPO) or sequence_mean (GRPO)",
          {{"token_mean", loss_aggregation::token_mean},
           {"sequence_mean", loss_aggregation::sequence_mean}});
}


struct grpo_loss_inputs {
  at::Tensor logprobs;            // [B, T] log pi_theta(token), with autograd
  at::Tensor proximal_logprobs;   // [B, T] log pi_prox: the learner's policy before this step, no grad
  // [B, T] log pi_prox as a sampler (the tempered distribution truncated by the generator's top-k/top-p
  // and renormalised), the numerator of the behaviour weight; undefined = proximal_logprobs (no truncation).
  at::Tensor proximal_sampler_logprobs;
  at::Tensor behaviour_logprobs;  // [B, T] log pi_behaviour recorded by the generator (its sampler's log q)
  at::Tensor reference_logprobs;  // [B, T] log pi_ref, or undefined when kl_beta == 0
  at::Tensor advantages;          // [B] one advantage per sequence (outcome supervision)
  at::Tensor mask;                // [B, T] 1 for completion tokens, 0 for padding
};

struct grpo_loss_output {
  at::Tensor loss;             // [] scalar, differentiable
  double clip_fraction = 0;    // share of tokens whose ratio was clipped
  double kl = 0;               // mean k3 KL estimate over tokens (0 without a reference)
  double importance_weight = 0;  // mean behaviour weight w over tokens (after the cap)
  double importance_weight_deviation = 0;  // mean |pi_prox / pi_behaviour - 1| before the cap: the staleness
  double over_cap_fraction = 0;  // share of tokens whose pi_prox / pi_behaviour exceeded the cap
  double masked_fraction = 0;    // share of tokens masked for it (over_cap_fraction under mask, else 0)
  double ratio_mean = 0;       // mean pi_theta / pi_prox over tokens
  double ratio_deviation = 0;  // mean |pi_theta / pi_prox - 1| over tokens: 0 on the step's first update
  double tokens = 0;           // completion tokens (mask sum): the weight of these means when combining
};

// loss_t = -w_t * min(r_t A, clip(r_t, 1-clip_low, 1+clip_high) A) + beta * k3_t,
// r_t = pi_theta / pi_prox, w_t = pi_prox / pi_behaviour, truncated to the cap or 0 past it (no
// gradient through w). Masked tokens still count in the token normaliser, as in AReaL: the loss's
// scale does not jump with the share of masked tokens.
grpo_loss_output grpo_loss(const grpo_loss_inputs& in, const grpo_loss_config& config);

// Mean negative log-likelihood of the masked tokens: the SFT (cold-start) loss.
at::Tensor sft_loss(const at::Tensor& logprobs /* [B, T] */, const at::Tensor& mask /* [B, T] */);

}  // namespace aha::model
