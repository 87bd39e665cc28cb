// engine: sampling built for GRPO groups. A prompt is prefilled once and its KV-cache rows are
// copied into each of its group's G sequences; a continuous batch of max_batch slots decodes one
// token per active slot per step, and a finished sequence's slot takes the next waiting one at
// once (the engine takes more sequences than slots). Temperature, top-k, top-p, stop tokens, stop
// strings, max new tokens. Each sequence draws from its own random stream (seed, its index in the
// request), so its tokens do not depend on the batch, the slots or its neighbours' lengths. Returns
// the sampled ids and their log-probs under the distribution they were drawn from (tempered,
// top-k, top-p, renormalised: model/sampling.hpp). Tests: model/engine.test.cpp,
// model/transformer.test.cpp, model/sampling.test.cpp.
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

// Where the last request's time went (wall clock, this process). For benches and profiles.
struct engine_stats {
  int64_t prefills = 0;          // prompts prefilled (one per group)
  int64_t prefill_tokens = 0;    // their tokens
  int64_t decode_steps = 0;      // batched decoding steps
  int64_t decode_rows = 0;       // sum over steps of the active slots (occupancy = decode_rows / decode_steps)
  int64_t sampled_tokens = 0;    // tokens in the completions
  double prefill_s = 0, decode_s = 0, sample_s = 0;  // model forward (prefill / decode), sampling + bookkeeping
};

class engine {
 public:
  // Pre-allocates a KV cache for max_batch slots of max_tokens (prompt + new) positions; a longer
  // request grows it once. A request with more sequences than max_batch queues the rest.
  // The engine shares `model` (a handle): copy_weights into it to update.
  engine(transformer model, int64_t max_batch, int64_t max_tokens);

  // One completion per prompt (each a non-empty id list); prompt i is sequence i. Errors: empty
  // prompt, a prompt + max_new_tokens beyond max_position_embeddings, stop strings without a
  // tokenizer.
  result<std::vector<completion>> generate(const std::vector<std::vector<int32_t>>& prompts,
                                           const sampling_params& params, const tokenizer* tok = nullptr);

  // group_size completions of every prompt, prompt-major: completion i * group_size + g is
  // sequence i * group_size + g, the same tokens generate() gives that sequence index (a group
  // is prefilled once instead of group_size times). Errors as generate(), and group_size < 1.
  result<std::vector<completion>> generate_groups(const std::vector<std::vector<int32_t>>& prompts,
                                                  int64_t group_size, const sampling_params& params,
                                                  const tokenizer* tok = nullptr);

  transformer& model() { return model_; }
  int64_t max_batch() const { return cache_.batch(); }
  const engine_stats& last_stats() const { return stats_; }

 private:
  // Validates a request and grows the cache when it does not fit.
  status reserve(int64_t tokens, const sampling_params& params, const tokenizer* tok);

  transformer model_;
  torch::Device device_;  // the model's device (CPU, or CUDA with a CUDA LibTorch)
  kv_cache cache_;       // [max_batch, Hkv, max_tokens, D] per layer; slot s = row s, no padding
  engine_stats stats_;
};

// The uniform random numbers sequence `index` of a request seeded `seed` samples with, one per
// token, in [0, 1): independent of the batch it runs in. Exposed so tests can rebuild a sequence.
class sequence_stream {
 public:
  sequence_stream(uint64_t seed, uint64_t index);
  float next();  // 24 random bits: exact in float, never 1

 private:
  uint64_t state_;
};

// Tokens of rows of logits [R, V] with one uniform u [R] (float, CPU) each, by inverting the
// sampler's CDF: the smallest token whose cumulative probability exceeds u; greedy (temperature
// 0) takes the argmax. Returns {tokens [R] int64, log-probs [R] float} (log-probs as completion).
std::pair<torch::Tensor, torch::Tensor> sample_rows(const torch::Tensor& logits, const sampling_params& params,
                                                    const torch::Tensor& uniforms);

// Sampling one step from logits [B, V] with one torch generator for the batch: returns {tokens
// [B] int64, log-probs [B] float}. The engine uses sample_rows; this serves tests of top-k/top-p
// and the bench's naive loop.
std::pair<torch::Tensor, torch::Tensor> sample_step(const torch::Tensor& logits, const sampling_params& params,
                                                    at::Generator& gen);

// A generator seeded for sampling on `device`: a fresh CPU generator, or the device's default
// generator re-seeded (CUDA sampling cannot take a CPU generator).
at::Generator seeded_generator(const torch::Device& device, uint64_t seed);

}  // namespace aha::model
