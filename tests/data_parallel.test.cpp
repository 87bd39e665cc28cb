// The data-parallel learner as real processes on loopback: `aha train` (rank 0) and
// `aha learner-rank` (rank 1) finish a tiny run together; killing rank 1 mid-run stops rank 0
// with the reason and a checkpoint of the last completed step, which `--resume` continues from
// with 1 rank and then with 2 ranks. Hang guards only (every wait is bounded).
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "actors/checkpoint.hpp"
#include "cluster/data_parallel.hpp"
#include "core/test_port.hpp"
#include "core/test_skip.hpp"
#include "tests/aha_process.hpp"
#include "tests/tiny_run.hpp"

#undef CHECK
#include <catch2/catch.hpp>

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using aha::testing::aha_process;

namespace {

constexpr auto kGuard = std::chrono::seconds(240);  // hang guard of a whole tiny run on a loaded machine

// The tiny run's recipe in a file beside (not in) its run directory, for both processes.
struct two_rank_run {
  fs::path root, recipe, run_dir;
  std::string rendezvous;
  explicit two_rank_run(const std::string& name) {
    root = fs::temp_directory_path() / ("aha-dp-" + name + "-" + std::to_string(::getpid()));
    fs::remove_all(root);
    fs::create_directories(root);
    recipe = root / "recipe.toml";
    run_dir = root / "run";
    std::ofstream(recipe) << aha::testing::kTinyRunToml;
    rendezvous = "127.0.0.1:" + std::to_string(aha::testing::free_loopback_port());
  }
  ~two_rank_run() {
    std::error_code ignored;
    fs::remove_all(root, ignored);
  }
  // --set options every process of the run shares.
  std::vector<std::string> sets(int ranks, std::uint64_t steps) const {
    std::vector<std::string> out;
    for (const std::string& s : std::vector<std::string>{"run.dir=" + run_dir.string(), "sft.steps=4", "grpo.learner.steps=" + std::to_string(steps),
                          "grpo.learner.checkpoint_every=1", "grpo.learner.ranks=" + std::to_string(ranks),
                          "grpo.learner.rendezvous=" + rendezvous, "grpo.learner.rank_timeout=10s",
                          "grpo.learner.rendezvous_timeout=120s"}) {
      out.push_back("--set");
      out.push_back(s);
    }
    return out;
  }
  std::unique_ptr<aha_process> train(int ranks, std::uint64_t steps, bool resume, const std::string& log) const {
    std::vector<std::string> args{"train", recipe.string()};
    if (resume) args.push_back("--resume");
    for (auto& s : sets(ranks, steps)) args.push_back(s);
    return std::make_unique<aha_process>(args, (root / log).string());
  }
  std::unique_ptr<aha_process> rank(int r, int ranks, std::uint64_t steps, const std::string& log) const {
    std::vector<std::string> args{"learner-rank", recipe.string(), "--rank", std::to_string(r)};
    for (auto& s : sets(ranks, steps)) args.push_back(s);
    return std::make_unique<aha_process>(args, (root / log).string());
  }
  std::uint64_t checkpoint_step() const {
    auto state = aha::actors::read_trainer_state((run_dir / "checkpoint").string());
    REQUIRE(state);
    REQUIRE(*state);
    return (*state)->grpo_step;
  }
};

int exit_code(aha_process& p) {
  auto status = p.wait_within(kGuard);
  REQUIRE(status);  // hang guard
  return WIFEXITED(*status) ? WEXITSTATUS(*status) : 128 + WTERMSIG(*status);
}

}  // namespace

TEST_CASE("data_parallel: aha train with 2 learner ranks on loopback completes") {
  if (!aha::cluster::gloo_available()) AHA_SKIP("built without Gloo (libgloo-dev)");
  two_rank_run run("complete");
  auto follower = run.rank(1, 2, 3, "rank1.log");
  auto leader = run.train(2, 3, false, "train.log");
  const int leader_code = exit_code(*leader), follower_code = exit_code(*follower);
  INFO("rank 0:\n" << leader->log() << "\nrank 1:\n" << follower->log());
  CHECK(leader_code == 0);
  CHECK(follower_code == 0);
  CHECK(leader->log().find("2 learner ranks joined at " + run.rendezvous) != std::string::npos);
  CHECK(follower->log().find("learner rank 1 of 2: state synchronised with rank 0") != std::string::npos);
  CHECK(follower->log().find("learner rank 1 of 2: step 2 done") != std::string::npos);
  CHECK(follower->log().find("rank 0 finished the run") != std::string::npos);
  CHECK(run.checkpoint_step() == 3);
}

TEST_CASE("data_parallel: a killed rank stops the run with the reason and a checkpoint that resumes with 1 or 2 ranks") {
  if (!aha::cluster::gloo_available()) AHA_SKIP("built without Gloo (libgloo-dev)");
  two_rank_run run("kill");
  auto follower = run.rank(1, 2, 200, "rank1.log");
  auto leader = run.train(2, 200, false, "train.log");
  // Rank 1 dies once it has taken two steps with rank 0.
  const auto until = std::chrono::steady_clock::now() + kGuard;
  while (follower->log().find("learner rank 1 of 2: step 1 done") == std::string::npos) {
    REQUIRE(std::chrono::steady_clock::now() < until);
    REQUIRE(follower->running());
    std::this_thread::sleep_for(20ms);
  }
  follower->signal(SIGKILL);
  const int code = exit_code(*leader);
  const std::string log = leader->log();
  INFO(log);
  CHECK(code == 1);
  CHECK(log.find("data-parallel all-reduce failed on rank 0 of 2 (a rank was lost") != std::string::npos);
  CHECK(log.find("resumes with --resume") != std::string::npos);
  const std::uint64_t stopped_at = run.checkpoint_step();
  CHECK(stopped_at >= 2);
  CHECK(stopped_at < 200);

  // --resume with one rank: two more steps.
  auto alone = run.train(1, stopped_at + 2, true, "resume1.log");
  INFO(alone->log());
  REQUIRE(exit_code(*alone) == 0);
  CHECK(alone->log().find("resume: checkpoint after") != std::string::npos);
  CHECK(run.checkpoint_step() == stopped_at + 2);

  // --resume with two ranks again: two more.
  auto second = run.rank(1, 2, stopped_at + 4, "rank1-again.log");
  auto again = run.train(2, stopped_at + 4, true, "resume2.log");
  const int again_code = exit_code(*again), second_code = exit_code(*second);
  INFO(again->log() << "\n" << second->log());
  CHECK(again_code == 0);
  CHECK(second_code == 0);
  CHECK(run.checkpoint_step() == stopped_at + 4);
}
