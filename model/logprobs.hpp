// token_logprobs: the learner's view of the policy — log-prob of every next token of a batch of
// sequences under the model at a temperature (the same temperature the engine sampled with),
// and optionally the per-token entropy and the log-prob under the sampler's truncated distribution
// (top-k/top-p, model/sampling.hpp). Differentiable when grad mode is on. Tests: model/transformer.test.cpp,
// model/sampling.test.cpp.
// Letters: B = sequences, T = tokens per (padded) sequence, V = vocab.
#pragma once

#include "model/sampling.hpp"
#include "model/transformer.hpp"

namespace aha::model {

struct token_logprobs_result {
  torch::Tensor logprobs;  // [B, T-1]: log p(input_ids[:, t+1] | input_ids[:, :t+1]); 0 where the target is padding
  torch::Tensor entropy;   // [B, T-1] entropy of the same distribution; undefined unless requested
  // [B, T-1] log q(target), q = the tempered distribution truncated by top-k/top-p and renormalised
  // (what the engine samples from); -inf where the target lies outside q's support, 0 at padding.
  // Undefined unless a truncation is passed. Not differentiable (the kept set is a selection).
  torch::Tensor sampler_logprobs;
};

// input_ids [B, T] int64. attention_mask [B, T] (bool or 0/1 integers; undefined = all real):
// padding may be on the left (as the engine pads prompts), on the right, or both; each row's
// positions count only its real tokens, so results equal those of the unpadded sequence.
token_logprobs_result token_logprobs(transformer& model, const torch::Tensor& input_ids,
                                     const torch::Tensor& attention_mask = {}, double temperature = 1.0,
                                     bool with_entropy = false, const sampler_truncation* sampler = nullptr);

// Positions for a [B, T] mask: the index of each token among its row's real tokens (0 for padding).
torch::Tensor positions_from_mask(const torch::Tensor& attention_mask);

}  // namespace aha::model
