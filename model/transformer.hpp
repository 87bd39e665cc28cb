// transformer: a Llama/Qwen2-family decoder-only transformer (RMSNorm, RoPE, grouped-query
// attention, SwiGLU, tied or untied head) as a torch::nn::Module whose parameter names equal the
// Hugging Face names ("model.layers.0.self_attn.q_proj.weight"), so checkpoints map 1:1.
// Not the sampler (engine.hpp) nor checkpoint I/O (hf_checkpoint.hpp). Tests: transformer.test.cpp.
// Letters: B = batch rows, T = new tokens this call, S = key slots (cache length + T), V = vocab,
// d = hidden size, H / Hkv = query / key-value heads, D = head dim, L = layers.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/types.h>

#include <string>
#include <utility>
#include <vector>

#include "model/model_config.hpp"

namespace aha::model {

// Pre-allocated keys/values for incremental decoding. Slots [0, length) are filled; a forward
// call with T tokens writes slots [length, length + T) for every row and then advances length.
struct kv_cache {
  std::vector<torch::Tensor> keys;    // L x [B, Hkv, capacity, D]
  std::vector<torch::Tensor> values;  // L x [B, Hkv, capacity, D]
  int64_t length = 0;
  int64_t capacity() const { return keys.empty() ? 0 : keys[0].size(2); }
  int64_t batch() const { return keys.empty() ? 0 : keys[0].size(0); }
};
kv_cache make_kv_cache(const model_config& config, int64_t batch, int64_t capacity,
                       torch::TensorOptions options = torch::kFloat32);

struct rms_norm_impl : torch::nn::Module {
  rms_norm_impl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);  // [..., d] -> [..., d]
  torch::Tensor weight;                           // [d]
  double eps;
};
TORCH_MODULE_IMPL(rms_norm, rms_norm_impl);

struct attention_impl : torch::nn::Module {
  explicit attention_impl(const model_config& config);
  // x [B, T, d]; cos/sin [B, 1, T, D]; mask [B, 1, T, S] additive; keys/values: this layer's
  // cache tensors or undefined (then S == T). Returns [B, T, d].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& mask, torch::Tensor* keys, torch::Tensor* values, int64_t start);
  // One token per row at its own slot (transformer_impl::decode_hidden): x [B, 1, d]; slots [B]
  // int64, row b's position; rows [B * Hkv] int64, where row b / kv head h writes its key and
  // value in place: (b * Hkv + h) * capacity + slots[b] in the cache viewed as [B * Hkv *
  // capacity, D] (keys/values must be contiguous row views). Attends to key slots [0, key_slots).
  torch::Tensor decode(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                       const torch::Tensor& mask, torch::Tensor& keys, torch::Tensor& values,
                       const torch::Tensor& rows, const torch::Tensor& slots, int64_t key_slots);
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  int64_t heads, kv_heads, head_dim;
};
TORCH_MODULE_IMPL(attention, attention_impl);

struct mlp_impl : torch::nn::Module {
  explicit mlp_impl(const model_config& config);
  torch::Tensor forward(const torch::Tensor& x);  // [B, T, d] -> [B, T, d]
  torch::nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE_IMPL(mlp, mlp_impl);

struct decoder_layer_impl : torch::nn::Module {
  explicit decoder_layer_impl(const model_config& config);
  attention self_attn{nullptr};
  mlp mlp_block{nullptr};  // registered as "mlp"
  rms_norm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
};
TORCH_MODULE_IMPL(decoder_layer, decoder_layer_impl);

// The "model." prefix of the Hugging Face names.
struct decoder_body_impl : torch::nn::Module {
  explicit decoder_body_impl(const model_config& config);
  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  rms_norm norm{nullptr};
};
TORCH_MODULE_IMPL(decoder_body, decoder_body_impl);

class transformer_impl : public torch::nn::Module {
 public:
  explicit transformer_impl(const model_config& config);

  // Last hidden states. input_ids, positions: [B, T] int64. key_valid: [B, S] bool, false for
  // padding slots (undefined = all valid). cache: null for a plain forward (S == T), else the
  // cache whose slots [cache->length, +T) receive this call's keys/values. Returns [B, T, d].
  torch::Tensor hidden(const torch::Tensor& input_ids, const torch::Tensor& positions,
                       const torch::Tensor& key_valid = {}, kv_cache* cache = nullptr);
  // One decoding step where every row sits at its own position (the engine's continuous batch):
  // input_ids [B, 1] int64; positions [B] int64 on the CPU, row b's token is at position
  // positions[b], which is also its cache slot (rows hold no padding); it attends to slots
  // [0, positions[b]]. cache: rows [0, B) are these rows (cache->length is not used or changed).
  // Returns [B, 1, d].
  torch::Tensor decode_hidden(const torch::Tensor& input_ids, const torch::Tensor& positions, kv_cache& cache);
  // Logits of the head for hidden states [..., d] -> [..., V].
  torch::Tensor logits(const torch::Tensor& hidden_states);
  // hidden() then logits(): [B, T, V].
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& positions,
                        const torch::Tensor& key_valid = {}, kv_cache* cache = nullptr);

  // Hugging Face style initialisation: normal(0, 0.02) weights, zero biases, unit norms.
  void init_weights(uint64_t seed);
  const model_config& config() const { return config_; }

  decoder_body body{nullptr};        // "model"
  torch::nn::Linear lm_head{nullptr};  // "lm_head"; null when tied to the embedding

 private:
  model_config config_;
  torch::Tensor rope_cos_, rope_sin_;  // [P, D] buffers, P = max_position_embeddings
};
TORCH_MODULE_IMPL(transformer, transformer_impl);

// Rotary inverse frequencies [D/2] after rope_scaling (linear or llama3). Exposed for tests.
torch::Tensor rope_inverse_frequencies(const model_config& config);

// Parameters with their Hugging Face names, in registration order (tied head omitted).
std::vector<std::pair<std::string, torch::Tensor>> named_parameters(transformer& model);
// Copies every parameter of src into dst (same config; no autograd). Used to publish a learner
// snapshot to in-process generators. Fails loudly (throws) on a name or shape mismatch.
void copy_weights(transformer& dst, transformer& src);

}  // namespace aha::model
