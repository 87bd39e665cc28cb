// Tests of the GGUF reader (gguf.hpp) and its model mapping (gguf_model.hpp) on files built here:
// every metadata type, alignment and offsets; every truncation and a list of malformed fields give
// errors naming the offset and field; random mutations never crash; dequantization equals gguf-py's
// on random blocks (model/testdata/gguf/dequant.json, scripts/gguf_reference.py); a random
// llama (Q/K permuted as llama.cpp's converter does) and qwen2 written as GGUF load to the same
// logits, their tokenizers rebuilt from metadata give the Hugging Face fixture's ids, and
// save_pretrained turns the GGUF into a folder that loads back identically.
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <tuple>
#include <unistd.h>

#include "model/gguf.hpp"
#include "model/gguf_model.hpp"
#include "model/hf_checkpoint.hpp"

// LibTorch pulls in glog, whose CHECK would replace Catch2's: include Catch2 last.
#undef CHECK
#include <catch2/catch.hpp>

using namespace aha::model;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const std::string kData = std::string(AHA_SOURCE_DIR) + "/model/testdata/";

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

fs::path scratch(const std::string& name) {
  auto p = fs::temp_directory_path() / ("aha_gguf_test_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

// Builds GGUF files byte by byte, in the layout of the specification (little-endian).
struct gguf_builder {
  struct tensor {
    std::string name;
    std::vector<uint64_t> dims;
    uint32_t type;
    std::string data;
  };
  std::string kv;  // encoded key/values
  uint64_t kv_count = 0;
  std::vector<tensor> tensors;
  uint64_t alignment = 32;
  uint32_t version = 3;

  template <class T>
  static void put(std::string& out, T v) {
    out.append(reinterpret_cast<const char*>(&v), sizeof(T));
  }
  static void put_string(std::string& out, const std::string& s) {
    put<uint64_t>(out, s.size());
    out += s;
  }
  void key(const std::string& k, gguf_type t) {
    put_string(kv, k);
    put<uint32_t>(kv, static_cast<uint32_t>(t));
    ++kv_count;
  }
  template <class T>
  void scalar(const std::string& k, gguf_type t, T v) {
    key(k, t);
    put<T>(kv, v);
  }
  void string(const std::string& k, const std::string& v) {
    key(k, gguf_type::string);
    put_string(kv, v);
  }
  void strings(const std::string& k, const std::vector<std::string>& v) {
    key(k, gguf_type::array);
    put<uint32_t>(kv, static_cast<uint32_t>(gguf_type::string));
    put<uint64_t>(kv, v.size());
    for (const auto& s : v) put_string(kv, s);
  }
  void int32s(const std::string& k, const std::vector<int32_t>& v) {
    key(k, gguf_type::array);
    put<uint32_t>(kv, static_cast<uint32_t>(gguf_type::int32));
    put<uint64_t>(kv, v.size());
    for (auto x : v) put<int32_t>(kv, x);
  }
  void add_f32(const std::string& name, const torch::Tensor& t) {  // torch shape -> reversed GGUF dims
    auto c = t.to(torch::kFloat32).contiguous();
    std::vector<uint64_t> dims(c.sizes().rbegin(), c.sizes().rend());
    tensors.push_back({name, dims, 0, std::string(reinterpret_cast<const char*>(c.data_ptr<float>()), c.numel() * 4)});
  }
  std::string build() const {
    std::string out;
    put<uint32_t>(out, 0x46554747);
    put<uint32_t>(out, version);
    put<uint64_t>(out, tensors.size());
    put<uint64_t>(out, kv_count);
    out += kv;
    uint64_t offset = 0;
    std::vector<uint64_t> offsets;
    for (const auto& t : tensors) {
      put_string(out, t.name);
      put<uint32_t>(out, static_cast<uint32_t>(t.dims.size()));
      for (auto d : t.dims) put<uint64_t>(out, d);
      put<uint32_t>(out, t.type);
      put<uint64_t>(out, offset);
      offsets.push_back(offset);
      offset += (t.data.size() + alignment - 1) / alignment * alignment;
    }
    out.resize((out.size() + alignment - 1) / alignment * alignment, '\0');
    const size_t data_start = out.size();
    for (size_t i = 0; i < tensors.size(); ++i) {
      out.resize(data_start + offsets[i], '\0');
      out += tensors[i].data;
    }
    return out;
  }
};

uint16_t to_half_bits(float f) {  // exact for the small values used below
  auto h = torch::tensor({f}).to(torch::kFloat16);
  uint16_t bits;
  std::memcpy(&bits, h.data_ptr(), 2);
  return bits;
}

// A file with every metadata type, an explicit alignment and two tensors.
gguf_builder sample_file() {
  gguf_builder b;
  b.alignment = 64;
  b.scalar<uint32_t>("general.alignment", gguf_type::uint32, 64);
  b.scalar<uint8_t>("u8", gguf_type::uint8, 200);
  b.scalar<int8_t>("i8", gguf_type::int8, -100);
  b.scalar<uint16_t>("u16", gguf_type::uint16, 60000);
  b.scalar<int16_t>("i16", gguf_type::int16, -30000);
  b.scalar<uint32_t>("u32", gguf_type::uint32, 4000000000u);
  b.scalar<int32_t>("i32", gguf_type::int32, -2000000000);
  b.scalar<uint64_t>("u64", gguf_type::uint64, 1ull << 40);
  b.scalar<int64_t>("i64", gguf_type::int64, -(1ll << 40));
  b.scalar<float>("f32", gguf_type::float32, 1.5f);
  b.scalar<double>("f64", gguf_type::float64, -2.25);
  b.scalar<uint8_t>("yes", gguf_type::boolean, 1);
  b.string("name", "tiny ✓");
  b.strings("words", {"a", "", "ccc"});
  b.int32s("numbers", {1, -2, 3});
  b.key("nested", gguf_type::array);  // [[7, 8], []] as arrays of uint16
  gguf_builder::put<uint32_t>(b.kv, static_cast<uint32_t>(gguf_type::array));
  gguf_builder::put<uint64_t>(b.kv, 2);
  for (std::vector<uint16_t> inner : {std::vector<uint16_t>{7, 8}, std::vector<uint16_t>{}}) {
    gguf_builder::put<uint32_t>(b.kv, static_cast<uint32_t>(gguf_type::uint16));
    gguf_builder::put<uint64_t>(b.kv, inner.size());
    for (auto x : inner) gguf_builder::put<uint16_t>(b.kv, x);
  }
  b.add_f32("w", torch::arange(6, torch::kFloat32).reshape({2, 3}));
  std::string half;
  for (float f : {0.5f, -1.0f, 2.0f, 0.0f}) gguf_builder::put<uint16_t>(half, to_half_bits(f));
  b.tensors.push_back({"h", {4}, 1, half});
  return b;
}

}  // namespace

TEST_CASE("gguf: header, every metadata type, tensor infos, alignment and data offsets") {
  const std::string bytes = sample_file().build();
  auto f = gguf_file::parse(bytes.data(), bytes.size(), "sample.gguf");
  REQUIRE(f.ok());
  CHECK(f->version() == 3);
  CHECK(f->alignment() == 64);
  CHECK(f->data_offset() % 64 == 0);
  CHECK(*f->get_int("u8") == 200);
  CHECK(*f->get_int("i8") == -100);
  CHECK(*f->get_int("u16") == 60000);
  CHECK(*f->get_int("i16") == -30000);
  CHECK(*f->get_int("u32") == 4000000000ll);
  CHECK(*f->get_int("i32") == -2000000000);
  CHECK(*f->get_int("u64") == (1ll << 40));
  CHECK(*f->get_int("i64") == -(1ll << 40));
  CHECK(*f->get_float("f32") == 1.5);
  CHECK(*f->get_float("f64") == -2.25);
  CHECK(f->find("yes")->type == gguf_type::boolean);
  CHECK(f->find("yes")->ints[0] == 1);
  CHECK(*f->get_string("name") == "tiny ✓");
  CHECK(*f->get_strings("words") == std::vector<std::string>{"a", "", "ccc"});
  CHECK(*f->get_ints("numbers") == std::vector<int64_t>{1, -2, 3});
  const auto* nested = f->find("nested");
  REQUIRE(nested);
  REQUIRE(nested->items.size() == 2);
  CHECK(nested->items[0].ints == std::vector<int64_t>{7, 8});
  CHECK(nested->items[1].size() == 0);
  CHECK(f->metadata().size() == 16);
  // Wrong-type and missing look-ups name the key.
  CHECK(f->get_string("u8").error().message.find("\"u8\"") != std::string::npos);
  CHECK(f->get_int("absent").error().code == aha::errc::not_found);

  REQUIRE(f->tensors().size() == 2);
  const auto* w = f->find_tensor("w");
  REQUIRE(w);
  CHECK(w->dims == std::vector<int64_t>{3, 2});
  CHECK(w->torch_shape() == std::vector<int64_t>{2, 3});
  CHECK(w->offset % 64 == 0);
  aha::status s = aha::ok_status();
  CHECK(f->dequantize(*w, s) == std::vector<float>{0, 1, 2, 3, 4, 5});
  CHECK(f->dequantize(*f->find_tensor("h"), s) == std::vector<float>{0.5f, -1.0f, 2.0f, 0.0f});
  CHECK(s.ok());
}

TEST_CASE("gguf: every truncation is an error naming the offset and the field") {
  const std::string bytes = sample_file().build();
  for (size_t n = 0; n < bytes.size(); ++n) {
    auto f = gguf_file::parse(bytes.data(), n, "cut.gguf");
    INFO("prefix of " << n << " bytes");
    REQUIRE_FALSE(f.ok());
    CHECK(f.error().message.rfind("cut.gguf: offset ", 0) == 0);
  }
}

TEST_CASE("gguf: malformed fields give clear errors") {
  auto error_of = [](const std::string& bytes) {
    auto f = gguf_file::parse(bytes.data(), bytes.size(), "bad.gguf");
    REQUIRE_FALSE(f.ok());
    return f.error().message;
  };
  auto contains = [](const std::string& text, const std::string& part) {
    INFO(text);
    CHECK(text.find(part) != std::string::npos);
  };
  std::string ok = sample_file().build();
  {
    auto b = ok;
    b[0] = 'X';
    contains(error_of(b), "offset 0: magic");
  }
  {
    auto v = sample_file();
    v.version = 1;
    contains(error_of(v.build()), "version 1 is not supported");
  }
  {
    gguf_builder b;
    b.key("k", static_cast<gguf_type>(77));
    contains(error_of(b.build()), "metadata \"k\" type: unknown value type 77");
  }
  {
    gguf_builder b;
    b.scalar<uint8_t>("flag", gguf_type::boolean, 2);
    contains(error_of(b.build()), "bool value 2");
  }
  {
    gguf_builder b;
    b.key("big", gguf_type::array);
    gguf_builder::put<uint32_t>(b.kv, static_cast<uint32_t>(gguf_type::int64));
    gguf_builder::put<uint64_t>(b.kv, 1ull << 60);
    contains(error_of(b.build()), "metadata \"big\": array of 1152921504606846976 int64 values cannot fit");
  }
  {
    gguf_builder b;
    b.key("s", gguf_type::string);
    gguf_builder::put<uint64_t>(b.kv, 1000);
    contains(error_of(b.build()), "metadata \"s\": string length 1000 exceeds");
  }
  {
    gguf_builder b;
    b.string("dup", "a");
    b.string("dup", "b");
    contains(error_of(b.build()), "metadata key \"dup\": appears twice");
  }
  {
    gguf_builder b;
    b.scalar<uint32_t>("general.alignment", gguf_type::uint32, 48);
    // The value sits after the 24-byte header, the key (8 + 17 bytes) and its type (4).
    contains(error_of(b.build()), "offset 53: metadata \"general.alignment\": 48 is not a power of two");
  }
  {
    gguf_builder b;
    b.tensors.push_back({"t", {32}, 15, std::string(292, '\0')});  // Q8_K: no dequantizer here
    contains(error_of(b.build()), "tensor \"t\" type: Q8_K is not supported");
  }
  {
    gguf_builder b;
    b.tensors.push_back({"t", {33}, 2, std::string(64, '\0')});  // Q4_0 rows are whole 32-blocks
    contains(error_of(b.build()), "tensor \"t\" dims[0]: 33 is not a multiple of Q4_0's block of 32");
  }
  {
    gguf_builder b;
    b.tensors.push_back({"t", {0}, 0, ""});
    contains(error_of(b.build()), "tensor \"t\" dims[0]: 0 is not between 1 and 2^40");
  }
  {
    gguf_builder b;
    b.tensors.push_back({"t", {4}, 0, std::string(16, '\0')});
    b.tensors.push_back({"t", {4}, 0, std::string(16, '\0')});
    contains(error_of(b.build()), "tensor name appears twice");
  }
  {
    auto b = sample_file();
    auto bytes = b.build();
    bytes.resize(bytes.size() - 1);  // the last tensor's data is one byte short
    contains(error_of(bytes), "tensor \"h\" data: 8 bytes at data offset 64 run past the end of the file");
  }
  {
    // Two tensors claiming the same bytes: the second info's offset is rewritten to the first's.
    gguf_builder b;
    b.tensors.push_back({"a", {16}, 0, std::string(64, '\0')});
    b.tensors.push_back({"b", {16}, 0, std::string(64, '\0')});
    auto bytes = b.build();
    const auto at = bytes.find(std::string("\x01\0\0\0\0\0\0\0b", 9));
    REQUIRE(at != std::string::npos);
    const size_t offset_field = at + 9 + 4 + 8 + 4;  // name, n_dims, dims[0], type
    const uint64_t zero = 0;
    std::memcpy(&bytes[offset_field], &zero, 8);
    contains(error_of(bytes), "overlaps tensor");
  }
  {
    gguf_builder b;
    b.tensors.push_back({"t", {4}, 0, std::string(16, '\0')});
    auto bytes = b.build();
    const uint64_t odd = 4;
    const auto at = bytes.find(std::string("\x01\0\0\0\0\0\0\0t", 9));
    std::memcpy(&bytes[at + 9 + 4 + 8 + 4], &odd, 8);
    contains(error_of(bytes), "offset: 4 is not a multiple of the alignment 32");
  }
}

TEST_CASE("gguf: random mutations give an error or a readable file, never a crash") {
  const std::string good = sample_file().build();
  std::mt19937 rng(14);
  int parsed = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string bytes = good;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i) bytes[rng() % bytes.size()] = static_cast<char>(rng());
    if (rng() % 4 == 0) bytes.resize(rng() % bytes.size());
    auto f = gguf_file::parse(bytes.data(), bytes.size());
    if (!f) {
      CHECK_FALSE(f.error().message.empty());
      continue;
    }
    ++parsed;
    for (const auto& t : f->tensors()) {
      std::vector<float> out(static_cast<size_t>(t.elements()));
      CHECK(f->dequantize(t, out.data()).ok());
    }
  }
  CHECK(parsed > 0);  // some mutations only touch values: those files still read
}

TEST_CASE("gguf: dequantization equals gguf-py's on random blocks of every type") {
  auto ref = json::parse(read(kData + "gguf/dequant.json"));
  REQUIRE(ref.size() == 12);
  for (auto it = ref.begin(); it != ref.end(); ++it) {
    INFO(it.key());
    const auto hex = it.value()["hex"].get<std::string>();
    std::vector<uint8_t> raw(hex.size() / 2);
    for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<uint8_t>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
    const auto expected = it.value()["values"].get<std::vector<float>>();
    const uint32_t type = it.value()["type"].get<uint32_t>();
    CHECK(ggml_type_name(type) == it.key());
    int64_t block = 0, block_bytes = 0;
    REQUIRE(ggml_block_layout(type, block, block_bytes));
    REQUIRE(static_cast<int64_t>(raw.size()) == static_cast<int64_t>(expected.size()) / block * block_bytes);
    std::vector<float> got(expected.size());
    REQUIRE(dequantize_blocks(type, raw.data(), got.data(), static_cast<int64_t>(got.size())));
    float worst = 0;
    for (size_t i = 0; i < got.size(); ++i)
      worst = std::max(worst, std::abs(got[i] - expected[i]) / (1e-6f + std::abs(expected[i])));
    CHECK(worst < 1e-5f);  // same formula, float rounding order may differ
  }
}

namespace {

// llama.cpp's converter permutes llama Q/K rows for its rope layout (convert_hf_to_gguf's
// permute): [heads, 2, D/2, in] -> [heads, D/2, 2, in]. Re-written here from its description.
torch::Tensor llama_cpp_permute(const torch::Tensor& w, int64_t heads) {
  const auto out = w.size(0);
  return w.reshape({heads, 2, out / heads / 2, w.size(1)}).transpose(1, 2).reshape(w.sizes()).contiguous();
}

// The tokenizer metadata of a Hugging Face tokenizer.json fixture, as llama.cpp writes it.
void add_tokenizer(gguf_builder& b, const std::string& fixture, const std::string& pre) {
  auto j = json::parse(read(kData + "tokenizers/" + fixture + ".tokenizer.json"));
  std::vector<std::string> tokens(j["model"]["vocab"].size());
  for (auto it = j["model"]["vocab"].begin(); it != j["model"]["vocab"].end(); ++it) tokens.at(it.value().get<size_t>()) = it.key();
  std::vector<int32_t> types(tokens.size(), 1);
  for (const auto& a : j["added_tokens"]) {
    const auto id = a["id"].get<size_t>();
    if (id >= tokens.size()) tokens.resize(id + 1), types.resize(id + 1, 1);
    tokens[id] = a["content"].get<std::string>();
    types[id] = 3;
  }
  std::vector<std::string> merges;
  for (const auto& m : j["model"]["merges"]) merges.push_back(m.is_array() ? m[0].get<std::string>() + " " + m[1].get<std::string>() : m.get<std::string>());
  b.string("tokenizer.ggml.model", "gpt2");
  b.string("tokenizer.ggml.pre", pre);
  b.strings("tokenizer.ggml.tokens", tokens);
  b.int32s("tokenizer.ggml.token_type", types);
  b.strings("tokenizer.ggml.merges", merges);
  b.scalar<uint32_t>("tokenizer.ggml.bos_token_id", gguf_type::uint32, 1);
  b.scalar<uint32_t>("tokenizer.ggml.eos_token_id", gguf_type::uint32, 2);
  b.string("tokenizer.chat_template", "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}");
}

model_config small_config(const std::string& type, int64_t vocab) {
  model_config c;
  c.model_type = type;
  c.vocab_size = vocab;
  c.hidden_size = 64;
  c.intermediate_size = 96;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.max_position_embeddings = 128;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 10000;
  c.attention_bias = type == "qwen2";
  c.tie_word_embeddings = type == "llama";
  return c;
}

// Writes `model` as llama.cpp would (names, Q/K permutation for llama) with F32 tensors.
std::string to_gguf(transformer& model, const std::string& fixture, const std::string& pre) {
  const auto& c = model->config();
  gguf_builder b;
  const std::string a = c.model_type;
  b.string("general.architecture", a);
  b.scalar<uint32_t>(a + ".context_length", gguf_type::uint32, static_cast<uint32_t>(c.max_position_embeddings));
  b.scalar<uint32_t>(a + ".embedding_length", gguf_type::uint32, static_cast<uint32_t>(c.hidden_size));
  b.scalar<uint32_t>(a + ".feed_forward_length", gguf_type::uint32, static_cast<uint32_t>(c.intermediate_size));
  b.scalar<uint32_t>(a + ".block_count", gguf_type::uint32, static_cast<uint32_t>(c.num_hidden_layers));
  b.scalar<uint32_t>(a + ".attention.head_count", gguf_type::uint32, static_cast<uint32_t>(c.num_attention_heads));
  b.scalar<uint32_t>(a + ".attention.head_count_kv", gguf_type::uint32, static_cast<uint32_t>(c.num_key_value_heads));
  b.scalar<float>(a + ".rope.freq_base", gguf_type::float32, static_cast<float>(c.rope_theta));
  b.scalar<float>(a + ".attention.layer_norm_rms_epsilon", gguf_type::float32, static_cast<float>(c.rms_norm_eps));
  add_tokenizer(b, fixture, pre);
  for (auto& [name, p] : named_parameters(model)) {
    std::string g;
    if (name == "model.embed_tokens.weight") g = "token_embd.weight";
    else if (name == "model.norm.weight") g = "output_norm.weight";
    else if (name == "lm_head.weight") g = "output.weight";
    else {
      // model.layers.N.<part>
      const auto rest = name.substr(std::string("model.layers.").size());
      const auto dot = rest.find('.');
      const std::string n = rest.substr(0, dot), part = rest.substr(dot + 1);
      const std::map<std::string, std::string> parts = {
          {"input_layernorm.weight", "attn_norm.weight"}, {"post_attention_layernorm.weight", "ffn_norm.weight"},
          {"self_attn.q_proj.weight", "attn_q.weight"},   {"self_attn.q_proj.bias", "attn_q.bias"},
          {"self_attn.k_proj.weight", "attn_k.weight"},   {"self_attn.k_proj.bias", "attn_k.bias"},
          {"self_attn.v_proj.weight", "attn_v.weight"},   {"self_attn.v_proj.bias", "attn_v.bias"},
          {"self_attn.o_proj.weight", "attn_output.weight"}, {"mlp.gate_proj.weight", "ffn_gate.weight"},
          {"mlp.up_proj.weight", "ffn_up.weight"},        {"mlp.down_proj.weight", "ffn_down.weight"}};
      g = "blk." + n + "." + parts.at(part);
    }
    CHECK(gguf_to_hf_name(g) == name);
    torch::Tensor t = p.detach();
    if (a == "llama" && g.find("attn_q.weight") != std::string::npos) t = llama_cpp_permute(t, c.num_attention_heads);
    if (a == "llama" && g.find("attn_k.weight") != std::string::npos) t = llama_cpp_permute(t, c.num_key_value_heads);
    b.add_f32(g, t);
  }
  return b.build();
}

torch::Tensor logits_of(transformer& model) {
  torch::NoGradGuard no_grad;
  auto ids = torch::tensor({{5, 17, 99, 3, 250, 42, 7, 600}}, torch::kInt64);
  auto positions = torch::arange(ids.size(1), torch::kInt64).unsqueeze(0);
  return model->forward(ids, positions);
}

}  // namespace

TEST_CASE("gguf_model: llama (permuted Q/K, tied) and qwen2 (biases, untied) load to the same logits") {
  auto cases = json::parse(read(kData + "tokenizers/cases.json"));
  const auto texts = cases["texts"].get<std::vector<std::string>>();
  for (auto [type, fixture, pre] : {std::tuple{"llama", "llama3", "llama-bpe"}, std::tuple{"qwen2", "qwen2", "qwen2"}}) {
    INFO(type);
    auto j = json::parse(read(kData + "tokenizers/" + std::string(fixture) + ".tokenizer.json"));
    transformer original(small_config(type, 613));
    original->init_weights(3);
    auto dir = scratch(type);
    const auto path = (dir / "model.gguf").string();
    std::ofstream(path, std::ios::binary) << to_gguf(original, fixture, pre);
    REQUIRE(is_gguf_file(path));
    CHECK_FALSE(is_gguf_file(kData + "tokenizers/cases.json"));

    auto loaded = load_gguf_model(path);
    REQUIRE(loaded.ok());
    CHECK((*loaded)->config().tie_word_embeddings == (std::string(type) == "llama"));
    CHECK((*loaded)->config().attention_bias == (std::string(type) == "qwen2"));
    CHECK((logits_of(original) - logits_of(*loaded)).abs().max().item<float>() < 1e-5f);
    auto through_pretrained = load_pretrained(path);  // model.path = a .gguf goes this way
    REQUIRE(through_pretrained.ok());
    CHECK((logits_of(original) - logits_of(*through_pretrained)).abs().max().item<float>() < 1e-5f);

    // The tokenizer rebuilt from metadata gives the Hugging Face fixture's ids.
    auto tok = load_gguf_tokenizer(path);
    REQUIRE(tok.ok());
    CHECK(tok->bos_id() == 1);
    CHECK(tok->eos_id() == 2);
    for (size_t i = 0; i < texts.size(); ++i) {
      INFO(fixture << " case " << i << ": " << texts[i]);
      CHECK(tok->encode(texts[i]) == cases[fixture][i].get<std::vector<int32_t>>());
    }

    // GGUF -> Hugging Face folder (what `aha convert` does) -> the same model and tokenizer.
    auto out = dir / "hf";
    save_options options;
    options.tokenizer_from = path;
    REQUIRE(save_pretrained(*loaded, out.string(), options).ok());
    auto back = load_pretrained(out.string());
    REQUIRE(back.ok());
    CHECK((logits_of(original) - logits_of(*back)).abs().max().item<float>() < 1e-5f);
    auto folder_tok = bpe_tokenizer::from_folder(out.string());
    REQUIRE(folder_tok.ok());
    for (size_t i = 0; i < texts.size(); ++i) CHECK(folder_tok->encode(texts[i]) == tok->encode(texts[i]));
    auto config = json::parse(read((out / "tokenizer_config.json").string()));
    CHECK(config["eos_token"] == "<|im_end|>");
    CHECK(config["chat_template"].get<std::string>().find("<|im_start|>") != std::string::npos);
    fs::remove_all(dir);
  }
}

TEST_CASE("gguf_model: unsupported or inconsistent files are refused by name") {
  auto dir = scratch("refused");
  transformer original(small_config("llama", 613));
  original->init_weights(1);
  const std::string good = to_gguf(original, "llama3", "llama-bpe");
  auto load_error = [&](const std::string& bytes) {
    const auto path = (dir / "x.gguf").string();
    std::ofstream(path, std::ios::binary) << bytes;
    auto m = load_gguf_model(path);
    REQUIRE_FALSE(m.ok());
    return m.error().message;
  };
  {
    auto bytes = good;
    bytes.replace(bytes.find("llama"), 5, "gemma");  // general.architecture's value
    CHECK(load_error(bytes).find("general.architecture \"gemma\" is not supported") != std::string::npos);
  }
  {
    auto bytes = good;
    bytes.replace(bytes.find("blk.1.ffn_up.weight"), 19, "blk.1.ffn_XX.weight");
    CHECK(load_error(bytes).find("tensor \"blk.1.ffn_XX.weight\" has no place") != std::string::npos);
  }
  {
    // A 4-layer header over 2 layers of tensors: the missing ones are named.
    auto bytes = good;
    const std::string key = "llama.block_count";
    const auto at = bytes.find(key) + key.size() + 4;
    const uint32_t four = 4;
    std::memcpy(&bytes[at], &four, 4);
    CHECK(load_error(bytes).find("no tensor for \"model.layers.2.") != std::string::npos);
  }
  {
    gguf_builder b;
    b.string("tokenizer.ggml.model", "llama");
    const auto bytes = b.build();
    auto f = gguf_file::parse(bytes.data(), bytes.size(), "spm.gguf");
    REQUIRE(f.ok());
    auto t = gguf_tokenizer(*f);
    REQUIRE_FALSE(t.ok());
    CHECK(t.error().message.find("tokenizer.ggml.model \"llama\" is not supported") != std::string::npos);
  }
  fs::remove_all(dir);
}

TEST_CASE("gguf_model: the smollm pre-tokenizer isolates every digit before GPT-2's split") {
  gguf_builder b;
  add_tokenizer(b, "qwen2", "smollm");
  const auto bytes = b.build();
  auto f = gguf_file::parse(bytes.data(), bytes.size(), "smollm.gguf");
  REQUIRE(f.ok());
  auto files = gguf_tokenizer(*f);
  REQUIRE(files.ok());
  auto tok = bpe_tokenizer::from_json(files->tokenizer_json, files->tokenizer_config_json);
  REQUIRE(tok.ok());
  auto id = [&](const char* t) { return *tok->token_id(t); };
  // "a  1": Digits first gives "a  " + "1", so both spaces end a piece and merge to "ĠĠ"; GPT-2's
  // regex alone would give "a", " ", " 1" (no "ĠĠ").
  CHECK(tok->encode("a  1") == std::vector<int32_t>{id("a"), id("ĠĠ"), id("1")});
  CHECK(tok->encode(" 42x") == std::vector<int32_t>{id("Ġ"), id("4"), id("2"), id("x")});
  CHECK(tok->decode(tok->encode("a 1234 b")) == "a 1234 b");
}
