// Tests of checkpoint folders: a save interrupted before its rename leaves the previous checkpoint
// whole; an interrupted replacement is finished on read; trainer_state.json and the tiny model's
// aha_tokenizer.json are checked for their format.
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include <unistd.h>

#include "actors/checkpoint.hpp"
#include "core/fault_point.hpp"
#include "core/test_skip.hpp"
#include "model/char_tokenizer.hpp"
#include "model/hf_checkpoint.hpp"

// LibTorch pulls in glog, whose CHECK would replace Catch2's: include Catch2 last.
#undef CHECK
#include <catch2/catch.hpp>

using namespace aha;
using namespace aha::actors;
namespace fs = std::filesystem;

namespace {

struct fixture {
  fs::path root = fs::temp_directory_path() / ("aha_checkpoint_" + std::to_string(::getpid()));
  std::string dir = (root / "checkpoint").string();
  model::char_tokenizer tokenizer;
  model::transformer policy{model::tiny_config(tokenizer.vocab_size())};
  fixture() {
    fs::remove_all(root);
    fs::create_directories(root);
    policy->init_weights(1);
  }
  ~fixture() { fs::remove_all(root); }
  status save(std::uint64_t step) {
    checkpoint_parts parts;
    parts.policy = &policy;
    parts.tokenizer = &tokenizer;
    return save_checkpoint(dir, parts, trainer_state{"grpo", 3, step, step});
  }
};

void write(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

}  // namespace

TEST_CASE("checkpoint: saved state and tiny tokenizer read back") {
  fixture f;
  CHECK(!read_trainer_state(f.dir)->has_value());  // no checkpoint yet
  REQUIRE(f.save(4).ok());
  auto state = read_trainer_state(f.dir);
  REQUIRE(state.ok());
  REQUIRE(state->has_value());
  CHECK((*state)->stage == "grpo");
  CHECK((*state)->sft_steps == 3);
  CHECK((*state)->grpo_step == 4);
  auto tokenizer = load_tokenizer(f.dir);
  REQUIRE(tokenizer.ok());
  CHECK((*tokenizer)->vocab_size() == f.tokenizer.vocab_size());
  CHECK((*tokenizer)->encode("<answer>12</answer>") == f.tokenizer.encode("<answer>12</answer>"));
  CHECK(model::load_pretrained(f.dir).ok());
}

TEST_CASE("checkpoint: a save that dies before its rename leaves the previous checkpoint whole") {
  if (!fault::kCompiledIn) AHA_SKIP("fault points are compiled out (AHA_FAULT_POINTS=OFF)");
  fixture f;
  REQUIRE(f.save(2).ok());
  torch::NoGradGuard no_grad;
  for (auto& p : f.policy->parameters()) p.add_(1.0);  // the next save's weights differ
  fault::arm("checkpoint.before_publish", [] { throw std::runtime_error("crash"); });
  CHECK_THROWS(f.save(4));
  fault::disarm_all();
  CHECK((*read_trainer_state(f.dir))->grpo_step == 2);
  model::transformer loaded{model::tiny_config(f.tokenizer.vocab_size())};
  REQUIRE(model::load_weights(loaded, f.dir).ok());
  CHECK(!torch::equal(loaded->parameters()[0], f.policy->parameters()[0]));  // the old weights
  REQUIRE(f.save(4).ok());  // the next save clears the leftover and replaces the folder
  CHECK((*read_trainer_state(f.dir))->grpo_step == 4);
  CHECK(!fs::exists(f.dir + ".tmp"));
}

TEST_CASE("checkpoint: a replacement stopped between its two renames is finished on read") {
  fixture f;
  REQUIRE(f.save(6).ok());
  fs::rename(f.dir, f.dir + ".old");  // where the non-exchanging fallback can be interrupted
  auto state = read_trainer_state(f.dir);
  REQUIRE(state.ok());
  REQUIRE(state->has_value());
  CHECK((*state)->grpo_step == 6);
  CHECK(fs::exists(fs::path(f.dir) / "model.safetensors"));
}

TEST_CASE("checkpoint: wrong formats are refused with the file's name") {
  fixture f;
  REQUIRE(f.save(1).ok());
  write(fs::path(f.dir) / "trainer_state.json", R"({"format": "aha.trainer_state/9", "stage": "grpo"})");
  auto state = read_trainer_state(f.dir);
  REQUIRE_FALSE(state.ok());
  CHECK_THAT(state.error().message, Catch::Contains("trainer_state.json") && Catch::Contains("aha.trainer_state/1"));
  write(fs::path(f.dir) / "aha_tokenizer.json", R"({"format": "aha.tokenizer/1", "type": "char", "vocab_size": 7})");
  auto tokenizer = load_tokenizer(f.dir);
  REQUIRE_FALSE(tokenizer.ok());
  CHECK_THAT(tokenizer.error().message, Catch::Contains("vocabulary of 7"));
}
