// Tests of the prompt source: shuffled epochs cover the dataset, done() only on consumption,
// resumption re-issues held (not stored) prompts, requeue (by id and by dead holder), the epoch
// limit, the actor's protocol, and the replay buffer's stored/stale notifications.
#include <catch2/catch.hpp>

#include <filesystem>
#include <set>
#include <unistd.h>

#include "actors/actor_test_support.hpp"
#include "actors/prompt_source.hpp"
#include "actors/replay_buffer.hpp"

using namespace aha;
using namespace aha::actors;

namespace {

std::shared_ptr<const tasks::prompt_dataset> small_dataset(std::uint64_t size) {
  tasks::dataset_config config;
  config.tasks = {"arithmetic"};
  config.train_size = size;
  auto dataset = tasks::open_dataset(config, tasks::split::train);
  return std::shared_ptr<const tasks::prompt_dataset>(std::move(*dataset));
}

std::string state_path(const std::string& name) {
  auto path = std::filesystem::temp_directory_path() / ("aha_cursor_" + name + "_" + std::to_string(::getpid()) + ".json");
  std::filesystem::remove(path);
  return path.string();
}

// A prompt source over 50 arithmetic prompts, on the deterministic scheduler, without a state file.
result<prompt_source_actor> spawn_small_source(testing::deterministic_system& t) {
  prompt_source_config config;
  config.dataset.train_size = 50;
  auto source = spawn_prompt_source(*t.sys, config, "", threading::scheduled);
  REQUIRE(source.ok());
  return source;
}

std::vector<std::uint64_t> ids_of(const std::vector<protocol::prompt>& prompts) {
  std::vector<std::uint64_t> out;
  for (const auto& p : prompts) out.push_back(p.id);
  return out;
}

}  // namespace

TEST_CASE("prompt cursor: each epoch is a shuffled permutation, and epochs differ") {
  auto cursor = prompt_cursor::open(small_dataset(10), 5, 0, "");
  REQUIRE(cursor.ok());
  auto first = (*cursor)->next(10);
  auto second = (*cursor)->next(10);
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  std::set<std::uint64_t> indices;
  std::vector<std::uint64_t> order1, order2;
  for (const auto& p : *first) {
    CHECK((p.id >> 32) == 0);
    indices.insert(p.id & 0xffffffff);
    order1.push_back(p.id & 0xffffffff);
    CHECK(p.task == "arithmetic");
  }
  for (const auto& p : *second) {
    CHECK((p.id >> 32) == 1);
    order2.push_back(p.id & 0xffffffff);
  }
  CHECK(indices.size() == 10);
  CHECK(order1 != order2);
  CHECK((*cursor)->stats().outstanding == 20);
}

TEST_CASE("prompt cursor: a restart re-issues prompts not done, then continues") {
  auto path = state_path("resume");
  std::vector<std::uint64_t> handed, done;
  {
    auto cursor = prompt_cursor::open(small_dataset(100), 1, 0, path);
    REQUIRE(cursor.ok());
    handed = ids_of(*(*cursor)->next(6));
    done = {handed[0], handed[2], handed[3]};
    REQUIRE((*cursor)->done(done).ok());
  }
  auto cursor = prompt_cursor::open(small_dataset(100), 1, 0, path);
  REQUIRE(cursor.ok());
  auto again = ids_of(*(*cursor)->next(5));
  // Re-issued first (in id order), then new prompts.
  CHECK(std::set<std::uint64_t>(again.begin(), again.begin() + 3) ==
        std::set<std::uint64_t>{handed[1], handed[4], handed[5]});
  for (std::size_t i = 3; i < 5; ++i) CHECK(std::count(handed.begin(), handed.end(), again[i]) == 0);
  CHECK((*cursor)->prompt_of(again[0]).text == (*cursor)->prompt_of(handed[1]).text);
  auto other_seed = prompt_cursor::open(small_dataset(100), 2, 0, path);
  CHECK(!other_seed.ok());  // the state file belongs to another shuffle
  std::filesystem::remove(path);
}

TEST_CASE("prompt cursor: a finite number of epochs runs out") {
  auto cursor = prompt_cursor::open(small_dataset(4), 1, 2, "");
  REQUIRE(cursor.ok());
  CHECK((*cursor)->next(3)->size() == 3);
  CHECK((*cursor)->next(3)->size() == 3);
  CHECK((*cursor)->next(3)->size() == 2);
  CHECK((*cursor)->next(3)->empty());
}

TEST_CASE("prompt source actor: next, done and stats") {
  testing::deterministic_system t;
  auto source = spawn_small_source(t);
  auto prompts = testing::ask<std::vector<protocol::prompt>>(*t.sys, *source, next_atom::value, std::uint32_t{4});
  t.run();
  REQUIRE(prompts->value);
  REQUIRE(prompts->value->size() == 4);
  auto ok = testing::ask<caf::ok_atom>(*t.sys, *source, done_atom::value, ids_of(*prompts->value));
  t.run();
  CHECK(ok->value);
  auto stats = testing::ask<prompt_source_stats>(*t.sys, *source, stats_atom::value);
  t.run();
  REQUIRE(stats->value);
  CHECK(stats->value->issued == 4);
  CHECK(stats->value->done == 4);
  CHECK(stats->value->outstanding == 0);
  caf::anon_send_exit(*source, caf::exit_reason::user_shutdown);
  t.run();
}

TEST_CASE("prompt cursor: requeue by holder re-issues exactly what that holder still held, first") {
  auto cursor = prompt_cursor::open(small_dataset(100), 1, 0, "");
  REQUIRE(cursor.ok());
  auto& c = **cursor;
  auto a = ids_of(*c.next(4, /*holder*/ 7));
  auto b = ids_of(*c.next(2, /*holder*/ 8));
  c.hand_over({a[0]});   // at the grader: survives its generator
  REQUIRE(c.stored({a[1]}).ok());  // durable
  REQUIRE(c.done({a[2]}).ok());
  // Holder 7 dies holding a[3] only.
  CHECK(*c.requeue_holder(7) == 1);
  CHECK(*c.requeue_holder(7) == 0);  // nothing left: a second notice changes nothing
  auto again = ids_of(*c.next(3, 9));
  CHECK(again[0] == a[3]);  // ahead of new prompts
  CHECK(std::count(a.begin(), a.end(), again[1]) == 0);
  CHECK(std::count(b.begin(), b.end(), again[1]) == 0);
  auto stats = c.stats();
  CHECK(stats.requeued == 1);
  CHECK(stats.reissued == 1);
  CHECK(stats.issued == 9);
  CHECK(stats.outstanding == 7);  // 8 distinct prompts, 1 done
  CHECK(stats.stored == 1);
}

TEST_CASE("prompt cursor: requeue by id (lost or stale group) re-issues once, never a done prompt") {
  auto cursor = prompt_cursor::open(small_dataset(100), 1, 0, "");
  REQUIRE(cursor.ok());
  auto& c = **cursor;
  auto a = ids_of(*c.next(3, 5));
  REQUIRE(c.stored({a[0], a[1]}).ok());
  REQUIRE(c.done({a[1]}).ok());
  // a[0]'s group went stale, a[1] is done already, a[2]'s grading failed; 12345 was never issued.
  CHECK(*c.requeue({a[0], a[1], a[2], 12345}) == 2);
  CHECK(*c.requeue({a[0]}) == 0);  // already waiting: not queued twice
  auto again = ids_of(*c.next(3, 6));
  CHECK(std::set<std::uint64_t>(again.begin(), again.begin() + 2) == std::set<std::uint64_t>{a[0], a[2]});
  CHECK(again[2] != a[1]);
  CHECK(c.stats().stored == 0);
}

TEST_CASE("prompt cursor: a restart re-issues held prompts but not stored ones") {
  auto path = state_path("stored");
  std::vector<std::uint64_t> handed;
  {
    auto cursor = prompt_cursor::open(small_dataset(100), 1, 0, path);
    REQUIRE(cursor.ok());
    handed = ids_of(*(*cursor)->next(4, 3));
    (*cursor)->hand_over({handed[0]});  // at the grader when the process stopped: not durable
    REQUIRE((*cursor)->stored({handed[1]}).ok());
    REQUIRE((*cursor)->requeue({handed[2]}).ok());
  }
  auto cursor = prompt_cursor::open(small_dataset(100), 1, 0, path);
  REQUIRE(cursor.ok());
  CHECK((*cursor)->stats().stored == 1);
  CHECK((*cursor)->stats().requeued == 1);
  auto again = ids_of(*(*cursor)->next(4, 3));
  CHECK(std::set<std::uint64_t>(again.begin(), again.begin() + 3) ==
        std::set<std::uint64_t>{handed[0], handed[2], handed[3]});
  CHECK(again[3] != handed[1]);  // its group is in the replay buffer; it is done when consumed
  REQUIRE((*cursor)->done({handed[1]}).ok());
  CHECK((*cursor)->stats().stored == 0);
  std::filesystem::remove(path);
}

namespace {

// An actor that takes n prompts from the source and then stops: a generator that dies holding them.
struct taker {
  std::shared_ptr<std::vector<std::uint64_t>> ids = std::make_shared<std::vector<std::uint64_t>>();
  caf::actor_addr address;
  taker(caf::actor_system& sys, const prompt_source_actor& source, std::uint32_t n) {
    auto ids_out = ids;
    auto actor = sys.spawn([=](caf::event_based_actor* self) {
      self->request(source, caf::infinite, next_atom::value, n).then([=](const std::vector<protocol::prompt>& p) {
        for (const auto& x : p) ids_out->push_back(x.id);
        self->quit();
      });
    });
    address = actor.address();
  }
};

}  // namespace

TEST_CASE("prompt source actor: the prompts a dead holder took are re-issued to the next asker") {
  testing::deterministic_system t;
  auto source = spawn_small_source(t);
  taker dead(*t.sys, *source, 3), alive(*t.sys, *source, 2);
  t.run();
  REQUIRE(dead.ids->size() == 3);
  // One of the dead holder's groups had reached the grader.
  caf::anon_send(*source, handover_atom::value, std::vector<std::uint64_t>{dead.ids->at(0)});
  auto count = testing::ask<std::uint64_t>(*t.sys, *source, requeue_atom::value, dead.address);
  t.run();
  REQUIRE(count->value);
  CHECK(*count->value == 2);
  auto unknown = testing::ask<std::uint64_t>(*t.sys, *source, requeue_atom::value, caf::actor_addr{});
  t.run();
  CHECK(*unknown->value == 0);
  taker next(*t.sys, *source, 2);
  t.run();
  CHECK(std::set<std::uint64_t>(next.ids->begin(), next.ids->end()) ==
        std::set<std::uint64_t>{dead.ids->at(1), dead.ids->at(2)});
  caf::anon_send_exit(*source, caf::exit_reason::user_shutdown);
  t.run();
}

TEST_CASE("replay buffer -> prompt source: stored groups are marked, stale groups' prompts re-issued") {
  testing::deterministic_system t;
  auto source = spawn_small_source(t);
  auto dir = std::filesystem::temp_directory_path() / ("aha_cursor_replay_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  replay_buffer_config replay;
  replay.dir = dir.string();
  replay.sync = false;
  auto buffer = spawn_replay_buffer(*t.sys, replay, threading::scheduled, *source);
  REQUIRE(buffer.ok());
  taker generator(*t.sys, *source, 2);
  t.run();
  REQUIRE(generator.ids->size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    protocol::scored_group g;
    g.source.id = generator.ids->at(i);
    g.min_weight_version = i == 0 ? 0 : 5;  // the first will be too old for a learner at version 5
    testing::ask<std::uint64_t>(*t.sys, *buffer, caf::put_atom::value, g);
  }
  t.run();
  auto stats = testing::ask<prompt_source_stats>(*t.sys, *source, stats_atom::value);
  t.run();
  CHECK(stats->value->stored == 2);
  auto batch = testing::ask<protocol::learner_batch>(*t.sys, *buffer, fetch_atom::value,
                                                     fetch_request{0, 5, 2, 1, 0});
  t.run();
  REQUIRE(batch->value);
  CHECK(batch->value->groups.size() == 1);
  stats = testing::ask<prompt_source_stats>(*t.sys, *source, stats_atom::value);
  t.run();
  CHECK(stats->value->requeued == 1);
  CHECK(stats->value->stored == 1);
  taker next(*t.sys, *source, 1);
  t.run();
  CHECK(next.ids->at(0) == generator.ids->at(0));  // asked again: its group was never trained on
  caf::anon_send_exit(*buffer, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(*source, caf::exit_reason::user_shutdown);
  t.run();
  std::filesystem::remove_all(dir);
}

TEST_CASE("prompt cursor: reconcile with the replay store after a crash asks again only prompts without a group") {
  auto path = state_path("reconcile");
  std::vector<std::uint64_t> a;
  {
    auto cursor = prompt_cursor::open(small_dataset(100), 1, 0, path);
    REQUIRE(cursor.ok());
    a = ids_of(*(*cursor)->next(6, 3));
    // The cursor heard of a[4]'s and a[5]'s groups; the kill took every later message.
    REQUIRE((*cursor)->stored({a[4], a[5]}).ok());
  }
  // On disk at the kill: a[0] stored, unconsumed (the cursor missed the commit); a[1] stored and
  // consumed (missed both); a[2], a[3] never graded; a[4] consumed (missed done); a[5] evicted.
  std::map<std::uint64_t, stored_prompt> store{{a[0], {1, 0}}, {a[1], {0, 1}}, {a[4], {0, 1}}};
  auto cursor = prompt_cursor::open(small_dataset(100), 1, 0, path);
  REQUIRE(cursor.ok());
  auto counts = (*cursor)->reconcile(store);
  REQUIRE(counts.ok());
  CHECK(counts->held_now_stored == 1);
  CHECK(counts->held_now_done == 1);
  CHECK(counts->stored_now_done == 1);
  CHECK(counts->stored_reissued == 1);
  CHECK((*cursor)->stats().stored == 1);  // a[0]: done when its group is consumed
  CHECK((*cursor)->stats().done == 2);    // a[1], a[4]
  auto again = ids_of(*(*cursor)->next(4, 3));
  CHECK(std::set<std::uint64_t>(again.begin(), again.begin() + 3) == std::set<std::uint64_t>{a[2], a[3], a[5]});
  for (auto id : again) CHECK((id != a[0] && id != a[1] && id != a[4]));
  // Persisted: a second start without a new reconcile sees the same books.
  auto reopened = prompt_cursor::open(small_dataset(100), 1, 0, path);
  REQUIRE(reopened.ok());
  CHECK((*reopened)->stats().done == 2);
  CHECK((*reopened)->stats().stored == 1);
  std::filesystem::remove(path);
}

TEST_CASE("prompt cursor: reconcile refuses a replay store with prompts the cursor never handed out") {
  auto path = state_path("reconcile_behind");
  auto cursor = prompt_cursor::open(small_dataset(100), 1, 0, path);
  REQUIRE(cursor.ok());
  auto handed = ids_of(*(*cursor)->next(2, 3));
  auto ahead = prompt_id_of(0, 0) == handed[0] || prompt_id_of(0, 0) == handed[1] ? prompt_id_of(1, 0) : prompt_id_of(0, 0);
  auto counts = (*cursor)->reconcile({{handed[0], {1, 0}}, {ahead, {1, 0}}});
  REQUIRE_FALSE(counts.ok());
  CHECK_THAT(counts.error().message, Catch::Contains("never handed them out"));
  std::filesystem::remove(path);
}

TEST_CASE("prompt cursor: the state file is replaced whole, with no temp file left behind") {
  auto path = state_path("durable");
  auto cursor = prompt_cursor::open(small_dataset(100), 1, 0, path);
  REQUIRE(cursor.ok());
  REQUIRE((*cursor)->next(3, 3).ok());
  CHECK(std::filesystem::exists(path));
  CHECK_FALSE(std::filesystem::exists(path + ".tmp"));
  auto reopened = prompt_cursor::open(small_dataset(100), 1, 0, path);
  REQUIRE(reopened.ok());
  CHECK((*reopened)->stats().outstanding == 3);
  std::filesystem::remove(path);
}
