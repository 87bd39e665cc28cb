// Tests of config.json parsing: transformers 4 and 5 spellings, defaults per model type,
// round trip through to_config_json, and errors that name the key.
#include "model/model_config.hpp"

// LibTorch pulls in glog, whose CHECK would replace Catch2's: include Catch2 last.
#undef CHECK
#include <catch2/catch.hpp>

using namespace aha::model;

TEST_CASE("model_config: transformers 4 style llama with rope_scaling") {
  auto c = parse_model_config(R"({"model_type": "llama", "vocab_size": 100, "hidden_size": 64, "intermediate_size": 128,
    "num_hidden_layers": 2, "num_attention_heads": 8, "num_key_value_heads": 2, "rope_theta": 500000.0,
    "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192}, "eos_token_id": [5, 6], "tie_word_embeddings": true})");
  REQUIRE(c.ok());
  CHECK(c->head_dim == 8);
  CHECK(c->num_key_value_heads == 2);
  CHECK(c->rope_theta == 500000.0);
  CHECK(c->scaling.kind == "llama3");
  CHECK(c->eos_token_id == 5);
  CHECK_FALSE(c->attention_bias);
  auto again = parse_model_config(to_config_json(*c));
  REQUIRE(again.ok());
  CHECK(again->scaling.original_max_position_embeddings == 8192);
  CHECK(again->tie_word_embeddings);
}

TEST_CASE("model_config: transformers 5 rope_parameters and qwen2 bias default") {
  auto c = parse_model_config(R"({"model_type": "qwen2", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 16,
    "num_hidden_layers": 1, "num_attention_heads": 2, "rope_parameters": {"rope_theta": 1000000.0, "rope_type": "default"}})");
  REQUIRE(c.ok());
  CHECK(c->rope_theta == 1000000.0);
  CHECK(c->scaling.kind == "none");
  CHECK(c->attention_bias);
}

TEST_CASE("model_config: errors name the key") {
  auto missing = parse_model_config(R"({"model_type": "llama", "vocab_size": 10})");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().message.find("hidden_size") != std::string::npos);
  auto wrong = parse_model_config(R"({"model_type": "gpt2", "vocab_size": 10, "hidden_size": 8, "intermediate_size": 16,
    "num_hidden_layers": 1, "num_attention_heads": 2})");
  CHECK(wrong.error().message.find("gpt2") != std::string::npos);
  auto heads = parse_model_config(R"({"model_type": "llama", "vocab_size": 10, "hidden_size": 12, "intermediate_size": 16,
    "num_hidden_layers": 1, "num_attention_heads": 3, "num_key_value_heads": 2})");
  CHECK(heads.error().message.find("num_key_value_heads") != std::string::npos);
  CHECK(parameter_count(tiny_config(105)) > 300000);
}
