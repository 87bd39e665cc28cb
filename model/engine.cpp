// engine implementation: one prefill per prompt into a private cache, copied into a slot for each
// of the prompt's sequences when that sequence is admitted; then batched decoding steps over the
// active slots [0, A), each row at its own position. A finished slot is refilled at once from the
// queue; when the queue is empty the last active slot moves into the hole so the active slots
// stay a prefix and a step never computes a finished row.
#include "model/engine.hpp"

#include "model/sampling.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>
#include <torch/nn/functional/activation.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <mutex>
#include <optional>

namespace aha::model {
namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

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
  return static_cast<int64_t>(c.tokens.size()) >= params.max_new_tokens;  // finish stays `length`
}

// splitmix64: decorrelates the streams of neighbouring (seed, index) pairs.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

sequence_stream::sequence_stream(uint64_t seed, uint64_t index) : state_(mix(seed) ^ mix(index + 0x632be59bd9b4e019ull)) {}

float sequence_stream::next() {
  state_ += 0x9e3779b97f4a7c15ull;
  return static_cast<float>(mix(state_) >> 40) * (1.0f / 16777216.0f);
}

std::pair<torch::Tensor, torch::Tensor> sample_rows(const torch::Tensor& logits, const sampling_params& params,
                                                    const torch::Tensor& uniforms) {
  if (params.temperature <= 0) {
    auto token = logits.argmax(-1);  // [R]
    auto logp = torch::log_softmax(logits, -1).gather(-1, token.unsqueeze(-1)).squeeze(-1);
    return {token, logp};
  }
  // The behaviour log-prob is that of the distribution the token is drawn from (tempered, top-k,
  // top-p, renormalised): the denominator of the learner's importance weight must be the real sampler.
  auto sampler = sampler_log_softmax(logits, params.temperature, {params.top_k, params.top_p});  // [R, V]
  const int64_t V = sampler.size(-1);
  auto cdf = sampler.exp().cumsum(-1);                                                // [R, V], non-decreasing
  auto target = uniforms.to(cdf.device()).unsqueeze(-1) * cdf.narrow(-1, V - 1, 1);  // [R, 1], below the total
  // First slot whose cumulative mass exceeds the target: a token of zero probability never is.
  auto token = torch::searchsorted(cdf, target, /*out_int32=*/false, /*right=*/true).squeeze(-1);  // [R]
  // u * total rounding up to the total (float32) finds no slot: take the most likely token then.
  token = torch::where(token >= V, sampler.argmax(-1), token);
  return {token, sampler.gather(-1, token.unsqueeze(-1)).squeeze(-1)};
}

std::pair<torch::Tensor, torch::Tensor> sample_step(const torch::Tensor& logits, const sampling_params& params,
                                                    at::Generator& gen) {
  if (params.temperature <= 0) {
    auto token = logits.argmax(-1);  // [B]
    auto logp = torch::log_softmax(logits, -1).gather(-1, token.unsqueeze(-1)).squeeze(-1);
    return {token, logp};
  }
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
  cache_ = make_kv_cache(model_->config(), std::max<int64_t>(max_batch, 1), max_tokens,
                         torch::TensorOptions().device(device_));
}

status engine::reserve(int64_t tokens, const sampling_params& params, const tokenizer* tok) {
  if (tokens > model_->config().max_position_embeddings)
    return make_error(errc::invalid_argument, "generate: prompt + max_new_tokens (" + std::to_string(tokens) +
                                                  ") exceeds max_position_embeddings (" +
                                                  std::to_string(model_->config().max_position_embeddings) + ")");
  if (!params.stop_strings.empty() && !tok) return make_error(errc::invalid_argument, "generate: stop strings need a tokenizer");
  if (tokens > cache_.capacity())  // grow once; later calls reuse it
    cache_ = make_kv_cache(model_->config(), cache_.batch(), tokens, torch::TensorOptions().device(device_));
  return ok_status();
}

result<std::vector<completion>> engine::generate(const std::vector<std::vector<int32_t>>& prompts,
                                                 const sampling_params& params, const tokenizer* tok) {
  return generate_groups(prompts, 1, params, tok);
}

namespace {

// A prompt's prefill: its keys/values (batch 1) and the logits after its last token, kept until
// every sequence of its group has been admitted.
struct prefix {
  kv_cache kv;           // L x [1, Hkv, P, D]
  torch::Tensor logits;  // [1, V]
  int64_t length = 0;
  int64_t waiting = 0;   // sequences of the group not yet admitted
};

// One active slot of the continuous batch.
struct slot {
  int64_t sequence = 0;  // index into the completions
  int64_t position = 0;  // where its pending token goes (= tokens already in its cache rows)
  int64_t pending = 0;   // the last sampled token, fed at the next step
};

}  // namespace

result<std::vector<completion>> engine::generate_groups(const std::vector<std::vector<int32_t>>& prompts,
                                                        int64_t group_size, const sampling_params& params,
                                                        const tokenizer* tok) {
  if (group_size < 1) return make_error(errc::invalid_argument, "generate: group size " + std::to_string(group_size) + " < 1");
  auto longest = longest_prompt(prompts);
  if (!longest) return longest.error();
  const int64_t G = group_size, n = static_cast<int64_t>(prompts.size()) * G, N = params.max_new_tokens;
  if (auto s = reserve(*longest + N, params, tok); !s) return s.error();
  stats_ = {};
  std::vector<completion> out(n);
  if (n == 0 || N <= 0) return out;
  torch::NoGradGuard no_grad;
  size_t max_stop = 0;
  for (const auto& s : params.stop_strings) max_stop = std::max(max_stop, s.size());
  std::vector<sequence_stream> streams;
  streams.reserve(n);
  for (int64_t j = 0; j < n; ++j) streams.emplace_back(params.seed, static_cast<uint64_t>(j));
  std::vector<std::optional<prefix>> prefixes(prompts.size());
  const int64_t slots_total = cache_.batch();
  std::vector<slot> slots;  // active slots [0, A): slot s lives in cache row s
  slots.reserve(slots_total);
  int64_t next = 0;  // the next waiting sequence

  // Samples a token for each (sequence, logits row) and records it; true entries finished.
  auto sample_and_record = [&](const torch::Tensor& logits, const std::vector<int64_t>& sequences) {
    const int64_t R = static_cast<int64_t>(sequences.size());
    auto u = torch::empty({R}, torch::kFloat32);
    auto u_a = u.accessor<float, 1>();
    for (int64_t r = 0; r < R; ++r) u_a[r] = streams[sequences[r]].next();
    auto [token, logp] = sample_rows(logits, params, u);
    auto token_host = token.to(torch::kCPU), logp_host = logp.to(torch::kCPU);
    auto token_a = token_host.accessor<int64_t, 1>();
    auto logp_a = logp_host.accessor<float, 1>();
    std::vector<std::pair<int64_t, bool>> result(R);  // {token, finished}
    for (int64_t r = 0; r < R; ++r)
      result[r] = {token_a[r], record_token(out[sequences[r]], static_cast<int32_t>(token_a[r]), logp_a[r], params,
                                            tok, max_stop)};
    return result;
  };

  // Copies positions [0, length) of row `from` of `src` (the engine cache or a prefix) into cache row `to`.
  auto copy_rows = [&](const kv_cache& src, int64_t from, int64_t to, int64_t length) {
    for (size_t l = 0; l < cache_.keys.size(); ++l) {
      cache_.keys[l][to].narrow(1, 0, length).copy_(src.keys[l][from].narrow(1, 0, length));
      cache_.values[l][to].narrow(1, 0, length).copy_(src.values[l][from].narrow(1, 0, length));
    }
  };

  // Admits waiting sequences into cache row `row` until one is still running after its first
  // token (it then holds the row) or the queue is empty; true when the row is taken.
  auto admit = [&](int64_t row) {
    while (next < n) {
      const int64_t j = next++;
      const size_t p = static_cast<size_t>(j / G);
      if (!prefixes[p]) {  // the group's one prefill
        const auto started = clock_type::now();
        const auto& ids = prompts[p];
        const int64_t P = static_cast<int64_t>(ids.size());
        prefix pre;
        pre.kv = make_kv_cache(model_->config(), 1, P, torch::TensorOptions().device(device_));
        pre.length = P;
        pre.waiting = G;
        auto input = torch::tensor(std::vector<int64_t>(ids.begin(), ids.end()), torch::kInt64).unsqueeze(0).to(device_);
        auto positions = torch::arange(P, torch::TensorOptions().dtype(torch::kInt64).device(device_)).unsqueeze(0);
        auto hidden = model_->hidden(input, positions, {}, &pre.kv);  // [1, P, d]
        pre.logits = model_->logits(hidden.select(1, P - 1));          // [1, V]
        prefixes[p] = std::move(pre);
        ++stats_.prefills;
        stats_.prefill_tokens += P;
        stats_.prefill_s += seconds_since(started);
      }
      auto& pre = *prefixes[p];
      const auto first = sample_and_record(pre.logits, {j})[0];
      const bool finished = first.second;
      if (!finished) copy_rows(pre.kv, 0, row, pre.length);
      const int64_t length = pre.length;
      if (--pre.waiting == 0) prefixes[p].reset();  // the group is all admitted: free its cache
      if (!finished) {
        const slot s{j, length, first.first};
        if (row < static_cast<int64_t>(slots.size())) slots[row] = s; else slots.push_back(s);
        return true;
      }
    }
    return false;
  };

  while (static_cast<int64_t>(slots.size()) < slots_total && admit(static_cast<int64_t>(slots.size()))) {
  }
  while (!slots.empty()) {
    const int64_t A = static_cast<int64_t>(slots.size());
    // One decoding step over the active slots, each at its own position.
    auto started = clock_type::now();
    std::vector<int64_t> ids(A), positions(A), sequences(A);
    for (int64_t s = 0; s < A; ++s) ids[s] = slots[s].pending, positions[s] = slots[s].position, sequences[s] = slots[s].sequence;
    kv_cache rows;
    for (size_t l = 0; l < cache_.keys.size(); ++l) {
      rows.keys.push_back(cache_.keys[l].narrow(0, 0, A));
      rows.values.push_back(cache_.values[l].narrow(0, 0, A));
    }
    auto input = torch::tensor(ids, torch::kInt64).unsqueeze(1).to(device_);  // [A, 1]
    auto hidden = model_->decode_hidden(input, torch::tensor(positions, torch::kInt64), rows);  // [A, 1, d]
    auto logits = model_->logits(hidden.select(1, 0));                                         // [A, V]
    stats_.decode_s += seconds_since(started);
    ++stats_.decode_steps;
    stats_.decode_rows += A;
    started = clock_type::now();
    const auto sampled = sample_and_record(logits, sequences);
    stats_.sample_s += seconds_since(started);
    for (int64_t s = 0; s < A; ++s) slots[s].position += 1, slots[s].pending = sampled[s].first;
    // Refill finished slots from the queue; compact the rest (highest first, so the slot moved
    // into a hole is always a running one).
    for (int64_t s = A - 1; s >= 0; --s) {
      if (!sampled[s].second) continue;
      if (admit(s)) continue;
      const int64_t last = static_cast<int64_t>(slots.size()) - 1;
      if (s != last) {
        copy_rows(cache_, last, s, slots[last].position);
        slots[s] = slots[last];
      }
      slots.pop_back();
    }
  }
  for (const auto& c : out) stats_.sampled_tokens += static_cast<int64_t>(c.tokens.size());
  return out;
}

}  // namespace aha::model
