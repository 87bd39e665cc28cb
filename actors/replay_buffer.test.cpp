// Deterministic protocol tests of the replay_buffer actor (CAF test coordinator): group commit,
// the staleness gate, waiting fetches, leases and idempotent retries, consumption, reopen.
#include <catch2/catch.hpp>

#include <filesystem>
#include <unistd.h>

#include "actors/actor_test_support.hpp"
#include "actors/replay_buffer.hpp"

using namespace aha;
using namespace aha::actors;
using aha::actors::testing::ask;

namespace {

std::string fresh_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("aha_replay_buffer_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

protocol::scored_group group_of_version(std::uint64_t version) {
  protocol::scored_group g;
  g.source.id = 1000 + version;
  protocol::rollout r;
  r.prompt_id = g.source.id;
  r.weight_version = version;
  g.rollouts = {r};
  protocol::reward_verdict v;
  v.prompt_id = g.source.id;
  g.verdicts = {v};
  g.rewards = {0.5f};
  g.advantages = {0.0f};
  g.min_weight_version = version;
  return g;
}

struct replay_fixture : testing::deterministic_system {
  std::string dir;
  bool remove_dir = true;
  replay_buffer_actor buffer;
  explicit replay_fixture(const std::string& name, bool keep_dir = false) {
    if (keep_dir) {
      dir = (std::filesystem::temp_directory_path() / ("aha_replay_buffer_" + name + "_" + std::to_string(::getpid()))).string();
      return;
    }
    dir = fresh_dir(name);
    start();
  }
  void start() {
    replay_buffer_config config;
    config.dir = dir;
    config.sync = false;  // the store's own tests cover synced durability
    auto spawned = spawn_replay_buffer(*sys, config, threading::scheduled);
    REQUIRE(spawned.ok());
    buffer = *spawned;
    run();
  }
  std::uint64_t put(std::uint64_t version) {
    auto id = ask<std::uint64_t>(*sys, buffer, caf::put_atom::value, group_of_version(version));
    run();
    REQUIRE(id->value);
    return *id->value;
  }
  std::shared_ptr<testing::reply<protocol::learner_batch>> fetch(fetch_request request) {
    auto out = ask<protocol::learner_batch>(*sys, buffer, fetch_atom::value, request);
    run();
    return out;
  }
  replay_stats stats() {
    auto out = ask<replay_stats>(*sys, buffer, stats_atom::value);
    run();
    return *out->value;
  }
  ~replay_fixture() {
    caf::anon_send_exit(buffer, caf::exit_reason::user_shutdown);
    run();
    buffer = nullptr;
    if (remove_dir) std::filesystem::remove_all(dir);
  }
};

std::vector<std::uint64_t> versions_of(const protocol::learner_batch& batch) {
  std::vector<std::uint64_t> out;
  for (const auto& g : batch.groups) out.push_back(g.min_weight_version);
  return out;
}

}  // namespace

TEST_CASE("replay buffer: puts queued together share one commit and are acknowledged in order") {
  replay_fixture f("commit");
  auto a = ask<std::uint64_t>(*f.sys, f.buffer, caf::put_atom::value, group_of_version(0));
  auto b = ask<std::uint64_t>(*f.sys, f.buffer, caf::put_atom::value, group_of_version(0));
  auto c = ask<std::uint64_t>(*f.sys, f.buffer, caf::put_atom::value, group_of_version(0));
  f.run();
  REQUIRE(a->value);
  REQUIRE(b->value);
  REQUIRE(c->value);
  CHECK(*a->value == 1);
  CHECK(*b->value == 2);
  CHECK(*c->value == 3);
  auto s = f.stats();
  CHECK(s.puts == 3);
  CHECK(s.commits == 1);
  CHECK(s.ready_groups == 3);
}

TEST_CASE("replay buffer: the staleness gate serves only groups within eta and counts the rest") {
  replay_fixture f("stale");
  for (std::uint64_t v : {0, 1, 2, 3}) f.put(v);
  auto batch = f.fetch({1, 3, 4, 1, 0});
  REQUIRE(batch->value);
  CHECK(versions_of(*batch->value) == std::vector<std::uint64_t>{2, 3});
  CHECK(batch->value->step == 1);
  auto s = f.stats();
  CHECK(s.dropped_stale == 2);
  CHECK(s.stale_groups == 2);
  CHECK(s.leased_groups == 2);
  CHECK(s.short_fetches == 1);
}

TEST_CASE("replay buffer: a group dropped as stale is not served again after a restart") {
  std::uint64_t stale_id = 0;
  std::string dir;
  {
    replay_fixture f("dropped_restart");
    f.remove_dir = false;
    dir = f.dir;
    stale_id = f.put(0);
    f.put(3);
    auto batch = f.fetch({1, 3, 1, 1, 0});  // version 0 is too old at version 3 with eta 1
    REQUIRE(batch->value);
    CHECK(versions_of(*batch->value) == std::vector<std::uint64_t>{3});
    CHECK(f.stats().dropped_stale == 1);
  }
  replay_fixture again("dropped_restart", true);
  again.dir = dir;
  again.start();
  auto s = again.stats();
  CHECK(s.stale_groups == 1);  // still known as dropped, evictable
  CHECK(s.ready_groups == 1);  // the leased version-3 group comes back; the dropped one does not
  auto batch = again.fetch({1, 0, 2, 1000, 0});  // any staleness allowed: still never served
  REQUIRE(batch->value);
  REQUIRE(batch->value->groups.size() == 1);
  CHECK(batch->value->groups[0].group_id != stale_id);
}

TEST_CASE("replay buffer: a group stored after newer ones is served first, before it ages out") {
  // Grading finishes out of order: the version-1 group arrives after two version-2 groups.
  replay_fixture f("oldest_version");
  f.put(2);
  f.put(2);
  f.put(1);
  auto batch = f.fetch({1, 2, 2, 1, 0});
  REQUIRE(batch->value);
  CHECK(versions_of(*batch->value) == std::vector<std::uint64_t>{1, 2});
  CHECK(f.stats().dropped_stale == 0);
}

TEST_CASE("replay buffer: a full batch waits for the groups that age out after the step, and is answered empty without them") {
  // eta = 1, learner at version 2: version-1 groups train for the last time now. The gate says one
  // is still being graded; two version-2 groups are ready.
  replay_fixture f("expiring");
  f.put(2);
  f.put(2);
  auto waiting = f.fetch({1, 2, 2, 1, 100, 1});
  CHECK(!waiting->answered());  // full, but training it would let the late group age out
  f.put(1);                     // it arrives
  REQUIRE(waiting->value);
  CHECK(versions_of(*waiting->value) == std::vector<std::uint64_t>{1, 2});

  CHECK(f.stats().dropped_stale == 0);
}

TEST_CASE("replay buffer: at its deadline a full batch without an ageing group it waits for is answered empty") {
  replay_fixture f("expiring_deadline");
  f.put(2);
  f.put(2);
  auto empty = f.fetch({1, 2, 2, 1, 100, 1});  // a version-1 group is still in flight
  CHECK(!empty->answered());
  f.fire_timeouts();
  REQUIRE(empty->value);
  CHECK(empty->value->groups.empty());  // nothing leased: the learner asks the gate again
  // Told to wait for none (the learner's patience ran out), the same fetch is served.
  auto served = f.fetch({1, 2, 2, 1, 0, 0});
  REQUIRE(served->value);
  CHECK(versions_of(*served->value) == std::vector<std::uint64_t>{2, 2});
  f.put(1);  // the late group, too old once the learner is at version 3
  auto next = f.fetch({2, 3, 2, 1, 0, 0});
  REQUIRE(next->value);
  CHECK(f.stats().dropped_stale == 1);
}

TEST_CASE("replay buffer: a fetch waits for a full batch, or replies short at its deadline") {
  replay_fixture f("wait");
  f.put(0);
  auto waiting = f.fetch({1, 0, 2, 0, 100});
  CHECK(!waiting->answered());
  f.put(0);  // the second group completes the batch
  REQUIRE(waiting->value);
  CHECK(waiting->value->groups.size() == 2);

  auto short_one = f.fetch({2, 0, 2, 0, 100});
  CHECK(!short_one->answered());
  f.fire_timeouts();
  REQUIRE(short_one->value);
  CHECK(short_one->value->groups.empty());
}

TEST_CASE("replay buffer: leases make retries idempotent and consumption is final") {
  replay_fixture f("lease");
  for (int i = 0; i < 4; ++i) f.put(0);
  auto first = f.fetch({1, 0, 2, 0, 0});
  REQUIRE(first->value);
  auto retry = f.fetch({1, 0, 2, 0, 0});  // same step again: the same groups
  REQUIRE(retry->value);
  CHECK(retry->value->groups.at(0).group_id == first->value->groups.at(0).group_id);
  CHECK(retry->value->groups.at(1).group_id == 2);
  auto done = ask<caf::ok_atom>(*f.sys, f.buffer, consume_atom::value, std::uint64_t{1}, std::vector<std::uint64_t>{1, 2});
  f.run();
  CHECK(done->value);
  auto again = ask<caf::ok_atom>(*f.sys, f.buffer, consume_atom::value, std::uint64_t{2}, std::vector<std::uint64_t>{1});
  f.run();
  REQUIRE(again->error);
  auto next = f.fetch({2, 0, 2, 0, 0});
  REQUIRE(next->value);
  CHECK(next->value->groups.at(0).group_id == 3);
  auto s = f.stats();
  CHECK(s.consumed_groups == 2);
  CHECK(s.last_learner_step == 1);
}

TEST_CASE("replay buffer: after a restart unconsumed groups (leased ones too) are served again") {
  std::string dir;
  {
    replay_fixture f("reopen");
    dir = f.dir;
    f.remove_dir = false;
    for (int i = 0; i < 3; ++i) f.put(0);
    auto batch = f.fetch({1, 0, 2, 0, 0});
    REQUIRE(batch->value);
    auto done = ask<caf::ok_atom>(*f.sys, f.buffer, consume_atom::value, std::uint64_t{1}, std::vector<std::uint64_t>{1});
    f.run();
    REQUIRE(done->value);
  }
  replay_fixture g("reopen", true);
  g.start();
  auto batch = g.fetch({2, 0, 5, 0, 0});
  REQUIRE(batch->value);
  REQUIRE(batch->value->groups.size() == 2);
  CHECK(batch->value->groups.at(0).group_id == 2);
  CHECK(batch->value->groups.at(1).group_id == 3);
}

TEST_CASE("replay buffer: the size bound evicts consumed groups, then stale ones, never fresh ones") {
  replay_fixture f("evict", true);
  f.dir = fresh_dir("evict");
  replay_buffer_config config;
  config.dir = f.dir;
  config.sync = false;
  config.max_groups = 3;
  f.buffer = *spawn_replay_buffer(*f.sys, config, threading::scheduled);
  f.run();
  for (std::uint64_t v : {0, 0, 5, 5}) f.put(v);  // 4 > 3: nothing evictable yet (soft bound)
  CHECK(f.stats().stored_groups == 4);
  auto batch = f.fetch({1, 5, 1, 0, 0});          // groups 1, 2 (version 0) become stale
  REQUIRE(batch->value);
  CHECK(batch->value->groups.at(0).group_id == 3);
  auto done = ask<caf::ok_atom>(*f.sys, f.buffer, consume_atom::value, std::uint64_t{1}, std::vector<std::uint64_t>{3});
  f.run();
  REQUIRE(done->value);
  auto s = f.stats();
  CHECK(s.evicted == 1);                           // the consumed group went first
  CHECK(s.stored_groups == 3);
  f.put(6);
  s = f.stats();
  CHECK(s.evicted == 2);                           // then the oldest stale group
  CHECK(s.stale_groups == 1);
  CHECK(s.ready_groups == 2);                      // 4 and the new 5: fresh groups stay
}
