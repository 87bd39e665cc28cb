// GRPO and SFT losses (model/grpo_loss.hpp).
#include "model/grpo_loss.hpp"

#include <ATen/core/grad_mode.h>  // at::NoGradGuard (ATen.h no longer brings it in LibTorch 2.x)

namespace aha::model {
namespace {

// Reduces per-token values [B, T] to a scalar by the configured aggregation.
at::Tensor aggregate(const at::Tensor& per_token, const at::Tensor& mask, loss_aggregation how) {
  if (how == loss_aggregation::token_mean) {
    return (per_token * mask).sum() / mask.sum().clamp_min(1.0);
  }
  at::Tensor per_sequence = (per_token * mask).sum(1) / mask.sum(1).clamp_min(1.0);  // [B]
  return per_sequence.mean();
}

double masked_mean(const at::Tensor& values, const at::Tensor& mask) {
  return ((values * mask).sum() / mask.sum().clamp_min(1.0)).item<double>();
}

}  // namespace

grpo_loss_output grpo_loss(const grpo_loss_inputs& in, const grpo_loss_config& config) {
  const at::Tensor mask = in.mask.to(in.logprobs.dtype());
  const at::Tensor advantages = in.advantages.to(in.logprobs.dtype()).unsqueeze(1);  // [B, 1]

  // 1. Ratio to the proximal policy, and its clipped twin.
  at::Tensor ratio = (in.logprobs - in.proximal_logprobs).exp();                              // [B, T]
  at::Tensor clipped = ratio.clamp(1.0 - config.clip_low, 1.0 + config.clip_high);            // [B, T]
  at::Tensor surrogate = at::min(ratio * advantages, clipped * advantages);                   // [B, T]

  // 2. Decoupled correction: tokens sampled by an older policy weigh pi_prox / pi_behaviour, capped.
  // Numerator and denominator are both samplers' probabilities (same truncation), so the weight is 1
  // on-policy whatever top-k/top-p did; the ratio above stays in the tempered full softmax.
  grpo_loss_output out;
  at::Tensor weight = at::ones_like(ratio);                                                   // [B, T]
  if (config.behaviour_weight_cap > 0) {
    at::NoGradGuard no_grad;
    const at::Tensor& prox = in.proximal_sampler_logprobs.defined() ? in.proximal_sampler_logprobs : in.proximal_logprobs;
    at::Tensor raw = (prox - in.behaviour_logprobs).exp();                                    // [B, T]
    at::Tensor over = raw > config.behaviour_weight_cap;                                      // [B, T] bool
    // where(), not raw * (1 - over): an overflowed raw (inf) times 0 would be NaN.
    weight = config.behaviour_weight_over_cap == over_cap_policy::mask ? at::where(over, at::zeros_like(raw), raw)
                                                                       : raw.clamp_max(config.behaviour_weight_cap);
    out.importance_weight_deviation = masked_mean((raw.clamp_max(1e6) - 1.0).abs(), mask);
    out.over_cap_fraction = masked_mean(over.to(mask.dtype()), mask);
    out.masked_fraction = config.behaviour_weight_over_cap == over_cap_policy::mask ? out.over_cap_fraction : 0.0;
  }
  at::Tensor per_token = -weight * surrogate;                                                 // [B, T]

  // 3. Optional KL to the reference, k3 estimator: exp(ref - pi) - (ref - pi) - 1 >= 0.
  if (config.kl_beta > 0 && in.reference_logprobs.defined()) {
    at::Tensor delta = in.reference_logprobs - in.logprobs;                                   // [B, T]
    at::Tensor k3 = delta.exp() - delta - 1.0;
    per_token = per_token + config.kl_beta * k3;
    out.kl = masked_mean(k3.detach(), mask);
  }

  // 4. Reduce, and the diagnostics the metrics record.
  out.loss = aggregate(per_token, mask, config.aggregation);
  at::NoGradGuard no_grad;
  // Clipped tokens are those where min() chose the clipped branch: they pass no gradient.
  at::Tensor was_clipped = (clipped * advantages < ratio * advantages).to(mask.dtype());
  out.clip_fraction = masked_mean(was_clipped, mask);
  out.importance_weight = masked_mean(weight, mask);
  out.ratio_mean = masked_mean(ratio.detach(), mask);
  out.ratio_deviation = masked_mean((ratio.detach() - 1.0).abs(), mask);
  out.tokens = mask.sum().item<double>();
  return out;
}

at::Tensor sft_loss(const at::Tensor& logprobs, const at::Tensor& mask) {
  const at::Tensor m = mask.to(logprobs.dtype());
  return -(logprobs * m).sum() / m.sum().clamp_min(1.0);
}

}  // namespace aha::model
