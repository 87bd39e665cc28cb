// Round trips for every message type, and the decoder's answers to corrupted input.
#include "protocol/codec.hpp"

#include <catch2/catch.hpp>

using namespace aha::protocol;

namespace {

rollout sample_rollout(std::uint64_t prompt_id, std::uint32_t index) {
  rollout r;
  r.prompt_id = prompt_id;
  r.sample_index = index;
  r.prompt_tokens = {1, 2, 3};
  r.completion_tokens = {4, 5, -6};
  r.behaviour_logprobs = {-0.5f, -1.25f, -3.0f};
  r.completion_text = "<think>x</think><answer>42</answer> ✓";
  r.weight_version = 7;
  r.finish = finish_reason::length;
  r.created_unix_us = 1'700'000'000'000'000ULL;
  r.generation_us = 1234;
  r.generator = "generator/0";
  return r;
}

scored_group sample_group() {
  scored_group g;
  g.group_id = 99;
  g.source = prompt{5, "math", "What is 6*7?", {10, 11}, "42", "", "en"};
  for (std::uint32_t i = 0; i < 3; ++i) {
    g.rollouts.push_back(sample_rollout(5, i));
    reward_verdict v;
    v.prompt_id = 5;
    v.sample_index = i;
    v.components = {{reward_kind::accuracy, 1.0f, 1.0f, verdict_status::ok, "42"},
                    {reward_kind::format, 0.0f, 0.5f, verdict_status::timeout, ""}};
    v.total = 1.0f;
    g.verdicts.push_back(v);
    g.rewards.push_back(static_cast<float>(i));
    g.advantages.push_back(static_cast<float>(i) - 1.0f);
  }
  g.min_weight_version = 7;
  return g;
}

template <class T>
T round_trip(const T& message) {
  auto decoded = decode<T>(encode(message));
  INFO((decoded.ok() ? "" : decoded.error().message));
  REQUIRE(decoded.ok());
  CHECK(encode(*decoded) == encode(message));
  return *decoded;
}

}  // namespace

TEST_CASE("codec: every message type round-trips") {
  auto r = round_trip(sample_rollout(1, 2));
  CHECK(r.completion_tokens == std::vector<std::int32_t>{4, 5, -6});
  CHECK(r.behaviour_logprobs[1] == -1.25f);
  CHECK(r.finish == finish_reason::length);

  auto g = round_trip(sample_group());
  CHECK(g.rollouts.size() == 3);
  CHECK(g.verdicts[2].components[1].status == verdict_status::timeout);
  CHECK(g.source.text == "What is 6*7?");

  learner_batch batch{12, 3, {sample_group(), sample_group()}};
  CHECK(round_trip(batch).groups.size() == 2);

  weight_update_header header{4, "stream", {{"model.embed_tokens.weight", tensor_dtype::bf16, {256, 64}, 0, 32768}},
                              32768, 0, 0xdeadbeef};
  CHECK(round_trip(header).tensors[0].shape == std::vector<std::int64_t>{256, 64});

  node_registration node{"host-a:1", "10.0.0.2", 4242, {"generator", "code_runner"}, 16, 1, 1ULL << 37, "proof"};
  CHECK(round_trip(node).actors.size() == 2);

  sandbox_request request;
  request.source = "print(1)";
  request.args = {"-x"};
  CHECK(round_trip(request).source == "print(1)");
  sandbox_reply reply;
  reply.status = run_status::time_limit;
  reply.stdout_data = std::string("\0binary\xff", 8);
  CHECK(round_trip(reply).stdout_data.size() == 8);
  CHECK(round_trip(prompt{1, "code", "write f", {}, "", "[]", "en"}).tests == "[]");
}

TEST_CASE("codec: token arrays travel as blobs, not integer arrays") {
  rollout r = sample_rollout(1, 0);
  r.completion_tokens.assign(100000, 123456);
  r.behaviour_logprobs.assign(100000, -1.0f);
  // 4 bytes per token and per log-prob plus small overhead: a varint array would not be this tight.
  CHECK(encode(r).size() < 100000 * 8 + 512);
}

TEST_CASE("codec: peek reads the header without the body") {
  auto header = peek(encode(sample_group()));
  REQUIRE(header.ok());
  CHECK(header->type == type_id::scored_group);
  CHECK(header->version == scored_group::kVersion);
}

TEST_CASE("codec: wrong type, version and magic are named") {
  std::string bytes = encode(sample_rollout(1, 0));
  auto wrong_type = decode<scored_group>(bytes);
  REQUIRE_FALSE(wrong_type.ok());
  CHECK_THAT(wrong_type.error().message, Catch::Contains("expected a scored_group frame") && Catch::Contains("rollout"));

  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> out(buffer);
  out.pack_array(4);
  out.pack(kMagic);
  out.pack(static_cast<std::uint16_t>(type_id::rollout));
  out.pack(static_cast<std::uint16_t>(rollout::kVersion + 1));
  out.pack_array(0);
  auto newer = decode<rollout>(buffer.data(), buffer.size());
  REQUIRE_FALSE(newer.ok());
  CHECK(newer.error().code == aha::errc::version_mismatch);

  std::string bad_magic = bytes;
  bad_magic[2] ^= 0x55;  // inside the magic's uint32
  auto magic = decode<rollout>(bad_magic);
  REQUIRE_FALSE(magic.ok());
  CHECK(magic.error().code == aha::errc::corrupt_data);
}

TEST_CASE("codec: every truncation of a valid frame is an error, never a crash") {
  std::string bytes = encode(sample_group());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    auto decoded = decode<scored_group>(bytes.data(), n);
    REQUIRE_FALSE(decoded.ok());
  }
  auto trailing = decode<scored_group>(bytes + "x");
  REQUIRE_FALSE(trailing.ok());
  CHECK_THAT(trailing.error().message, Catch::Contains("trailing"));
}

TEST_CASE("codec: single-byte corruptions never crash and never decode to inconsistent groups") {
  std::string bytes = encode(sample_group());
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    for (int flip : {0x01, 0x80, 0xff}) {
      std::string corrupted = bytes;
      corrupted[i] = static_cast<char>(corrupted[i] ^ flip);
      auto decoded = decode<scored_group>(corrupted);
      if (decoded.ok()) CHECK(check(*decoded).empty());
    }
  }
}

TEST_CASE("codec: inconsistent lengths, bad enums and oversize frames are rejected with the field path") {
  rollout r = sample_rollout(1, 0);
  r.behaviour_logprobs.pop_back();
  auto lengths = decode<rollout>(encode(r));
  REQUIRE_FALSE(lengths.ok());
  CHECK_THAT(lengths.error().message, Catch::Contains("3 completion tokens but 2 behaviour log-probs"));

  scored_group g = sample_group();
  g.advantages.pop_back();
  auto group = decode<scored_group>(encode(g));
  REQUIRE_FALSE(group.ok());
  CHECK_THAT(group.error().message, Catch::Contains("2 advantages"));

  rollout enum_value = sample_rollout(1, 0);
  enum_value.finish = static_cast<finish_reason>(200);
  auto bad_enum = decode<rollout>(encode(enum_value));
  REQUIRE_FALSE(bad_enum.ok());
  CHECK_THAT(bad_enum.error().message, Catch::Contains("rollout.finish") && Catch::Contains("out of range"));

  decode_limits small;
  small.max_frame_bytes = 64;
  auto oversize = decode<scored_group>(encode(sample_group()), small);
  REQUIRE_FALSE(oversize.ok());
  CHECK(oversize.error().code == aha::errc::resource_limit);

  // A header claiming a 4 GiB blob with 10 bytes behind it must not allocate 4 GiB.
  std::string claim = "\x94\xce\x41\x48\x41\x31\x02\x01\x9b\x01\x00\xc6\xff\xff\xff\xff" + std::string(10, 'x');
  CHECK_FALSE(decode<rollout>(claim).ok());
  // A body whose blob holds half an int32.
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> out(buffer);
  out.pack_array(4);
  out.pack(kMagic);
  out.pack(static_cast<std::uint16_t>(type_id::prompt));
  out.pack(prompt::kVersion);
  out.pack_array(7);
  out.pack(1u);
  out.pack(std::string("math"));
  out.pack(std::string("q"));
  out.pack_bin(2);
  out.pack_bin_body("ab", 2);
  out.pack(std::string("g"));
  out.pack(std::string(""));
  out.pack(std::string("en"));
  auto half = decode<prompt>(buffer.data(), buffer.size());
  REQUIRE_FALSE(half.ok());
  CHECK_THAT(half.error().message, Catch::Contains("prompt.tokens") && Catch::Contains("not a whole number"));
}
