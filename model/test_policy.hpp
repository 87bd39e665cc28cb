// tiny_test_policy(seed): a one-layer transformer (d 32, 2 heads, 1 KV head, vocabulary 32) with
// seeded weights, small enough for trainer tests to run many steps in milliseconds.
#pragma once

#include <cstdint>

#include "model/model_config.hpp"
#include "model/transformer.hpp"

namespace aha::model {

inline transformer tiny_test_policy(std::uint64_t seed) {
  model_config config = tiny_config(32);
  config.num_hidden_layers = 1;
  config.hidden_size = 32;
  config.intermediate_size = 64;
  config.num_attention_heads = 2;
  config.num_key_value_heads = 1;
  config.head_dim = 16;
  config.max_position_embeddings = 64;
  transformer policy(config);
  policy->init_weights(seed);
  return policy;
}

}  // namespace aha::model
