// Tests of the byte-level BPE tokenizer against ids recorded from Hugging Face `tokenizers`
// (model/testdata/tokenizers, made by scripts/make_model_fixtures.py): exact id equality for
// three pre-tokenizer styles on multilingual text, emoji, whitespace runs and special tokens.
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "model/bpe_tokenizer.hpp"

// After the LibTorch headers: glog (pulled in by LibTorch) also defines CHECK.
#include <catch2/catch.hpp>

using aha::model::bpe_tokenizer;

namespace {
std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}
const std::string kDir = std::string(AHA_SOURCE_DIR) + "/model/testdata/tokenizers/";
}  // namespace

TEST_CASE("bpe_tokenizer: ids match Hugging Face tokenizers exactly") {
  auto cases = nlohmann::json::parse(read(kDir + "cases.json"));
  const auto texts = cases["texts"].get<std::vector<std::string>>();
  for (std::string style : {"qwen2", "llama3", "gpt2"}) {
    auto tok = bpe_tokenizer::from_json(read(kDir + style + ".tokenizer.json"));
    REQUIRE(tok.ok());
    for (size_t i = 0; i < texts.size(); ++i) {
      INFO(style << " case " << i << ": " << texts[i]);
      CHECK(tok->encode(texts[i]) == cases[style][i].get<std::vector<int32_t>>());
    }
  }
}

TEST_CASE("bpe_tokenizer: decode(encode(s)) == s") {
  auto tok = bpe_tokenizer::from_json(read(kDir + "llama3.tokenizer.json"));  // no normaliser: exact round trip
  REQUIRE(tok.ok());
  for (std::string s : {"Hello world", "  a\tb\n\nc  ", "你好，世界 😀👨‍👩‍👧", "<think>x</think><|endoftext|>", "\xC3\xA9\x65\xCC\x81", ""})
    CHECK(tok->decode(tok->encode(s)) == s);
  CHECK(tok->token_id("<think>").has_value());
  CHECK(tok->eos_id() == *tok->token_id("<|endoftext|>"));
}

TEST_CASE("bpe_tokenizer: unsupported or corrupt tokenizer.json is an error") {
  CHECK_FALSE(bpe_tokenizer::from_json("{").ok());
  CHECK_FALSE(bpe_tokenizer::from_json(R"({"model": {"type": "Unigram", "vocab": {}}})").ok());
  auto r = bpe_tokenizer::from_json(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "normalizer": {"type": "NFKD"}})");
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message.find("NFKD") != std::string::npos);
}
