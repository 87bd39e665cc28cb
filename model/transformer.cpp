// transformer implementation. Attention uses the public fused scaled_dot_product_attention on
// LibTorch >= 2 and an explicit grouped matmul/softmax on 1.13 (whose fused op is private).
#include "model/transformer.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/functional/activation.h>
#include <torch/version.h>

#include <cmath>
#include <limits>
#include <optional>
#include <stdexcept>

namespace aha::model {
namespace {

torch::nn::Linear make_linear(int64_t in, int64_t out, bool bias) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
}

// x [B, H, T, D]: x * cos + rotate_half(x) * sin, rotate_half(x) = cat(-x2, x1) (HF convention).
torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  auto rotated = torch::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
  return x * cos + rotated * sin;
}

// q [B, H, T, D]; k, v [B, Hkv, S, D]; mask [B, 1, T, S] additive or undefined. -> [B, H, T, D]
torch::Tensor grouped_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                const torch::Tensor& mask) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), D = q.size(3);
  const int64_t Hkv = k.size(1), S = k.size(2), G = H / Hkv;
#if TORCH_VERSION_MAJOR >= 2
  auto ke = G == 1 ? k : k.unsqueeze(2).expand({B, Hkv, G, S, D}).reshape({B, H, S, D});
  auto ve = G == 1 ? v : v.unsqueeze(2).expand({B, Hkv, G, S, D}).reshape({B, H, S, D});
  // An undefined tensor passed as the optional mask is "present" to LibTorch 2.x's checks: pass nullopt.
  return at::scaled_dot_product_attention(q, ke, ve, mask.defined() ? std::optional<at::Tensor>(mask) : std::nullopt);
#else
  // Query heads h = kv * G + g share key head kv (HF repeat_kv), so grouping the G query heads
  // into the row dimension lets one matmul per KV head serve them without copying keys.
  auto qg = (q * (1.0 / std::sqrt(static_cast<double>(D)))).reshape({B, Hkv, G * T, D});
  auto scores = torch::matmul(qg, k.transpose(-1, -2));  // [B, Hkv, G*T, S]
  if (mask.defined()) scores = (scores.view({B, Hkv, G, T, S}) + mask.unsqueeze(1)).view({B, Hkv, G * T, S});
  auto out = torch::matmul(torch::softmax(scores, -1), v);  // [B, Hkv, G*T, D]
  return out.view({B, H, T, D});
#endif
}

// Additive mask [B|1, 1, T, S]: query slot start+i sees key slot j when j <= start+i and the key
// is valid. A padding query still sees itself so its softmax row never becomes all -inf (NaN).
torch::Tensor build_mask(int64_t start, int64_t T, const torch::Tensor& key_valid, const torch::TensorOptions& opts) {
  const int64_t S = start + T;
  if (T == 1 && !key_valid.defined()) return {};
  auto slots = torch::arange(S, torch::TensorOptions().dtype(torch::kInt64).device(opts.device()));
  auto query_slots = slots.narrow(0, start, T).unsqueeze(1);  // [T, 1]
  auto allowed = slots.unsqueeze(0) <= query_slots;          // [T, S]
  if (key_valid.defined()) {
    auto self = slots.unsqueeze(0) == query_slots;              // [T, S]
    allowed = allowed.unsqueeze(0) & (key_valid.unsqueeze(1) | self.unsqueeze(0));  // [B, T, S]
  } else {
    allowed = allowed.unsqueeze(0);  // [1, T, S]
  }
  auto mask = torch::zeros(allowed.sizes(), opts);
  mask.masked_fill_(allowed.logical_not(), -std::numeric_limits<float>::infinity());
  return mask.unsqueeze(1);
}

}  // namespace

kv_cache make_kv_cache(const model_config& c, int64_t batch, int64_t capacity, torch::TensorOptions options) {
  kv_cache cache;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    cache.keys.push_back(torch::zeros({batch, c.num_key_value_heads, capacity, c.head_dim}, options));
    cache.values.push_back(torch::zeros({batch, c.num_key_value_heads, capacity, c.head_dim}, options));
  }
  return cache;
}

rms_norm_impl::rms_norm_impl(int64_t dim, double eps_) : eps(eps_) {
  weight = register_parameter("weight", torch::ones({dim}));
}

torch::Tensor rms_norm_impl::forward(const torch::Tensor& x) {
  return x * torch::rsqrt(x.pow(2).mean(-1, true) + eps) * weight;
}

attention_impl::attention_impl(const model_config& c)
    : heads(c.num_attention_heads), kv_heads(c.num_key_value_heads), head_dim(c.head_dim) {
  q_proj = register_module("q_proj", make_linear(c.hidden_size, heads * head_dim, c.attention_bias));
  k_proj = register_module("k_proj", make_linear(c.hidden_size, kv_heads * head_dim, c.attention_bias));
  v_proj = register_module("v_proj", make_linear(c.hidden_size, kv_heads * head_dim, c.attention_bias));
  o_proj = register_module("o_proj", make_linear(heads * head_dim, c.hidden_size, false));
}

torch::Tensor attention_impl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                      const torch::Tensor& mask, torch::Tensor* keys, torch::Tensor* values,
                                      int64_t start) {
  const int64_t B = x.size(0), T = x.size(1);
  auto q = apply_rope(q_proj(x).view({B, T, heads, head_dim}).transpose(1, 2), cos, sin);  // [B, H, T, D]
  auto k = apply_rope(k_proj(x).view({B, T, kv_heads, head_dim}).transpose(1, 2), cos, sin);  // [B, Hkv, T, D]
  auto v = v_proj(x).view({B, T, kv_heads, head_dim}).transpose(1, 2);  // [B, Hkv, T, D]
  if (keys) {
    keys->narrow(2, start, T).copy_(k);
    values->narrow(2, start, T).copy_(v);
    k = keys->narrow(2, 0, start + T);
    v = values->narrow(2, 0, start + T);
  }
  auto out = grouped_attention(q, k, v, mask);  // [B, H, T, D]
  return o_proj(out.transpose(1, 2).reshape({B, T, heads * head_dim}));
}

torch::Tensor attention_impl::decode(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                     const torch::Tensor& mask, torch::Tensor& keys, torch::Tensor& values,
                                     const torch::Tensor& rows, const torch::Tensor& slots, int64_t key_slots) {
  const int64_t B = x.size(0);
  auto q = apply_rope(q_proj(x).view({B, 1, heads, head_dim}).transpose(1, 2), cos, sin);     // [B, H, 1, D]
  auto k = apply_rope(k_proj(x).view({B, 1, kv_heads, head_dim}).transpose(1, 2), cos, sin);  // [B, Hkv, 1, D]
  auto v = v_proj(x).view({B, kv_heads, head_dim});                                          // [B, Hkv, D]
  // In place: row b's key/value land in slot slots[b]. `rows` holds, per (row, kv head), the
  // index of that slot in the cache seen as [B * Hkv * capacity, D] (index_copy_ is much cheaper
  // than a two-index index_put_); the row views are contiguous in those dims.
  keys.view({-1, head_dim}).index_copy_(0, rows, k.reshape({B * kv_heads, head_dim}));
  values.view({-1, head_dim}).index_copy_(0, rows, v.reshape({B * kv_heads, head_dim}));
  auto out = grouped_attention(q, keys.narrow(2, 0, key_slots), values.narrow(2, 0, key_slots), mask);  // [B, H, 1, D]
  return o_proj(out.transpose(1, 2).reshape({B, 1, heads * head_dim}));
}

mlp_impl::mlp_impl(const model_config& c) {
  gate_proj = register_module("gate_proj", make_linear(c.hidden_size, c.intermediate_size, c.mlp_bias));
  up_proj = register_module("up_proj", make_linear(c.hidden_size, c.intermediate_size, c.mlp_bias));
  down_proj = register_module("down_proj", make_linear(c.intermediate_size, c.hidden_size, c.mlp_bias));
}

torch::Tensor mlp_impl::forward(const torch::Tensor& x) {
  return down_proj(torch::silu(gate_proj(x)) * up_proj(x));
}

decoder_layer_impl::decoder_layer_impl(const model_config& c) {
  self_attn = register_module("self_attn", attention(c));
  mlp_block = register_module("mlp", mlp(c));
  input_layernorm = register_module("input_layernorm", rms_norm(c.hidden_size, c.rms_norm_eps));
  post_attention_layernorm = register_module("post_attention_layernorm", rms_norm(c.hidden_size, c.rms_norm_eps));
}

decoder_body_impl::decoder_body_impl(const model_config& c) {
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(c.vocab_size, c.hidden_size));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) layers->push_back(decoder_layer(c));
  norm = register_module("norm", rms_norm(c.hidden_size, c.rms_norm_eps));
}

torch::Tensor rope_inverse_frequencies(const model_config& c) {
  const int64_t D = c.head_dim;
  // float32 like transformers, so cos/sin tables (and logits) match it closely.
  auto inv = 1.0 / torch::pow(c.rope_theta, torch::arange(0, D, 2, torch::kInt64).to(torch::kFloat32) / D);
  const auto& s = c.scaling;
  if (s.kind == "linear") inv = inv / s.factor;
  if (s.kind == "llama3") {
    const double low_wavelen = s.original_max_position_embeddings / s.low_freq_factor;
    const double high_wavelen = s.original_max_position_embeddings / s.high_freq_factor;
    auto wavelen = 2 * M_PI / inv;
    auto smooth = (s.original_max_position_embeddings / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
    auto smoothed = (1 - smooth) * inv / s.factor + smooth * inv;
    auto scaled = torch::where(wavelen > low_wavelen, inv / s.factor, inv);
    auto medium = (wavelen <= low_wavelen) & (wavelen >= high_wavelen);
    inv = torch::where(medium, smoothed, scaled);
  }
  return inv;  // [D/2]
}

transformer_impl::transformer_impl(const model_config& c) : config_(c) {
  body = register_module("model", decoder_body(c));
  if (!c.tie_word_embeddings) lm_head = register_module("lm_head", make_linear(c.hidden_size, c.vocab_size, false));
  auto inv = rope_inverse_frequencies(c);
  auto pos = torch::arange(c.max_position_embeddings, torch::kInt64).to(torch::kFloat32);
  auto freqs = pos.unsqueeze(1) * inv.unsqueeze(0);  // [P, D/2]
  auto emb = torch::cat({freqs, freqs}, -1);        // [P, D]
  rope_cos_ = register_buffer("rope_cos", emb.cos());
  rope_sin_ = register_buffer("rope_sin", emb.sin());
}

torch::Tensor transformer_impl::hidden(const torch::Tensor& input_ids, const torch::Tensor& positions,
                                       const torch::Tensor& key_valid, kv_cache* cache) {
  const int64_t B = input_ids.size(0), T = input_ids.size(1);
  const int64_t start = cache ? cache->length : 0;
  if (cache && start + T > cache->capacity())
    throw std::runtime_error("kv_cache: " + std::to_string(start + T) + " slots needed, capacity " + std::to_string(cache->capacity()));
  auto x = body->embed_tokens(input_ids);  // [B, T, d]
  auto flat = positions.reshape({-1});
  auto cos = rope_cos_.index_select(0, flat).view({B, 1, T, -1});  // [B, 1, T, D]
  auto sin = rope_sin_.index_select(0, flat).view({B, 1, T, -1});
  auto mask = build_mask(start, T, key_valid, x.options());
  int64_t l = 0;
  for (const auto& module : *body->layers) {
    auto* layer = module->as<decoder_layer_impl>();
    torch::Tensor* keys = cache ? &cache->keys[l] : nullptr;
    torch::Tensor* values = cache ? &cache->values[l] : nullptr;
    x = x + layer->self_attn->forward(layer->input_layernorm(x), cos, sin, mask, keys, values, start);
    x = x + layer->mlp_block(layer->post_attention_layernorm(x));
    ++l;
  }
  if (cache) cache->length = start + T;
  return body->norm(x);
}

torch::Tensor transformer_impl::decode_hidden(const torch::Tensor& input_ids, const torch::Tensor& positions,
                                              kv_cache& cache) {
  const int64_t B = input_ids.size(0);
  auto pos = positions.to(torch::kInt64);
  const int64_t S = pos.max().item<int64_t>() + 1;
  if (S > cache.capacity() || B > cache.batch())
    throw std::runtime_error("kv_cache: decode needs " + std::to_string(B) + " rows x " + std::to_string(S) +
                             " slots, cache has " + std::to_string(cache.batch()) + " x " + std::to_string(cache.capacity()));
  auto x = body->embed_tokens(input_ids);  // [B, 1, d]
  const auto device = x.device();
  auto pos_dev = pos.to(device);
  auto cos = rope_cos_.index_select(0, pos_dev).view({B, 1, 1, -1});  // [B, 1, 1, D]
  auto sin = rope_sin_.index_select(0, pos_dev).view({B, 1, 1, -1});
  // Row b sees slots [0, positions[b]]; later slots hold stale keys of an earlier occupant.
  torch::Tensor mask;  // [B, 1, 1, S] additive; none when every row sees all S slots
  if (pos.min().item<int64_t>() + 1 < S) {
    auto slots = torch::arange(S, torch::kInt64).unsqueeze(0);  // [1, S]
    mask = torch::zeros({B, 1, 1, S}, x.options());
    mask.masked_fill_((slots > pos.unsqueeze(1)).view({B, 1, 1, S}).to(device),
                      -std::numeric_limits<float>::infinity());
  }
  // Flat slot index of (row b, kv head h) in a layer's cache viewed as [B * Hkv * C, D]:
  // (b * Hkv + h) * C + positions[b]. The same for every layer.
  const int64_t Hkv = cache.keys[0].size(1), C = cache.capacity();
  auto rows = ((torch::arange(B, torch::kInt64).unsqueeze(1) * Hkv + torch::arange(Hkv, torch::kInt64).unsqueeze(0)) * C +
               pos.unsqueeze(1))
                  .reshape({-1})
                  .to(device);  // [B * Hkv]
  int64_t l = 0;
  for (const auto& module : *body->layers) {
    auto* layer = module->as<decoder_layer_impl>();
    x = x + layer->self_attn->decode(layer->input_layernorm(x), cos, sin, mask, cache.keys[l], cache.values[l], rows,
                                     pos_dev, S);
    x = x + layer->mlp_block(layer->post_attention_layernorm(x));
    ++l;
  }
  return body->norm(x);
}

torch::Tensor transformer_impl::logits(const torch::Tensor& hidden_states) {
  if (lm_head) return lm_head(hidden_states);
  return torch::matmul(hidden_states, body->embed_tokens->weight.t());
}

torch::Tensor transformer_impl::forward(const torch::Tensor& input_ids, const torch::Tensor& positions,
                                        const torch::Tensor& key_valid, kv_cache* cache) {
  return logits(hidden(input_ids, positions, key_valid, cache));
}

void transformer_impl::init_weights(uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::detail::createCPUGenerator(seed);
  for (auto& p : named_parameters(true)) {
    const auto& name = p.key();
    auto& t = p.value();
    if (name.find("norm") != std::string::npos) {
      t.fill_(1.0);
    } else if (name.size() >= 4 && name.compare(name.size() - 4, 4, "bias") == 0) {
      t.zero_();
    } else {
      auto fresh = torch::empty(t.sizes(), torch::kFloat32);
      fresh.normal_(0.0, 0.02, gen);
      t.copy_(fresh);
    }
  }
}

std::vector<std::pair<std::string, torch::Tensor>> named_parameters(transformer& model) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& p : model->named_parameters(true)) out.emplace_back(p.key(), p.value());
  return out;
}

void copy_weights(transformer& dst, transformer& src) {
  torch::NoGradGuard no_grad;
  auto from = src->named_parameters(true);
  auto to = dst->named_parameters(true);
  if (from.size() != to.size()) throw std::invalid_argument("copy_weights: models have different parameter counts");
  for (auto& p : to) {
    const auto* s = from.find(p.key());
    if (!s || !s->sizes().equals(p.value().sizes()))
      throw std::invalid_argument("copy_weights: no parameter of the same shape for " + p.key());
    p.value().copy_(*s);
  }
}

}  // namespace aha::model
