// The sampler's distribution: temperature, then top-k, then top-p, each renormalised, as one
// log-softmax over the vocabulary. The engine samples from it and records its log-probs as the
// behaviour log-probs; the learner rebuilds it (no grad) for the behaviour weight's numerator.
// Not a sampler itself (engine.hpp draws the tokens). Tested by model/sampling.test.cpp.
// Letters: R = rows (any leading dims), V = vocab.
#pragma once

#include <cstdint>

#include <torch/types.h>

namespace aha::model {

// What truncates the tempered softmax before a token is drawn. Defaults: no truncation.
struct sampler_truncation {
  std::int64_t top_k = 0;  // keep the k most likely tokens; 0 = off
  double top_p = 1.0;      // keep the smallest prefix (by probability) holding this mass; 1 = off
  bool active() const { return top_k > 0 || top_p < 1.0; }
};

// log q(v) [R, V] of the distribution actually sampled from: log_softmax(logits / temperature),
// then top-k, then top-p over the top-k-renormalised probabilities (as vLLM and HF order them),
// renormalised; dropped tokens are -inf. temperature must be > 0.
torch::Tensor sampler_log_softmax(const torch::Tensor& logits /* [R, V] */, double temperature,
                                  const sampler_truncation& truncation);

// The same truncation applied to log-probs that are already tempered and normalised [R, V].
torch::Tensor truncate_log_softmax(const torch::Tensor& logp /* [R, V] */, const sampler_truncation& truncation);

}  // namespace aha::model
