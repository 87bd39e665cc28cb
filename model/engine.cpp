// engine implementation: prefill the left-padded prompts, then one cached decoding step per
// token. Finished rows keep decoding (cheaper than compacting the batch) but their output stops.
#include "model/engine.hpp"

#include "model/sampling.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <torch/nn/functional/activation.h>

#include <algorithm>
#include <limits>
#include <mutex>

namespace aha::model {
namespace {

// Lengths and the longest prompt; an error for an empty prompt.
result<int64_t> longest_prompt(const std::vector<std::vector<int32_t>>& prompts) {
  int64_t longest = 0;
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (prompts[i].empty()) return make_error(errc::invalid_argument, "generate: prompt " + std::to_string(i) + " is empty");
    longest = std::max<int64_t>(longest, static_cast<int64_t>(prompts[i].size()));
  }
  return longest;
}

// True when the completion's decoded tail contains a stop string. Every token decodes to at
// least one byte, so the last max_len tokens cover any stop string the newest token completed.
bool hits_stop_string(const completion& c, const sampling_params& params, const tokenizer& tok, size_t max_len) {
  const size_t n = std::min(c.tokens.size(), max_len);
  const std::string tail = tok.decode(c.tokens.data() + c.tokens.size() - n, n);
  for (const auto& s : params.stop_strings)
    if (tail.find(s) != std::string::npos) return true;
  return false;
}

}  // namespace

std::pair<torch::Tensor, torch::Tensor> sample_step(const torch::Tensor& logits, const sampling_params& params,
                                                    at::Generator& gen) {
  if (params.temperature <= 0) {
    auto token = logits.argmax(-1);  // [B]
    auto logp = torch::log_softmax(logits, -1).gather(-1, token.unsqueeze(-1)).squeeze(-1);
    return {token, logp};
  }
  // The behaviour log-prob is that of the distribution the token is drawn from (tempered, top-k,
  // top-p, renormalised): the denominator of the learner's importance weight must be the real sampler.
  auto sampler = sampler_log_softmax(logits, params.temperature, {params.top_k, params.top_p});  // [B, V]
  auto token = torch::multinomial(sampler.exp(), 1, false, gen);                                // [B, 1]
  return {token.squeeze(-1), sampler.gather(-1, token).squeeze(-1)};
}

at::Generator seeded_generator(const torch::Device& device, uint64_t seed) {
  if (device.is_cpu()) return at::detail::createCPUGenerator(seed);
  auto gen = at::globalContext().defaultGenerator(device);
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_current_seed(seed);
  return gen;
}

engine::engine(transformer model, int64_t max_batch, int64_t max_tokens)
    : model_(std::move(model)), device_(model_->parameters().front().device()) {
  cache_ = make_kv_cache(model_->config(), max_batch, max_tokens, torch::TensorOptions().device(device_));
  valid_ = torch::zeros({max_batch, max_tokens}, torch::kBool);
}

namespace {

// Left-pads prompts into ids [B, P] and marks padding slots invalid in valid [B, >=P].
struct padded_batch {
  torch::Tensor ids;                   // [B, P] int64, padding id 0 (masked out)
  std::vector<int64_t> next_position;  // per row: its prompt length
  bool padded = false;                 // any row shorter than P
};
padded_batch left_pad(const std::vector<std::vector<int32_t>>& prompts, int64_t P, torch::Tensor& valid) {
  const int64_t B = static_cast<int64_t>(prompts.size());
  padded_batch batch{torch::zeros({B, P}, torch::kInt64), std::vector<int64_t>(B), false};
  auto ids_a = batch.ids.accessor<int64_t, 2>();
  auto valid_a = valid.accessor<bool, 2>();
  for (int64_t b = 0; b < B; ++b) {
    const int64_t len = static_cast<int64_t>(prompts[b].size()), pad = P - len;
    batch.padded = batch.padded || pad > 0;
    for (int64_t j = 0; j < pad; ++j) valid_a[b][j] = false;
    for (int64_t j = 0; j < len; ++j) ids_a[b][pad + j] = prompts[b][j];
    batch.next_position[b] = len;
  }
  return batch;
}

// Appends a sampled token to a completion; true when it finishes the completion.
bool record_token(completion& c, int32_t token, float logprob, const sampling_params& params, const tokenizer* tok,
                  size_t max_stop) {
  c.tokens.push_back(token);
  c.logprobs.push_back(logprob);
  const auto& stops = params.stop_token_ids;
  if (std::find(stops.begin(), stops.end(), token) != stops.end()) {
    c.finish = finish_reason::stop_token;
    return true;
  }
  if (max_stop > 0 && hits_stop_string(c, params, *tok, max_stop)) {
    c.finish = finish_reason::stop_string;
    return true;
  }
  return false;
}

}  // namespace

status engine::reserve(int64_t batch, int64_t tokens, const sampling_params& params, const tokenizer* tok) {
  if (tokens > model_->config().max_position_embeddings)
    return make_error(errc::invalid_argument, "generate: prompt + max_new_tokens (" + std::to_string(tokens) +
                                                  ") exceeds max_position_embeddings (" +
                                                  std::to_string(model_->config().max_position_embeddings) + ")");
  if (!params.stop_strings.empty() && !tok) return make_error(errc::invalid_argument, "generate: stop strings need a tokenizer");
  if (batch > cache_.batch() || tokens > cache_.capacity()) {  // grow once; later calls reuse it
    cache_ = make_kv_cache(model_->config(), std::max(batch, cache_.batch()), std::max(tokens, cache_.capacity()),
                           torch::TensorOptions().device(device_));
    valid_ = torch::zeros({cache_.batch(), cache_.capacity()}, torch::kBool);
  }
  return ok_status();
}

result<std::vector<completion>> engine::generate(const std::vector<std::vector<int32_t>>& prompts,
                                                 const sampling_params& params, const tokenizer* tok) {
  auto longest = longest_prompt(prompts);
  if (!longest) return longest.error();
  const int64_t B = static_cast<int64_t>(prompts.size()), P = *longest, N = params.max_new_tokens;
  if (auto s = reserve(B, P + N, params, tok); !s) return s.error();
  if (B == 0 || N <= 0) return std::vector<completion>(B);
  torch::NoGradGuard no_grad;
  // 1. Views of the pre-allocated cache and validity mask for this batch.
  kv_cache cache;
  for (size_t l = 0; l < cache_.keys.size(); ++l) {
    cache.keys.push_back(cache_.keys[l].narrow(0, 0, B));
    cache.values.push_back(cache_.values[l].narrow(0, 0, B));
  }
  auto valid = valid_.narrow(0, 0, B).narrow(1, 0, P + N);  // [B, P+N]
  valid.fill_(true);
  // 2. Left-padded prompts; each row's positions count only its own tokens.
  auto batch = left_pad(prompts, P, valid);
  auto valid_dev = valid.to(device_);  // no copy on CPU
  auto positions = (valid_dev.narrow(1, 0, P).to(torch::kInt64).cumsum(1) - 1).clamp_min(0);  // [B, P]
  auto key_valid = [&](int64_t slots) { return batch.padded ? valid_dev.narrow(1, 0, slots) : torch::Tensor(); };
  // 3. Prefill, then sample and feed back one token per step until every row finished.
  auto hidden = model_->hidden(batch.ids.to(device_), positions, key_valid(P), &cache);  // [B, P, d]
  auto logits = model_->logits(hidden.select(1, P - 1));                                 // [B, V]
  auto gen = seeded_generator(device_, params.seed);
  auto step_positions = torch::tensor(batch.next_position, torch::kInt64).unsqueeze(1).to(device_);  // [B, 1]
  std::vector<completion> out(B);
  std::vector<bool> done(B, false);
  size_t max_stop = 0;
  for (const auto& s : params.stop_strings) max_stop = std::max(max_stop, s.size());
  int64_t remaining = B;
  for (int64_t step = 0;; ++step) {
    auto [token, logp] = sample_step(logits, params, gen);  // [B], [B]
    auto token_host = token.to(torch::kCPU), logp_host = logp.to(torch::kCPU);
    auto token_a = token_host.accessor<int64_t, 1>();
    auto logp_a = logp_host.accessor<float, 1>();
    for (int64_t b = 0; b < B; ++b)
      if (!done[b] && record_token(out[b], static_cast<int32_t>(token_a[b]), logp_a[b], params, tok, max_stop)) {
        done[b] = true;
        --remaining;
      }
    if (remaining == 0 || step + 1 == N) break;
    hidden = model_->hidden(token.unsqueeze(1), step_positions, key_valid(P + step + 1), &cache);  // [B, 1, d]
    logits = model_->logits(hidden.select(1, 0));
    step_positions.add_(1);
  }
  return out;
}

}  // namespace aha::model
