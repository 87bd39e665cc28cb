// Tests of the character tokenizer: round trip, special tags as single tokens, <unk>.
#include "model/char_tokenizer.hpp"

// LibTorch pulls in glog, whose CHECK would replace Catch2's: include Catch2 last.
#undef CHECK
#include <catch2/catch.hpp>

// After the LibTorch headers: glog (pulled in by LibTorch) also defines CHECK.

using aha::model::char_tokenizer;

TEST_CASE("char_tokenizer: decode(encode(s)) == s for ASCII text with tags") {
  char_tokenizer tok;
  const std::string s = "<think>12 + 30 = 42\n\tok</think> <answer>42</answer><eos>";
  auto ids = tok.encode(s);
  CHECK(tok.decode(ids) == s);
  CHECK(ids.front() == *tok.token_id("<think>"));
  CHECK(ids.back() == tok.eos_id());
  CHECK(tok.encode("<thin").size() == 5);  // not a tag: plain characters
}

TEST_CASE("char_tokenizer: non-ASCII code points become one <unk> each") {
  char_tokenizer tok;
  auto ids = tok.encode("a\xC3\xA9" "b\xF0\x9F\x98\x80");  // a é b 😀
  REQUIRE(ids.size() == 4);
  CHECK(ids[1] == tok.unk_id());
  CHECK(ids[3] == tok.unk_id());
  CHECK(tok.vocab_size() == 105);
}
