// engine: batched sampling with a pre-allocated KV cache. Prompts of different lengths are
// left-padded (each row keeps its own positions); temperature, top-k, top-p, stop tokens, stop
// strings, max new tokens; seeded (same seed + same batch -> same tokens). Returns the sampled
// ids and their log-probs under the distribution they were drawn from (tempered, top-k, top-p,
// renormalised: model/sampling.hpp). Tests: model/transformer.test.cpp, model/sampling.test.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "model/tokenizer.hpp"
#include "model/transformer.hpp"

namespace aha::model {

struct sampling_params {
  double temperature = 1.0;            // 0 = greedy (log-probs then under temperature 1)
  double top_p = 1.0;                  // nucleus mass kept, (0, 1]; 1 = off
  int64_t top_k = 0;                   // keep the k most likely tokens; 0 = off
  int64_t max_new_tokens = 64;
  std::vector<int32_t> stop_token_ids;  // finishing tokens (kept in the output), e.g. eos
  std::vector<std::string> stop_strings;  // finish once the decoded completion contains one (needs a tokenizer)
  uint64_t seed = 0;
};

enum class finish_reason { length, stop_token, stop_string };

struct completion {
  std::vector<int32_t> tokens;  // sampled ids, including the stop token / the token completing a stop string
  std::vector<float> logprobs;  // one per token: log q(token), q = the sampler's distribution (sampler_log_softmax);
                                // greedy (temperature 0): log softmax(logits)[token], a diagnostic only
  finish_reason finish = finish_reason::length;
};

class engine {
 public:
  // Pre-allocates a KV cache for max_batch rows of max_tokens (prompt + new) slots; a larger
  // request grows it once. The engine shares `model` (a handle): copy_weights into it to update.
  engine(transformer model, int64_t max_batch, int64_t max_tokens);

  // One completion per prompt (each a non-empty id list). Errors: empty prompt, a prompt +
  // max_new_tokens beyond max_position_embeddings, stop strings without a tokenizer.
  result<std::vector<completion>> generate(const std::vector<std::vector<int32_t>>& prompts,
                                           const sampling_params& params, const tokenizer* tok = nullptr);

  transformer& model() { return model_; }

 private:
  // Validates a request and grows the cache when it does not fit.
  status reserve(int64_t batch, int64_t tokens, const sampling_params& params, const tokenizer* tok);

  transformer model_;
  torch::Device device_;  // the model's device (CPU, or CUDA with a CUDA LibTorch)
  kv_cache cache_;       // [max_batch, Hkv, max_tokens, D] per layer
  torch::Tensor valid_;  // [max_batch, max_tokens] bool on the CPU: slot holds a real token
};

// Sampling one step from logits [B, V]: returns {tokens [B] int64, log-probs [B] float} (seeded
// through gen). Exposed for tests of top-k/top-p.
std::pair<torch::Tensor, torch::Tensor> sample_step(const torch::Tensor& logits, const sampling_params& params,
                                                    at::Generator& gen);

// A generator seeded for sampling on `device`: a fresh CPU generator, or the device's default
// generator re-seeded (CUDA sampling cannot take a CPU generator).
at::Generator seeded_generator(const torch::Device& device, uint64_t seed);

}  // namespace aha::model
