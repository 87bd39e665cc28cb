// Tests of the byte-level BPE tokenizer against ids recorded from Hugging Face `tokenizers`
// (model/testdata/tokenizers, made by scripts/make_model_fixtures.py): exact id equality for
// three pre-tokenizer styles on multilingual text, emoji, whitespace runs and special tokens.
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>

#include "model/bpe_tokenizer.hpp"

// LibTorch pulls in glog, whose CHECK would replace Catch2's: include Catch2 last.
#undef CHECK
#include <catch2/catch.hpp>

// After the LibTorch headers: glog (pulled in by LibTorch) also defines CHECK.

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

TEST_CASE("bpe_tokenizer: random UTF-8 text round-trips and uses known ids") {
  auto tok = bpe_tokenizer::from_json(read(kDir + "gpt2.tokenizer.json"));
  REQUIRE(tok.ok());
  auto llama = bpe_tokenizer::from_json(read(kDir + "llama3.tokenizer.json"));
  REQUIRE(llama.ok());
  std::mt19937 rng(9);
  const std::vector<std::pair<uint32_t, uint32_t>> ranges = {{0x20, 0x7E}, {0x9, 0xD}, {0xA0, 0x24F}, {0x400, 0x4FF},
                                                            {0x4E00, 0x4FFF}, {0x3040, 0x30FF}, {0x1F300, 0x1F64F}};
  for (int round = 0; round < 200; ++round) {
    std::string s;
    for (int i = 0, n = static_cast<int>(rng() % 40); i < n; ++i) {
      const auto& r = ranges[rng() % ranges.size()];
      const uint32_t cp = r.first + rng() % (r.second - r.first + 1);
      if (cp < 0x80) s += static_cast<char>(cp);
      else if (cp < 0x800) s += {static_cast<char>(0xC0 | (cp >> 6)), static_cast<char>(0x80 | (cp & 0x3F))};
      else if (cp < 0x10000) s += {static_cast<char>(0xE0 | (cp >> 12)), static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), static_cast<char>(0x80 | (cp & 0x3F))};
      else s += {static_cast<char>(0xF0 | (cp >> 18)), static_cast<char>(0x80 | ((cp >> 12) & 0x3F)),
                 static_cast<char>(0x80 | ((cp >> 6) & 0x3F)), static_cast<char>(0x80 | (cp & 0x3F))};
    }
    INFO("round " << round);
    CHECK(llama->decode(llama->encode(s)) == s);
    auto ids = tok->encode(s);
    for (auto id : ids) CHECK((id >= 0 && id < tok->vocab_size()));
    CHECK(tok->decode(ids) == (s.empty() || s[0] == ' ' ? s : " " + s));  // GPT-2 style adds a prefix space
  }
}
