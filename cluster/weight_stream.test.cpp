// Weight streaming's chunks: a full version and a chain of deltas rebuild the sender's tensors
// bit for bit; a delta carries only changed blocks; every corruption (checksum, order, a lost
// chunk, a delta on the wrong base, another model) is refused and leaves no usable version.
#include "cluster/weight_stream.hpp"

#include "model/transformer.hpp"

// LibTorch pulls in glog, whose CHECK would replace Catch2's: include Catch2 last.
#undef CHECK
#include <catch2/catch.hpp>

using namespace aha;
using aha::cluster::stream_options;
using aha::cluster::weight_assembler;
using aha::cluster::weight_chunk;
using aha::cluster::weight_encoder;

namespace {

actors::weights_ptr snapshot_of(model::transformer& policy, std::uint64_t version) {
  auto snap = std::make_shared<actors::weights_snapshot>();
  snap->version = version;
  for (const auto& item : policy->named_parameters(true)) snap->parameters.emplace_back(item.key(), item.value().detach().clone());
  return snap;
}

model::transformer tiny(std::uint64_t seed) {
  model::transformer policy(model::tiny_config(105));
  policy->init_weights(seed);
  return policy;
}

bool same(const actors::weights_snapshot& a, const actors::weights_snapshot& b) {
  if (a.parameters.size() != b.parameters.size()) return false;
  for (std::size_t i = 0; i < a.parameters.size(); ++i) {
    if (a.parameters[i].first != b.parameters[i].first) return false;
    if (!torch::equal(a.parameters[i].second, b.parameters[i].second)) return false;
  }
  return true;
}

std::uint64_t payload_bytes(const std::vector<weight_chunk>& chunks) {
  std::uint64_t n = 0;
  for (const auto& c : chunks) n += c.payload.size();
  return n;
}

status apply_all(weight_assembler& to, const std::vector<weight_chunk>& chunks) {
  for (const auto& c : chunks) {
    if (auto s = to.apply(c); !s) return s;
  }
  return ok_status();
}

}  // namespace

TEST_CASE("weight stream: a full version, then deltas, rebuild the sender's tensors exactly", "[unit]") {
  auto policy = tiny(1);
  stream_options options;
  options.block_bytes = 4096;
  options.chunk_bytes = 64 * 1024;
  weight_encoder encoder(options);
  auto v1 = snapshot_of(policy, 1);
  auto h1 = encoder.hash(*v1);
  auto full = encoder.encode(*v1, h1);
  CHECK(full.size() > 1);  // 0.8M parameters = 3.2 MB in 64 KiB chunks
  std::uint64_t model_bytes = 0;
  for (const auto& [name, t] : v1->parameters) model_bytes += static_cast<std::uint64_t>(t.numel() * t.element_size());
  CHECK(payload_bytes(full) == model_bytes);

  weight_assembler receiver(*v1, options);
  CHECK(receiver.needs_full());
  REQUIRE(apply_all(receiver, full));
  REQUIRE(receiver.version() == 1u);
  CHECK(same(*receiver.snapshot(), *v1));

  // Version 2 changes one tensor's first row only: the delta carries that one block.
  {
    torch::NoGradGuard no_grad;
    policy->named_parameters(true)["model.layers.0.mlp.down_proj.weight"][0].add_(0.5);
  }
  auto v2 = snapshot_of(policy, 2);
  auto h2 = encoder.hash(*v2);
  auto delta = encoder.encode(*v2, h2, &h1, 1);
  REQUIRE(delta.size() == 1);
  CHECK(delta[0].blocks.size() == 1);
  CHECK(payload_bytes(delta) <= options.block_bytes);
  REQUIRE(apply_all(receiver, delta));
  CHECK(receiver.version() == 2u);
  CHECK(same(*receiver.snapshot(), *v2));

  // Version 3 changes everything (a whole optimizer step): the delta is as large as a full one.
  {
    torch::NoGradGuard no_grad;
    for (auto& p : policy->parameters()) p.mul_(1.001);
  }
  auto v3 = snapshot_of(policy, 3);
  auto h3 = encoder.hash(*v3);
  auto all_changed = encoder.encode(*v3, h3, &h2, 2);
  CHECK(payload_bytes(all_changed) == model_bytes);
  REQUIRE(apply_all(receiver, all_changed));
  CHECK(same(*receiver.snapshot(), *v3));

  // Nothing changed: one empty chunk still moves the replica to the new version.
  auto v4 = snapshot_of(policy, 4);
  auto unchanged = encoder.encode(*v4, encoder.hash(*v4), &h3, 3);
  REQUIRE(unchanged.size() == 1);
  CHECK(unchanged[0].payload.empty());
  REQUIRE(apply_all(receiver, unchanged));
  CHECK(receiver.version() == 4u);
}

TEST_CASE("weight stream: corrupt, reordered, lost or misdirected chunks are refused", "[unit]") {
  auto policy = tiny(2);
  stream_options options;
  options.block_bytes = 8192;
  options.chunk_bytes = 256 * 1024;
  weight_encoder encoder(options);
  auto v1 = snapshot_of(policy, 1);
  auto h1 = encoder.hash(*v1);
  auto full = encoder.encode(*v1, h1);
  REQUIRE(full.size() >= 3);

  auto expect_refused = [&](const std::vector<weight_chunk>& chunks, const std::string& words) {
    weight_assembler receiver(*v1, options);
    auto s = apply_all(receiver, chunks);
    REQUIRE_FALSE(s);
    INFO(s.error().message);
    CHECK(s.error().message.find(words) != std::string::npos);
    CHECK(receiver.needs_full());
    CHECK(receiver.snapshot() == nullptr);
  };
  SECTION("a flipped payload byte") {
    auto bad = full;
    bad[1].payload[100] ^= 0x01;
    expect_refused(bad, "checksum mismatch");
  }
  SECTION("a flipped block index, checksum recomputed: still caught by the order check") {
    auto bad = full;
    bad[1].blocks[0] += 1;
    bad[1].checksum = cluster::checksum_of(bad[1]);
    expect_refused(bad, "skipped block");
  }
  SECTION("a lost middle chunk") {
    auto bad = full;
    bad.erase(bad.begin() + 1);
    expect_refused(bad, "out of order");
  }
  SECTION("a version cut short, then a new one") {
    auto bad = std::vector<weight_chunk>(full.begin(), full.begin() + 1);
    auto again = encoder.encode(*v1, h1);
    bad.insert(bad.end(), again.begin(), again.end());
    expect_refused(bad, "cut short");
  }
  SECTION("a delta whose base this replica does not hold") {
    auto v2 = snapshot_of(policy, 2);
    auto delta = encoder.encode(*v2, encoder.hash(*v2), &h1, 1);
    expect_refused(delta, "holds none");
  }
  SECTION("another model's weights") {
    auto other = model::tiny_config(105);
    other.num_hidden_layers = 2;
    model::transformer small(other);
    small->init_weights(3);
    weight_encoder theirs(options);
    auto s = snapshot_of(small, 1);
    expect_refused(theirs.encode(*s, theirs.hash(*s)), "differs from this replica");
  }
}

TEST_CASE("weight stream: after a refused chunk, a full version restores the replica", "[unit]") {
  auto policy = tiny(4);
  weight_encoder encoder;
  auto v1 = snapshot_of(policy, 1);
  auto h1 = encoder.hash(*v1);
  weight_assembler receiver(*v1);
  REQUIRE(apply_all(receiver, encoder.encode(*v1, h1)));
  {
    torch::NoGradGuard no_grad;
    for (auto& p : policy->parameters()) p.add_(0.01);
  }
  auto v2 = snapshot_of(policy, 2);
  auto h2 = encoder.hash(*v2);
  auto delta = encoder.encode(*v2, h2, &h1, 1);
  delta.back().payload.back() ^= 0x10;
  CHECK_FALSE(apply_all(receiver, delta));
  CHECK(receiver.needs_full());
  REQUIRE(apply_all(receiver, encoder.encode(*v2, h2)));
  CHECK(receiver.version() == 2u);
  CHECK(same(*receiver.snapshot(), *v2));
}
