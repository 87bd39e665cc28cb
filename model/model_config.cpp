// model_config parsing/serialisation against Hugging Face config.json (nlohmann::json).
#include "model/model_config.hpp"

#include <nlohmann/json.hpp>

namespace aha::model {
namespace {

using json = nlohmann::json;

template <class T>
status read_field(const json& j, const char* key, T& out, bool required) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) return make_error(errc::invalid_argument, std::string("config.json: missing key \"") + key + "\"");
    return ok_status();
  }
  try {
    out = it->get<T>();
  } catch (const std::exception& e) {
    return make_error(errc::invalid_argument, std::string("config.json: key \"") + key + "\" has the wrong type: " + e.what());
  }
  return ok_status();
}

// rope_scaling (transformers 4) or rope_parameters (transformers 5, which also holds rope_theta).
status read_rope_scaling(const json& j, rope_scaling& out, double& theta) {
  auto it = j.find("rope_parameters");
  if (it != j.end() && it->is_object()) {
    if (auto s = read_field(*it, "rope_theta", theta, false); !s) return s;
  } else {
    it = j.find("rope_scaling");
  }
  if (it == j.end() || it->is_null()) return ok_status();
  if (!it->is_object()) return make_error(errc::invalid_argument, "config.json: rope_scaling must be an object");
  const json& r = *it;
  std::string kind = r.value("rope_type", r.value("type", std::string("default")));
  out.kind = kind == "default" ? "none" : kind;
  for (auto s : {read_field(r, "factor", out.factor, false), read_field(r, "low_freq_factor", out.low_freq_factor, false),
                 read_field(r, "high_freq_factor", out.high_freq_factor, false),
                 read_field(r, "original_max_position_embeddings", out.original_max_position_embeddings, false)})
    if (!s) return s;
  return ok_status();
}

// eos_token_id may be an int or a list of ints; aha keeps the first.
void read_token_id(const json& j, const char* key, int64_t& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return;
  if (it->is_number_integer()) out = it->get<int64_t>();
  if (it->is_array() && !it->empty() && (*it)[0].is_number_integer()) out = (*it)[0].get<int64_t>();
}

}  // namespace

result<model_config> parse_model_config(const std::string& json_text) {
  json j = json::parse(json_text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return make_error(errc::corrupt_data, "config.json: not a JSON object");
  model_config c;
  for (auto s : {read_field(j, "model_type", c.model_type, true), read_field(j, "vocab_size", c.vocab_size, true),
                 read_field(j, "hidden_size", c.hidden_size, true), read_field(j, "intermediate_size", c.intermediate_size, true),
                 read_field(j, "num_hidden_layers", c.num_hidden_layers, true),
                 read_field(j, "num_attention_heads", c.num_attention_heads, true)})
    if (!s) return s.error();
  c.num_key_value_heads = c.num_attention_heads;
  c.attention_bias = c.model_type == "qwen2";
  for (auto s : {read_field(j, "num_key_value_heads", c.num_key_value_heads, false),
                 read_field(j, "head_dim", c.head_dim, false),
                 read_field(j, "max_position_embeddings", c.max_position_embeddings, false),
                 read_field(j, "rms_norm_eps", c.rms_norm_eps, false), read_field(j, "rope_theta", c.rope_theta, false),
                 read_field(j, "tie_word_embeddings", c.tie_word_embeddings, false),
                 read_field(j, "mlp_bias", c.mlp_bias, false), read_field(j, "torch_dtype", c.torch_dtype, false),
                 read_field(j, "dtype", c.torch_dtype, false),
                 read_rope_scaling(j, c.scaling, c.rope_theta)})
    if (!s) return s.error();
  if (c.model_type == "llama") read_field(j, "attention_bias", c.attention_bias, false);
  if (c.head_dim == 0 && c.num_attention_heads > 0) c.head_dim = c.hidden_size / c.num_attention_heads;
  read_token_id(j, "bos_token_id", c.bos_token_id);
  read_token_id(j, "eos_token_id", c.eos_token_id);
  if (auto s = validate(c); !s) return s.error();
  return c;
}

status validate(const model_config& c) {
  auto bad = [](const std::string& what) { return make_error(errc::invalid_argument, "model config: " + what); };
  if (c.model_type != "llama" && c.model_type != "qwen2")
    return bad("model_type \"" + c.model_type + "\" is not supported (expected \"llama\" or \"qwen2\")");
  if (c.vocab_size <= 0 || c.hidden_size <= 0 || c.intermediate_size <= 0 || c.num_hidden_layers <= 0 ||
      c.num_attention_heads <= 0 || c.num_key_value_heads <= 0 || c.head_dim <= 0)
    return bad("vocab_size, hidden_size, intermediate_size, num_hidden_layers, heads and head_dim must be positive");
  if (c.num_attention_heads % c.num_key_value_heads != 0)
    return bad("num_attention_heads (" + std::to_string(c.num_attention_heads) + ") must be a multiple of num_key_value_heads (" +
               std::to_string(c.num_key_value_heads) + ")");
  if (c.head_dim % 2 != 0) return bad("head_dim must be even (rotary embeddings)");
  const auto& k = c.scaling.kind;
  if (k != "none" && k != "linear" && k != "llama3")
    return bad("rope_scaling type \"" + k + "\" is not supported (expected none, linear or llama3)");
  return ok_status();
}

std::string to_config_json(const model_config& c) {
  json j;
  j["architectures"] = {c.model_type == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"};
  j["model_type"] = c.model_type;
  j["vocab_size"] = c.vocab_size;
  j["hidden_size"] = c.hidden_size;
  j["intermediate_size"] = c.intermediate_size;
  j["num_hidden_layers"] = c.num_hidden_layers;
  j["num_attention_heads"] = c.num_attention_heads;
  j["num_key_value_heads"] = c.num_key_value_heads;
  j["head_dim"] = c.head_dim;
  j["max_position_embeddings"] = c.max_position_embeddings;
  j["rms_norm_eps"] = c.rms_norm_eps;
  j["rope_theta"] = c.rope_theta;
  j["hidden_act"] = "silu";
  j["tie_word_embeddings"] = c.tie_word_embeddings;
  j["torch_dtype"] = c.torch_dtype;
  if (c.model_type == "llama") {
    j["attention_bias"] = c.attention_bias;
    j["mlp_bias"] = c.mlp_bias;
  }
  if (c.scaling.kind != "none") {
    json r{{"rope_type", c.scaling.kind}, {"factor", c.scaling.factor}};
    if (c.scaling.kind == "llama3") {
      r["low_freq_factor"] = c.scaling.low_freq_factor;
      r["high_freq_factor"] = c.scaling.high_freq_factor;
      r["original_max_position_embeddings"] = c.scaling.original_max_position_embeddings;
    }
    j["rope_scaling"] = r;
  }
  if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id;
  if (c.eos_token_id >= 0) j["eos_token_id"] = c.eos_token_id;
  return j.dump(2);
}

int64_t parameter_count(const model_config& c) {
  const int64_t d = c.hidden_size, q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim;
  const int64_t bias = c.attention_bias ? q + 2 * kv : 0;
  const int64_t attn = d * q + 2 * d * kv + q * d + bias;
  const int64_t mlp = 3 * d * c.intermediate_size + (c.mlp_bias ? 2 * c.intermediate_size + d : 0);
  const int64_t layer = attn + mlp + 2 * d;
  const int64_t embed = c.vocab_size * d;
  return embed + c.num_hidden_layers * layer + d + (c.tie_word_embeddings ? 0 : embed);
}

model_config tiny_config(int64_t vocab_size) {
  model_config c;
  c.model_type = "llama";
  c.vocab_size = vocab_size;
  c.hidden_size = 128;
  c.intermediate_size = 384;
  c.num_hidden_layers = 4;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 32;
  c.max_position_embeddings = 512;
  c.rms_norm_eps = 1e-5;
  c.tie_word_embeddings = true;
  return c;
}

model_config bench_100m_config(int64_t vocab_size) {
  model_config c = tiny_config(vocab_size);
  c.hidden_size = 768;
  c.intermediate_size = 2048;
  c.num_hidden_layers = 12;
  c.num_attention_heads = 12;
  c.num_key_value_heads = 4;
  c.head_dim = 64;
  c.max_position_embeddings = 2048;
  c.tie_word_embeddings = false;
  return c;
}

}  // namespace aha::model
