// Tests of replay_store: round trip, atomic consumption, size bound, reopen, and crashes of a
// forked writer (kill -9 mid-stream, and a fault point just before the commit) losing nothing
// that was acknowledged.
#include <catch2/catch.hpp>

#include <csignal>
#include <filesystem>
#include <sys/wait.h>
#include <unistd.h>

#include "actors/replay_store.hpp"
#include "core/fault_point.hpp"
#include "core/test_skip.hpp"

using namespace aha;
using namespace aha::actors;

namespace {

std::string fresh_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("aha_replay_store_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

protocol::scored_group make_group(std::uint64_t version, std::size_t tokens = 16) {
  protocol::scored_group g;
  g.source.id = version * 100;
  g.source.task = "math";
  g.source.text = "1+1=";
  protocol::rollout r;
  r.prompt_id = g.source.id;
  r.completion_tokens.assign(tokens, 7);
  r.behaviour_logprobs.assign(tokens, -0.5f);
  r.weight_version = version;
  g.rollouts = {r};
  protocol::reward_verdict v;
  v.prompt_id = g.source.id;
  g.verdicts = {v};
  g.rewards = {1.0f};
  g.advantages = {0.0f};
  g.min_weight_version = version;
  return g;
}

std::unique_ptr<replay_store> open_store(const std::string& dir, std::uint64_t max_groups = 0) {
  auto store = replay_store::open({dir, true, 0, max_groups});
  REQUIRE(store.ok());
  return std::move(*store);
}

}  // namespace

TEST_CASE("replay store: append assigns ordered ids and groups round-trip") {
  auto dir = fresh_dir("roundtrip");
  auto store = open_store(dir);
  std::vector<protocol::scored_group> groups = {make_group(1), make_group(2)};
  auto ids = store->append(groups);
  REQUIRE(ids.ok());
  REQUIRE(*ids == std::vector<std::uint64_t>{1, 2});
  auto back = store->get(2);
  REQUIRE(back.ok());
  CHECK(back->group_id == 2);
  CHECK(back->min_weight_version == 2);
  CHECK(back->rollouts.at(0).completion_tokens.size() == 16);
  CHECK(store->entries().at(1).weight_version == 1);
  CHECK(!store->get(3).ok());
  CHECK(replay_key(1) < replay_key(256));
  std::filesystem::remove_all(dir);
}

TEST_CASE("replay store: consumption is all-or-nothing and survives reopen with the step") {
  auto dir = fresh_dir("consume");
  {
    auto store = open_store(dir);
    std::vector<protocol::scored_group> groups = {make_group(1), make_group(1), make_group(1)};
    REQUIRE(store->append(groups).ok());
    CHECK(!store->consume(5, {1, 99}).ok());  // unknown id: nothing written
    CHECK(!store->entries().at(1).consumed);
    REQUIRE(store->consume(5, {1, 2}).ok());
    CHECK(!store->consume(6, {2}).ok());      // already consumed
  }
  auto store = open_store(dir);
  CHECK(store->learner_step() == 5);
  CHECK(store->entries().at(1).consumed);
  CHECK(store->entries().at(2).consumed_step == 5);
  CHECK(!store->entries().at(3).consumed);
  std::vector<protocol::scored_group> more = {make_group(2)};
  auto ids = store->append(more);
  REQUIRE(ids.ok());
  CHECK(ids->at(0) == 4);  // ids continue after reopen
  std::filesystem::remove_all(dir);
}

TEST_CASE("replay store: a resume re-bases unconsumed groups newer than the checkpoint, durably") {
  auto dir = fresh_dir("rebase");
  {
    auto store = open_store(dir);
    std::vector<protocol::scored_group> groups = {make_group(1), make_group(3), make_group(5), make_group(6)};
    REQUIRE(store->append(groups).ok());
    REQUIRE(store->consume(0, {4}).ok());  // consumed: left as it is
    auto rebased = store->rebase_newer_than(3);
    REQUIRE(rebased.ok());
    CHECK(*rebased == 1);  // only group 3 (version 5): group 2 is not newer, group 4 is consumed
    CHECK(store->get(3)->rollouts[0].weight_version == 5);  // the rollouts keep the version that made them
  }
  auto store = open_store(dir);
  CHECK(store->entries().at(1).weight_version == 1);
  CHECK(store->entries().at(2).weight_version == 3);
  CHECK(store->entries().at(3).weight_version == 3);
  CHECK(store->entries().at(4).weight_version == 6);
  std::filesystem::remove_all(dir);
}

TEST_CASE("replay store: a drop survives reopen, and a dropped group is never consumed, rewound or re-based") {
  auto dir = fresh_dir("dropped");
  {
    auto store = open_store(dir);
    std::vector<protocol::scored_group> groups = {make_group(1), make_group(7), make_group(2)};
    REQUIRE(store->append(groups).ok());
    REQUIRE(store->consume(0, {3}).ok());
    CHECK(!store->mark_dropped({3}).ok());   // consumed: not droppable
    CHECK(!store->mark_dropped({99}).ok());  // unknown
    REQUIRE(store->mark_dropped({1, 2}).ok());
  }
  auto store = open_store(dir);
  CHECK(store->entries().at(1).dropped);
  CHECK(store->entries().at(2).dropped);
  CHECK_FALSE(store->entries().at(1).consumed);
  CHECK_FALSE(store->entries().at(3).dropped);
  CHECK(!store->consume(1, {1}).ok());  // a dropped group's prompt has a newer group: never trained
  auto rebased = store->rebase_newer_than(0);
  REQUIRE(rebased.ok());
  CHECK(*rebased == 0);  // group 2 (version 7) is dropped; group 3 is consumed
  auto rewound = store->rewind(0);
  REQUIRE(rewound.ok());
  CHECK(*rewound == 1);  // only the consumed group 3
  CHECK(store->entries().at(1).dropped);
  std::filesystem::remove_all(dir);
}

TEST_CASE("replay store: the size bound evicts consumed first, then stale, never fresh") {
  auto dir = fresh_dir("bound");
  auto store = open_store(dir, 3);
  std::vector<protocol::scored_group> groups;
  for (int i = 0; i < 5; ++i) groups.push_back(make_group(1));
  REQUIRE(store->append(groups).ok());
  REQUIRE(store->consume(1, {4}).ok());
  CHECK(store->over_bound());
  auto evicted = store->evict({2});
  REQUIRE(evicted.ok());
  CHECK(*evicted == std::vector<std::uint64_t>{4, 2});
  CHECK(store->entries().size() == 3);
  CHECK(!store->over_bound());
  std::vector<protocol::scored_group> one = {make_group(1)};
  REQUIRE(store->append(one).ok());
  auto none = store->evict({});  // only fresh groups left: the bound is soft
  REQUIRE(none.ok());
  CHECK(none->empty());
  CHECK(store->entries().size() == 4);
  std::filesystem::remove_all(dir);
}

TEST_CASE("replay store: a writer killed with SIGKILL loses no acknowledged group") {
  auto dir = fresh_dir("kill9");
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(fds[0]);
    auto store = replay_store::open({dir, true, 0, 0});
    if (!store) ::_exit(3);
    for (;;) {
      std::vector<protocol::scored_group> batch(8, make_group(1, 256));
      auto ids = (*store)->append(batch);
      if (!ids) ::_exit(4);
      for (auto id : *ids) (void)!::write(fds[1], &id, sizeof id);
    }
  }
  ::close(fds[1]);
  std::vector<std::uint64_t> acked;
  std::uint64_t id = 0;
  while (acked.size() < 200 && ::read(fds[0], &id, sizeof id) == sizeof id) acked.push_back(id);
  ::kill(child, SIGKILL);
  while (::read(fds[0], &id, sizeof id) == sizeof id) acked.push_back(id);  // acks written before death
  ::close(fds[0]);
  int wstatus = 0;
  ::waitpid(child, &wstatus, 0);
  REQUIRE(WIFSIGNALED(wstatus));
  REQUIRE(acked.size() >= 200);
  auto store = open_store(dir);
  for (auto acked_id : acked) {
    REQUIRE(store->entries().count(acked_id) == 1);
    REQUIRE(store->get(acked_id).ok());
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("replay store: a crash at replay.before_commit keeps earlier batches, drops the unacknowledged one") {
  if (!fault::kCompiledIn) AHA_SKIP("fault points are compiled out (AHA_FAULT_POINTS=OFF)");
  auto dir = fresh_dir("fault");
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    fault::arm("replay.before_commit", [] { ::_exit(42); }, 3);  // the 4th commit dies
    auto store = replay_store::open({dir, true, 0, 0});
    if (!store) ::_exit(3);
    for (int i = 0; i < 10; ++i) {
      std::vector<protocol::scored_group> batch(5, make_group(static_cast<std::uint64_t>(i)));
      if (!(*store)->append(batch)) ::_exit(4);
    }
    ::_exit(0);
  }
  int wstatus = 0;
  ::waitpid(child, &wstatus, 0);
  REQUIRE(WIFEXITED(wstatus));
  REQUIRE(WEXITSTATUS(wstatus) == 42);
  auto store = open_store(dir);
  CHECK(store->entries().size() == 15);
  CHECK(store->entries().rbegin()->first == 15);
  std::filesystem::remove_all(dir);
}
