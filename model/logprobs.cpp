// token_logprobs implementation: one full forward, log-softmax at the temperature, gather.
#include "model/logprobs.hpp"

namespace aha::model {

torch::Tensor positions_from_mask(const torch::Tensor& attention_mask) {
  return (attention_mask.to(torch::kInt64).cumsum(1) - 1).clamp_min(0);  // [B, T]
}

token_logprobs_result token_logprobs(transformer& model, const torch::Tensor& input_ids,
                                     const torch::Tensor& attention_mask, double temperature, bool with_entropy,
                                     const sampler_truncation* sampler) {
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  torch::Tensor positions, key_valid;
  if (attention_mask.defined()) {
    key_valid = attention_mask.to(torch::kBool);
    positions = positions_from_mask(attention_mask);
  } else {
    positions = torch::arange(T, torch::TensorOptions().dtype(torch::kInt64).device(input_ids.device())).unsqueeze(0).expand({B, T});
  }
  auto hidden = model->hidden(input_ids, positions, key_valid).narrow(1, 0, T - 1);  // [B, T-1, d]
  auto logits = model->logits(hidden);                                                 // [B, T-1, V]
  if (temperature != 1.0) logits = logits / temperature;
  auto logp = torch::log_softmax(logits, -1);  // [B, T-1, V]
  auto targets = input_ids.narrow(1, 1, T - 1).unsqueeze(-1);  // [B, T-1, 1]
  token_logprobs_result out;
  out.logprobs = logp.gather(-1, targets).squeeze(-1);  // [B, T-1]
  if (with_entropy) out.entropy = -(logp.exp() * logp).sum(-1);
  if (sampler) {
    torch::NoGradGuard no_grad;
    const int64_t V = logp.size(-1);
    auto q = truncate_log_softmax(logp.detach().reshape({-1, V}), *sampler).reshape({B, T - 1, V});  // [B, T-1, V]
    out.sampler_logprobs = q.gather(-1, targets).squeeze(-1);                                         // [B, T-1]
  }
  if (key_valid.defined()) {
    auto target_pad = key_valid.narrow(1, 1, T - 1).logical_not();
    out.logprobs = out.logprobs.masked_fill(target_pad, 0.0);
    if (with_entropy) out.entropy = out.entropy.masked_fill(target_pad, 0.0);
    if (sampler) out.sampler_logprobs = out.sampler_logprobs.masked_fill(target_pad, 0.0);
  }
  return out;
}

}  // namespace aha::model
