// Tests of the prompt source: shuffled epochs cover the dataset, done() only on consumption,
// resumption re-issues outstanding prompts, the epoch limit, and the actor's protocol.
#include <catch2/catch.hpp>

#include <filesystem>
#include <set>
#include <unistd.h>

#include "actors/actor_test_support.hpp"
#include "actors/prompt_source.hpp"

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

std::vector<std::uint64_t> ids_of(const std::vector<protocol::prompt>& prompts) {
  std::vector<std::uint64_t> out;
  for (const auto& p : prompts) out.push_back(p.id);
  return out;
}

}  // namespace

TEST_CASE("prompt cursor: each epoch is a shuffled permutation; epochs differ") {
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
  prompt_source_config config;
  config.dataset.train_size = 50;
  auto source = spawn_prompt_source(*t.sys, config, "", threading::scheduled);
  REQUIRE(source.ok());
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
