// Tests of safetensors I/O and Hugging Face folders: aha's logits equal transformers' on the
// random Qwen2 (bf16, untied) and Llama (sharded, tied, llama3 rope) fixtures; save/load round
// trip; corrupt or mismatched files give errors naming the tensor.
#include <filesystem>
#include <fstream>
#include <random>
#include <unistd.h>  // getpid (LibTorch 2.x headers no longer bring it)

#include "model/hf_checkpoint.hpp"
#include "model/safetensors.hpp"

// LibTorch pulls in glog, whose CHECK would replace Catch2's: include Catch2 last.
#undef CHECK
#include <catch2/catch.hpp>

// After the LibTorch headers: glog (pulled in by LibTorch) also defines CHECK.

using namespace aha::model;
namespace fs = std::filesystem;

namespace {
const std::string kData = std::string(AHA_SOURCE_DIR) + "/model/testdata/";

fs::path scratch(const std::string& name) {
  auto p = fs::temp_directory_path() / ("aha_model_test_" + std::to_string(::getpid()) + "_" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

// Max |aha - transformers| over the fixture's reference inputs.
float max_logit_error(const std::string& dir) {
  auto model = load_pretrained(dir);
  REQUIRE(model.ok());
  auto ref = safetensors_file::open(dir + "/reference.safetensors");
  REQUIRE(ref.ok());
  auto ids = *ref->load("input_ids", torch::kInt64);  // [B, T]
  auto expected = *ref->load("logits");              // [B, T, V]
  torch::NoGradGuard no_grad;
  auto positions = torch::arange(ids.size(1), torch::kInt64).unsqueeze(0).expand_as(ids);
  auto logits = (*model)->forward(ids, positions);
  REQUIRE(logits.sizes() == expected.sizes());
  return (logits - expected).abs().max().item<float>();
}
}  // namespace

TEST_CASE("hf_checkpoint: logits match transformers (tolerance 1e-4)") {
  CHECK(max_logit_error(kData + "qwen2") < 1e-4f);
  CHECK(max_logit_error(kData + "llama") < 1e-4f);
  auto config = read_model_config(kData + "llama");
  REQUIRE(config.ok());
  CHECK(config->scaling.kind == "llama3");
  CHECK(config->tie_word_embeddings);
}

TEST_CASE("hf_checkpoint: save_pretrained then load_pretrained gives the same model") {
  auto dir = scratch("roundtrip");
  auto model = load_pretrained(kData + "qwen2");
  REQUIRE(model.ok());
  REQUIRE(save_pretrained(*model, dir.string(), {"BF16", kData + "qwen2"}).ok());
  CHECK(fs::exists(dir / "generation_config.json"));  // tokenizer/generation files travel along
  auto again = load_pretrained(dir.string());
  REQUIRE(again.ok());
  for (auto& [name, t] : named_parameters(*again)) {
    INFO(name);
    for (auto& [name2, t2] : named_parameters(*model))
      if (name == name2) CHECK(torch::equal(t, t2));  // bf16 fixture: the bf16 round trip is exact
  }
  fs::remove_all(dir);
}

TEST_CASE("safetensors: corrupt and mismatched files name the problem") {
  auto dir = scratch("corrupt");
  const auto path = (dir / "model.safetensors").string();
  auto write_raw = [&](const std::string& header, size_t data_bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    uint64_t n = header.size();
    out.write(reinterpret_cast<const char*>(&n), 8);
    out << header << std::string(data_bytes, '\0');
  };
  write_raw(R"({"w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 20]}})", 24);
  auto r = safetensors_file::open(path);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("\"w\"") != std::string::npos);
  CHECK(r.error().message.find("expected 24") != std::string::npos);
  write_raw(R"({"w": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}})", 1);
  CHECK(safetensors_file::open(path).error().message.find("unsupported dtype") != std::string::npos);
  write_raw(R"({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}})", 8);
  CHECK(safetensors_file::open(path).error().message.find("outside the data section") != std::string::npos);
  write_raw("not json", 0);
  CHECK_FALSE(safetensors_file::open(path).ok());
  // A well-formed file whose tensor has the wrong shape for the model.
  auto config = read_model_config(kData + "qwen2");
  REQUIRE(config.ok());
  transformer model(*config);
  auto params = named_parameters(model);
  params[0].second = torch::zeros({3, 3});
  REQUIRE(write_safetensors(path, params).ok());
  auto s = load_weights(model, dir.string());
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().message.find("model.embed_tokens.weight") != std::string::npos);
  params.erase(params.begin());
  REQUIRE(write_safetensors(path, params).ok());
  CHECK(load_weights(model, dir.string()).error().message.find("missing tensor \"model.embed_tokens.weight\"") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("safetensors: mutated headers never crash the reader") {
  auto dir = scratch("mutate");
  const auto path = (dir / "m.safetensors").string();
  REQUIRE(write_safetensors(path, {{"a", torch::arange(6, torch::kFloat32).view({2, 3})}, {"b", torch::ones({4})}}).ok());
  std::ifstream in(path, std::ios::binary);
  const std::string original((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::mt19937 rng(3);
  int opened = 0;
  for (int round = 0; round < 300; ++round) {
    std::string bytes = original;
    const size_t header_end = std::min<size_t>(bytes.size(), 8 + 120);
    for (int k = 0; k < 1 + round % 4; ++k) bytes[rng() % header_end] = static_cast<char>(rng());
    if (round % 7 == 0) bytes.resize(rng() % bytes.size());
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
    auto f = safetensors_file::open(path);
    if (!f) continue;
    ++opened;
    for (const auto& e : f->entries()) CHECK(f->load(e.name).ok());  // validated entries always load
  }
  CHECK(opened < 300);
  fs::remove_all(dir);
}
