// Tests that protocol messages cross CAF as one protocol::encode blob and survive a round trip,
// and that aha errors keep their code and message inside caf::error.
#include <catch2/catch.hpp>

#include "actors/interfaces.hpp"

using namespace aha;

namespace {

protocol::scored_group sample_group() {
  protocol::scored_group g;
  g.group_id = 42;
  g.source.id = 7;
  g.source.task = "math";
  g.source.text = "2+3=";
  g.source.gold = "5";
  for (std::uint32_t i = 0; i < 2; ++i) {
    protocol::rollout r;
    r.prompt_id = 7;
    r.sample_index = i;
    r.completion_tokens = {1, 2, 3};
    r.behaviour_logprobs = {-0.5f, -0.25f, -1.0f};
    r.completion_text = "<answer>5</answer>";
    r.weight_version = 3;
    g.rollouts.push_back(r);
    protocol::reward_verdict v;
    v.prompt_id = 7;
    v.sample_index = i;
    g.verdicts.push_back(v);
  }
  g.rewards = {1.0f, 0.0f};
  g.advantages = {1.0f, -1.0f};
  g.min_weight_version = 3;
  return g;
}

}  // namespace

TEST_CASE("caf serialisation of a scored_group is the protocol blob and round-trips") {
  caf::actor_system_config cfg;
  actors::add_message_types(cfg);
  caf::actor_system sys{cfg};
  auto group = sample_group();
  std::vector<char> buffer;
  caf::binary_serializer sink{sys, buffer};
  REQUIRE(!sink(group));
  auto blob = protocol::encode(group);
  // The CAF bytes are a length prefix followed by exactly the codec's bytes.
  REQUIRE(buffer.size() >= blob.size());
  CHECK(std::string(buffer.end() - blob.size(), buffer.end()) == blob);
  protocol::scored_group back;
  caf::binary_deserializer source{sys, buffer};
  REQUIRE(!source(back));
  CHECK(protocol::encode(back) == blob);
  CHECK(back.rollouts.at(1).behaviour_logprobs.at(2) == -1.0f);
}

TEST_CASE("a corrupt blob fails to load with the codec's reason") {
  caf::actor_system_config cfg;
  actors::add_message_types(cfg);
  caf::actor_system sys{cfg};
  std::vector<char> buffer;
  caf::binary_serializer sink{sys, buffer};
  std::string garbage = "not msgpack";
  REQUIRE(!sink(garbage));
  protocol::prompt p;
  caf::binary_deserializer source{sys, buffer};
  auto failure = source(p);
  REQUIRE(failure);
  CHECK(failure.category() == actors::kErrorCategory);
  CHECK(actors::errc_of(failure) == errc::corrupt_data);
}

TEST_CASE("aha errors keep code and message in caf::error") {
  auto failure = actors::to_caf_error(errc::timeout, "reward math missed 200ms");
  CHECK(failure.category() == actors::kErrorCategory);
  CHECK(actors::errc_of(failure) == errc::timeout);
  CHECK(actors::describe(failure).find("reward math missed 200ms") != std::string::npos);
  CHECK(actors::describe(caf::error{}) == "no error");
}

TEST_CASE("every errc survives as a real caf::error (code 0 would mean no error)") {
  for (auto code : {errc::invalid_argument, errc::corrupt_data, errc::internal}) {
    auto failure = actors::to_caf_error(code, "x");
    CHECK(static_cast<bool>(failure));
    CHECK(actors::errc_of(failure) == code);
  }
}
