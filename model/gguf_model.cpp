// gguf_model implementation: metadata -> model_config, tensor names -> parameters (with the Q/K
// un-permutation), metadata -> tokenizer.json / tokenizer_config.json text.
#include "model/gguf_model.hpp"

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

namespace aha::model {
namespace {

using json = nlohmann::json;

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// llama.cpp's converter stores llama Q/K rows interleaved for its rope kernel: within each head,
// the rows of the two rotary halves alternate (row 2r + s of the stored head is row s * D/2 + r
// of the Hugging Face head). Undo it: [heads, D/2, 2, in] -> [heads, 2, D/2, in].
torch::Tensor unpermute_rope_rows(const torch::Tensor& w, int64_t heads) {
  const auto out = w.size(0);
  const auto rest = w.numel() / out;
  return w.reshape({heads, out / heads / 2, 2, rest}).transpose(1, 2).reshape(w.sizes()).contiguous();
}

// Reads an integer key under the architecture prefix ("llama.block_count").
result<int64_t> arch_int(const gguf_file& f, const std::string& arch, const char* key) { return f.get_int(arch + "." + key); }

}  // namespace

bool is_gguf_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && std::string(magic, 4) == "GGUF";
}

result<model_config> gguf_model_config(const gguf_file& f) {
  auto arch = f.get_string("general.architecture");
  if (!arch) return arch.error();
  if (*arch != "llama" && *arch != "qwen2")
    return make_error(errc::invalid_argument, f.name() + ": general.architecture \"" + *arch + "\" is not supported (expected llama or qwen2)");
  model_config c;
  c.model_type = *arch;
  const std::string& a = *arch;
  for (auto [key, out] : {std::pair{"embedding_length", &c.hidden_size}, std::pair{"feed_forward_length", &c.intermediate_size},
                          std::pair{"block_count", &c.num_hidden_layers}, std::pair{"attention.head_count", &c.num_attention_heads}}) {
    auto v = arch_int(f, a, key);
    if (!v) return v.error();
    *out = *v;
  }
  c.num_key_value_heads = c.num_attention_heads;
  if (auto v = arch_int(f, a, "attention.head_count_kv")) c.num_key_value_heads = *v;
  c.head_dim = c.num_attention_heads > 0 ? c.hidden_size / c.num_attention_heads : 0;
  if (auto v = arch_int(f, a, "attention.key_length")) c.head_dim = *v;
  if (auto v = arch_int(f, a, "context_length")) c.max_position_embeddings = *v;
  if (auto v = f.get_float(a + ".attention.layer_norm_rms_epsilon")) c.rms_norm_eps = *v;
  if (auto v = f.get_float(a + ".rope.freq_base")) c.rope_theta = *v;
  if (auto kind = f.get_string(a + ".rope.scaling.type")) {
    if (*kind == "linear") {
      c.scaling.kind = "linear";
      auto factor = f.get_float(a + ".rope.scaling.factor");
      if (!factor) return factor.error();
      c.scaling.factor = *factor;
    } else if (*kind != "none") {
      return make_error(errc::invalid_argument, f.name() + ": " + a + ".rope.scaling.type \"" + *kind + "\" is not supported (expected none or linear)");
    }
  }
  if (f.find_tensor("rope_freqs.weight"))
    return make_error(errc::invalid_argument, f.name() + ": tensor \"rope_freqs.weight\" (per-frequency rope factors, Llama 3.1 style) is not supported");
  const auto* embed = f.find_tensor("token_embd.weight");
  if (!embed || embed->dims.size() != 2) return make_error(errc::not_found, f.name() + ": no 2-D tensor \"token_embd.weight\"");
  c.vocab_size = embed->dims[1];
  c.tie_word_embeddings = f.find_tensor("output.weight") == nullptr;
  c.attention_bias = f.find_tensor("blk.0.attn_q.bias") != nullptr;
  if (auto v = f.get_int("tokenizer.ggml.bos_token_id")) c.bos_token_id = *v;
  if (auto v = f.get_int("tokenizer.ggml.eos_token_id")) c.eos_token_id = *v;
  c.torch_dtype = "float32";
  if (auto s = validate(c); !s) return make_error(s.error().code, f.name() + ": " + s.error().message);
  return c;
}

std::string gguf_to_hf_name(const std::string& n) {
  static const std::map<std::string, std::string> top = {
      {"token_embd.weight", "model.embed_tokens.weight"}, {"output_norm.weight", "model.norm.weight"}, {"output.weight", "lm_head.weight"}};
  static const std::map<std::string, std::string> layer = {
      {"attn_norm.weight", "input_layernorm.weight"},  {"ffn_norm.weight", "post_attention_layernorm.weight"},
      {"attn_q.weight", "self_attn.q_proj.weight"},    {"attn_q.bias", "self_attn.q_proj.bias"},
      {"attn_k.weight", "self_attn.k_proj.weight"},    {"attn_k.bias", "self_attn.k_proj.bias"},
      {"attn_v.weight", "self_attn.v_proj.weight"},    {"attn_v.bias", "self_attn.v_proj.bias"},
      {"attn_output.weight", "self_attn.o_proj.weight"}, {"ffn_gate.weight", "mlp.gate_proj.weight"},
      {"ffn_up.weight", "mlp.up_proj.weight"},         {"ffn_down.weight", "mlp.down_proj.weight"}};
  if (auto it = top.find(n); it != top.end()) return it->second;
  static const std::regex block(R"(blk\.(\d+)\.(.+))");
  std::smatch m;
  if (!std::regex_match(n, m, block)) return "";
  auto it = layer.find(m[2].str());
  return it == layer.end() ? "" : "model.layers." + m[1].str() + "." + it->second;
}

status load_gguf_weights(transformer& model, const gguf_file& f) {
  const auto& config = model->config();
  std::map<std::string, const gguf_tensor_info*> by_hf_name;
  for (const auto& t : f.tensors()) {
    const auto hf = gguf_to_hf_name(t.name);
    if (hf.empty()) return make_error(errc::invalid_argument, f.name() + ": tensor \"" + t.name + "\" has no place in a " + config.model_type + " transformer");
    by_hf_name[hf] = &t;
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, param] : named_parameters(model)) {
    auto it = by_hf_name.find(name);
    if (it == by_hf_name.end())
      return make_error(errc::not_found, f.name() + ": no tensor for \"" + name + "\" (expected shape " + shape_text(param.sizes().vec()) + ")");
    const auto& info = *it->second;
    if (info.torch_shape() != param.sizes().vec())
      return make_error(errc::invalid_argument, f.name() + ": tensor \"" + info.name + "\" has shape " + shape_text(info.torch_shape()) +
                                                    ", expected " + shape_text(param.sizes().vec()) + " for \"" + name + "\"");
    auto t = torch::empty(info.torch_shape(), torch::kFloat32);
    if (auto s = f.dequantize(info, t.data_ptr<float>()); !s) return s;
    if (config.model_type == "llama") {
      if (info.name.find(".attn_q.") != std::string::npos) t = unpermute_rope_rows(t, config.num_attention_heads);
      if (info.name.find(".attn_k.") != std::string::npos) t = unpermute_rope_rows(t, config.num_key_value_heads);
    }
    param.copy_(t.to(param.scalar_type()));
  }
  return ok_status();
}

result<transformer> load_gguf_model(const std::string& path) {
  auto f = gguf_file::open(path);
  if (!f) return f.error();
  auto config = gguf_model_config(*f);
  if (!config) return config.error();
  transformer model(*config);
  if (auto s = load_gguf_weights(model, *f); !s) return s.error();
  return model;
}

namespace {

// tokenizer.ggml.pre -> the Hugging Face normalizer and pre-tokenizer with the same splits.
result<std::pair<json, json>> pre_tokenizer_for(const std::string& pre, const std::string& where) {
  auto byte_level = [](bool use_regex) {
    return json{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", use_regex}};
  };
  auto split = [](const char* pattern) {
    return json{{"type", "Split"}, {"pattern", {{"Regex", pattern}}}, {"behavior", "Isolated"}, {"invert", false}};
  };
  if (pre == "default" || pre == "gpt2") return std::pair{json(), byte_level(true)};
  if (pre == "smollm")  // digits one by one, then GPT-2's split (llama.cpp: "\p{N}" then the GPT-2 regex)
    return std::pair{json(), json{{"type", "Sequence"},
                                  {"pretokenizers", {{{"type", "Digits"}, {"individual_digits", true}}, byte_level(true)}}}};
  if (pre == "llama-bpe" || pre == "llama3")
    return std::pair{json(), json{{"type", "Sequence"},
                                  {"pretokenizers",
                                   {split(R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"),
                                    byte_level(false)}}}};
  if (pre == "qwen2")
    return std::pair{json{{"type", "NFC"}},
                     json{{"type", "Sequence"},
                          {"pretokenizers",
                           {split(R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"),
                            byte_level(false)}}}};
  return make_error(errc::invalid_argument, where + ": tokenizer.ggml.pre \"" + pre + "\" is not supported (expected default, gpt2, smollm, llama-bpe or qwen2)");
}

}  // namespace

result<gguf_tokenizer_files> gguf_tokenizer(const gguf_file& f) {
  auto kind = f.get_string("tokenizer.ggml.model");
  if (!kind) return kind.error();
  if (*kind != "gpt2")
    return make_error(errc::invalid_argument, f.name() + ": tokenizer.ggml.model \"" + *kind + "\" is not supported (expected gpt2, byte-level BPE)");
  auto tokens = f.get_strings("tokenizer.ggml.tokens");
  if (!tokens) return tokens.error();
  auto merges = f.get_strings("tokenizer.ggml.merges");
  if (!merges) return merges.error();
  std::vector<int64_t> types(tokens->size(), 1);  // 1 = normal
  if (f.find("tokenizer.ggml.token_type")) {
    auto t = f.get_ints("tokenizer.ggml.token_type");
    if (!t) return t.error();
    if (t->size() != tokens->size())
      return make_error(errc::corrupt_data, f.name() + ": tokenizer.ggml.token_type has " + std::to_string(t->size()) + " entries for " +
                                                std::to_string(tokens->size()) + " tokens");
    types = *t;
  }
  std::string pre = "default";
  if (f.find("tokenizer.ggml.pre")) {
    auto p = f.get_string("tokenizer.ggml.pre");
    if (!p) return p.error();
    pre = *p;
  }
  auto pipeline = pre_tokenizer_for(pre, f.name());
  if (!pipeline) return pipeline.error();

  // Llama 3's vocabulary takes a whole pre-token that is in the vocabulary as it is (llama.cpp
  // and tokenizers both), whatever the merges would make of it.
  const bool ignore_merges = pre == "llama-bpe" || pre == "llama3";
  // Control (3) and user-defined (4) tokens are matched verbatim before BPE, as added tokens.
  json vocab = json::object(), added = json::array();
  for (size_t id = 0; id < tokens->size(); ++id) {
    const auto& text = (*tokens)[id];
    if (vocab.contains(text)) continue;  // a duplicate spelling keeps its first id, as tokenizers does
    vocab[text] = id;
    if (types[id] == 3 || types[id] == 4)
      added.push_back({{"id", id}, {"content", text}, {"single_word", false}, {"lstrip", false}, {"rstrip", false},
                       {"normalized", false}, {"special", types[id] == 3}});
  }
  json merge_list = json::array();
  for (const auto& m : *merges) merge_list.push_back(m);
  json tok = {{"version", "1.0"},
              {"truncation", nullptr},
              {"padding", nullptr},
              {"added_tokens", added},
              {"normalizer", pipeline->first},
              {"pre_tokenizer", pipeline->second},
              {"post_processor", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}}},
              {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
              {"model",
               {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false}, {"ignore_merges", ignore_merges},
                {"vocab", vocab}, {"merges", merge_list}}}};

  gguf_tokenizer_files out;
  json config = {{"tokenizer_class", "GPT2Tokenizer"}, {"clean_up_tokenization_spaces", false}};
  auto token_text = [&](const char* key, const char* field) -> status {
    if (!f.find(key)) return ok_status();
    auto id = f.get_int(key);
    if (!id) return id.error();
    if (*id < 0 || static_cast<size_t>(*id) >= tokens->size())
      return make_error(errc::corrupt_data, f.name() + ": " + key + " " + std::to_string(*id) + " is outside the vocabulary of " +
                                                std::to_string(tokens->size()));
    config[field] = (*tokens)[*id];
    return ok_status();
  };
  for (auto s : {token_text("tokenizer.ggml.bos_token_id", "bos_token"), token_text("tokenizer.ggml.eos_token_id", "eos_token"),
                 token_text("tokenizer.ggml.padding_token_id", "pad_token"), token_text("tokenizer.ggml.unknown_token_id", "unk_token")})
    if (!s) return s.error();
  if (const auto* v = f.find("tokenizer.ggml.add_bos_token"); v && v->type == gguf_type::boolean) out.add_bos = v->ints[0] != 0;
  config["add_bos_token"] = out.add_bos;
  if (f.find("tokenizer.chat_template")) {
    auto t = f.get_string("tokenizer.chat_template");
    if (!t) return t.error();
    config["chat_template"] = *t;
  }
  if (const auto* arch = f.find("general.architecture"); arch && arch->type == gguf_type::string)
    if (auto ctx = f.get_int(arch->strings[0] + ".context_length")) config["model_max_length"] = *ctx;
  // json::dump throws on invalid UTF-8; a GGUF's strings are not checked, so replace such bytes.
  out.tokenizer_json = tok.dump(-1, ' ', false, json::error_handler_t::replace);
  out.tokenizer_config_json = config.dump(2, ' ', false, json::error_handler_t::replace);
  return out;
}

result<bpe_tokenizer> load_gguf_tokenizer(const std::string& path) {
  auto f = gguf_file::open(path);
  if (!f) return f.error();
  auto files = gguf_tokenizer(*f);
  if (!files) return files.error();
  auto tok = bpe_tokenizer::from_json(files->tokenizer_json, files->tokenizer_config_json);
  if (!tok) return make_error(tok.error().code, path + ": " + tok.error().message);
  return tok;
}

}  // namespace aha::model
