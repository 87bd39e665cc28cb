// Tests of the configuration system: defaults, overrides, and every kind of error message.
#include "core/config.hpp"

#include <catch2/catch.hpp>

namespace {

enum class run_mode { sync, async };

struct learner_config {
  double lr = 1e-3;                          // learning rate
  int micro_batches = 1;                     // gradient accumulation steps
  std::chrono::milliseconds flush{5};        // duration
  aha::byte_size cache{64ull << 20};         // bytes
  run_mode mode = run_mode::async;
};
template <class V>
void describe(V& v, learner_config& c) {
  v.field("lr", c.lr, "learning rate", aha::config::range{0, 1});
  v.field("micro_batches", c.micro_batches, "gradient accumulation steps", aha::config::range{1, 1024});
  v.field("flush", c.flush, "group-commit window");
  v.field("cache", c.cache, "cache size");
  v.field("mode", c.mode, "scheduling", {{"sync", run_mode::sync}, {"async", run_mode::async}});
}

struct dataset_config {
  std::string path;
  double weight = 1.0;
};
template <class V>
void describe(V& v, dataset_config& c) {
  v.required("path", c.path, "JSONL file");
  v.field("weight", c.weight, "sampling weight");
}

struct top_config {
  std::string name = "run";
  std::vector<std::string> tags;
  learner_config learner;
  std::vector<dataset_config> datasets;
};
template <class V>
void describe(V& v, top_config& c) {
  v.field("name", c.name, "run name");
  v.field("tags", c.tags, "free-form labels");
  v.section("learner", c.learner, "the GRPO learner");
  v.list("datasets", c.datasets, "training data");
}

std::string error_of(std::string_view text, std::vector<std::string> overrides = {}) {
  auto loaded = aha::config::load_string<top_config>(text, overrides, "test.toml");
  REQUIRE_FALSE(loaded.ok());
  return loaded.error().message;
}

}  // namespace

TEST_CASE("config: defaults survive an empty file, and values bind by type") {
  auto empty = aha::config::load_string<top_config>("");
  REQUIRE(empty.ok());
  CHECK(empty->learner.lr == 1e-3);

  auto loaded = aha::config::load_string<top_config>(R"(
name = "tiny"
tags = ["a", "b"]
[learner]
lr = 0.5
micro_batches = 4
flush = "200ms"
cache = "1GiB"
mode = "sync"
[[datasets]]
path = "a.jsonl"
[[datasets]]
path = "b.jsonl"
weight = 2
)");
  REQUIRE(loaded.ok());
  CHECK(loaded->name == "tiny");
  CHECK(loaded->tags == std::vector<std::string>{"a", "b"});
  CHECK(loaded->learner.lr == 0.5);
  CHECK(loaded->learner.micro_batches == 4);
  CHECK(loaded->learner.flush == std::chrono::milliseconds(200));
  CHECK(loaded->learner.cache.bytes == (1ull << 30));
  CHECK(loaded->learner.mode == run_mode::sync);
  REQUIRE(loaded->datasets.size() == 2);
  CHECK(loaded->datasets[1].weight == 2.0);
}

TEST_CASE("config: --set overrides any key, creating tables and quoting bare words") {
  auto loaded = aha::config::load_string<top_config>("[learner]\nlr = 0.5\n",
                                                     {"learner.lr=0.25", "name=bare_word", "learner.mode=sync"});
  REQUIRE(loaded.ok());
  CHECK(loaded->learner.lr == 0.25);
  CHECK(loaded->name == "bare_word");
  CHECK(loaded->learner.mode == run_mode::sync);
  CHECK_THAT(error_of("", {"learner.lr=7"}), Catch::Contains("--set learner.lr=7") && Catch::Contains("out of range"));
  CHECK_THAT(error_of("", {"nokey"}), Catch::Contains("expected section.key=value"));
}

TEST_CASE("config: an unknown key names file:line and the nearest valid key") {
  auto message = error_of("[learner]\nlr = 0.5\nmicro_batchs = 3\n");
  CHECK_THAT(message, Catch::Contains("test.toml:3") && Catch::Contains("unknown key 'micro_batchs'") &&
                          Catch::Contains("did you mean 'micro_batches'"));
  CHECK_THAT(error_of("[lerner]\nlr = 0.5\n"), Catch::Contains("did you mean 'learner'"));
}

TEST_CASE("config: wrong types, out-of-range values, bad units and missing keys are reported") {
  CHECK_THAT(error_of("[learner]\nlr = \"fast\"\n"),
             Catch::Contains("test.toml:2") && Catch::Contains("learner.lr") && Catch::Contains("expected a number"));
  CHECK_THAT(error_of("[learner]\nmicro_batches = 0\n"), Catch::Contains("out of range [1, 1024]"));
  CHECK_THAT(error_of("[learner]\nmicro_batches = 1.5\n"), Catch::Contains("expected an integer"));
  CHECK_THAT(error_of("[learner]\nflush = 30\n"), Catch::Contains("expected a string"));
  CHECK_THAT(error_of("[learner]\nflush = \"30\"\n"), Catch::Contains("not a duration"));
  CHECK_THAT(error_of("[learner]\ncache = \"12 parsecs\"\n"), Catch::Contains("not a size"));
  CHECK_THAT(error_of("[learner]\nmode = \"fast\"\n"), Catch::Contains("not one of: sync, async"));
  CHECK_THAT(error_of("[[datasets]]\nweight = 1\n"),
             Catch::Contains("datasets[0].path") && Catch::Contains("missing required key"));
  CHECK_THAT(error_of("learner = 3\n"), Catch::Contains("expected a table"));
  CHECK_THAT(error_of("[learner\n"), Catch::Contains("test.toml:1"));
}

TEST_CASE("config: every error is reported, one per line") {
  auto message = error_of("[learner]\nlr = 9\nmicro_batches = -1\nbogus = 1\n");
  CHECK(std::count(message.begin(), message.end(), '\n') == 2);
}

TEST_CASE("config: the printed config reads back to the same values") {
  top_config original;
  original.name = "x \"quoted\"";
  original.learner.lr = 0.1;
  original.learner.flush = std::chrono::milliseconds(1500);
  original.datasets = {{"a.jsonl", 1.0}, {"b.jsonl", 0.5}};
  std::string text = aha::config::to_toml(original);
  CHECK_THAT(text, Catch::Contains("# learning rate"));
  auto again = aha::config::load_string<top_config>(text);
  REQUIRE(again.ok());
  CHECK(again->name == original.name);
  CHECK(again->learner.lr == 0.1);
  CHECK(again->learner.flush == std::chrono::milliseconds(1500));
  CHECK(again->datasets.size() == 2);
  CHECK(again->datasets[1].weight == 0.5);
  CHECK(aha::config::to_toml(*again) == text);
}

namespace {

// A list whose items start as a copy of the sections read before it (a recipe's [[stages]]).
struct phase_config {
  std::string name;
  learner_config learner;
};
template <class V>
void describe(V& v, phase_config& c) {
  v.required("name", c.name, "phase name");
  v.section("learner", c.learner, "overrides of the run's learner");
}
struct phased_config {
  learner_config learner;
  std::vector<phase_config> phases;
};
template <class V>
void describe(V& v, phased_config& c) {
  v.section("learner", c.learner, "the run's learner");
  v.list("phases", c.phases, "phases over the learner", phase_config{"", c.learner});
}

}  // namespace

TEST_CASE("config: a list with a prototype overlays each table on the sections read before it") {
  auto config = aha::config::load_string<phased_config>(R"(
[learner]
lr = 0.5
micro_batches = 4
[[phases]]
name = "a"
[[phases]]
name = "b"
[phases.learner]
lr = 0.25
)");
  REQUIRE(config.ok());
  REQUIRE(config->phases.size() == 2);
  CHECK(config->phases[0].learner.lr == 0.5);          // the run's value
  CHECK(config->phases[1].learner.lr == 0.25);         // the phase's own
  CHECK(config->phases[1].learner.micro_batches == 4);  // the run's, where the phase is silent
  // The printed config reads back to the same phases; unknown keys in an item are still refused.
  auto again = aha::config::load_string<phased_config>(aha::config::to_toml(*config));
  REQUIRE(again.ok());
  CHECK(again->phases[1].learner.lr == 0.25);
  auto bad = aha::config::load_string<phased_config>("[[phases]]\nname = \"a\"\n[phases.learner]\nlrr = 1\n");
  REQUIRE_FALSE(bad.ok());
  CHECK_THAT(bad.error().message, Catch::Contains("lrr"));
}
