// One optimizer step on a fixed batch, 1 rank vs W ranks (threads of this process joined through
// cluster/data_parallel on loopback, each training its share, gradients summed): the same
// weights, loss and gradient norm to float tolerance, for GRPO (1 to 24 updates, both loss
// aggregations, uneven and empty shares) and SFT; broadcast_state makes every rank rank 0's twin.
// Also: the commands of rank 0 drive a serving rank; the ranks' config keys are validated.
// Tolerance: weights within 1e-5 absolute (0.1% of lr = 1e-2). The only difference is the order
// of float sums, but AdamW's first update is lr * g / (|g| + eps) with eps = 1e-8: a gradient
// element that is 0 on one side and a rounding residue of ~4e-12 on the other moves by ~4e-6
// (the worst seen: 3.6e-6, sequence_mean with micro-batches; the other cases stayed below 2e-6).
#include <unistd.h>

#include <functional>
#include <sstream>
#include <thread>

#include "actors/learner_rank.hpp"
#include "actors/policy_trainer.hpp"
#include "actors/run_config.hpp"
#include "cluster/data_parallel.hpp"
#include "core/test_port.hpp"
#include "core/test_skip.hpp"
#include "model/logprobs.hpp"
#include "model/test_policy.hpp"

#undef CHECK
#include <catch2/catch.hpp>

using namespace aha;
using namespace std::chrono_literals;

namespace {

constexpr double kWeightTolerance = 1e-5;

// Three groups of four rollouts with completions of 1 to 7 tokens (so token_mean and
// sequence_mean differ, and shares hold unequal token counts); behaviour log-probs slightly off
// the policy's so the behaviour weight is not exactly 1.
protocol::learner_batch three_groups(model::transformer& policy) {
  protocol::learner_batch batch;
  torch::NoGradGuard no_grad;
  for (std::uint64_t id = 0; id < 3; ++id) {
    protocol::scored_group group;
    group.source.id = id;
    std::vector<std::int32_t> prompt{1, static_cast<std::int32_t>(5 + id), 6};
    for (std::int32_t i = 0; i < 4; ++i) {
      protocol::rollout r;
      r.prompt_id = id;
      r.prompt_tokens = prompt;
      for (std::int32_t j = 0; j < 1 + (i * 2 + static_cast<std::int32_t>(id)) % 7; ++j) {
        r.completion_tokens.push_back(7 + (i * 5 + j * 3 + static_cast<std::int32_t>(id)) % 20);
      }
      std::vector<std::int64_t> ids(prompt.begin(), prompt.end());
      ids.insert(ids.end(), r.completion_tokens.begin(), r.completion_tokens.end());
      auto lp = model::token_logprobs(policy, torch::tensor(ids).unsqueeze(0)).logprobs[0];
      for (std::size_t j = 0; j < r.completion_tokens.size(); ++j) {
        r.behaviour_logprobs.push_back(lp[static_cast<std::int64_t>(prompt.size() + j - 1)].item<float>() - 0.05f * j);
      }
      group.rollouts.push_back(r);
    }
    group.verdicts.resize(4);
    group.rewards = {1.0f, 0.0f, 1.0f, 0.0f};
    group.advantages = {0.87f, -0.87f, 0.5f * id, -0.3f};
    batch.groups.push_back(group);
  }
  return batch;
}

double max_weight_difference(model::transformer& a, model::transformer& b) {
  torch::NoGradGuard no_grad;
  auto pa = a->named_parameters(true), pb = b->named_parameters(true);
  double worst = 0;
  for (const auto& item : pa) worst = std::max(worst, (item.value() - pb[item.key()]).abs().max().item<double>());
  return worst;
}

// Runs step(trainer) on `world` ranks (threads), each with a fresh trainer of the same seed.
// Returns each rank's trainer (nullptr where it failed: `failures` says why).
std::vector<std::shared_ptr<actors::policy_trainer>> on_ranks(
    int world, const actors::trainer_config& config,
    const std::function<actors::metric_map(actors::policy_trainer&)>& step, std::vector<actors::metric_map>& metrics,
    std::uint64_t seed = 5) {
  const auto port = aha::testing::free_loopback_port();
  std::vector<std::shared_ptr<actors::policy_trainer>> trainers(world);
  std::vector<std::string> failures(world);
  metrics.assign(world, {});
  std::vector<std::thread> threads;
  for (int rank = 0; rank < world; ++rank) {
    threads.emplace_back([&, rank] {
      cluster::data_parallel_config c;
      c.rendezvous = "127.0.0.1:" + std::to_string(port);
      c.rank = rank, c.world = world, c.timeout = 60s;
      c.bucket_bytes = 4096;  // several buckets
      auto group = cluster::data_parallel_group::join(c);
      if (!group) {
        failures[rank] = group.error().message;
        return;
      }
      auto trainer = std::make_shared<actors::policy_trainer>(model::tiny_test_policy(seed), config, 0);
      trainer->set_group(std::shared_ptr<cluster::data_parallel_group>(std::move(*group)));
      try {
        metrics[rank] = step(*trainer);
        trainers[rank] = trainer;
      } catch (const std::exception& e) {
        failures[rank] = e.what();
      }
      trainer->set_group(nullptr);
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < world; ++r) {
    INFO("rank " << r << ": " << failures[r]);
    REQUIRE(failures[r].empty());
  }
  return trainers;
}

}  // namespace

TEST_CASE("data_parallel_step: a GRPO step on 2 or 3 ranks gives the weights of 1 rank") {
  if (!cluster::gloo_available()) AHA_SKIP("built without Gloo (libgloo-dev)");
  struct variant {
    const char* name;
    std::uint32_t epochs, minis, micros;
    model::loss_aggregation aggregation;
  };
  const variant variants[] = {{"1 update, token_mean", 1, 1, 1, model::loss_aggregation::token_mean},
                              {"1 update, sequence_mean, 2 micro-batches", 1, 1, 2, model::loss_aggregation::sequence_mean},
                              {"2 epochs x 2 mini-batches, token_mean", 2, 2, 1, model::loss_aggregation::token_mean},
                              {"2 epochs x 12 one-row mini-batches (most shares empty)", 2, 12, 1,
                               model::loss_aggregation::token_mean}};
  for (const auto& v : variants) {
    actors::trainer_config config;
    config.optimizer.lr = 1e-2;
    config.ppo_epochs = v.epochs, config.mini_batches = v.minis, config.micro_batches = v.micros;
    config.loss.aggregation = v.aggregation;
    actors::policy_trainer alone(model::tiny_test_policy(5), config, 0);
    const auto batch = three_groups(alone.policy());
    auto expected = alone.grpo_step(batch);
    for (int world : {2, 3}) {
      INFO(v.name << ", " << world << " ranks");
      std::vector<actors::metric_map> metrics;
      auto trainers = on_ranks(world, config, [&](actors::policy_trainer& t) { return t.grpo_step(batch); }, metrics);
      for (int r = 0; r < world; ++r) {
        INFO("rank " << r);
        CHECK(max_weight_difference(alone.policy(), trainers[r]->policy()) < kWeightTolerance);
        CHECK(metrics[r]["grpo/loss"] == Approx(expected["grpo/loss"]).margin(1e-6));
        CHECK(metrics[r]["grpo/grad_norm"] == Approx(expected["grpo/grad_norm"]).epsilon(1e-5));
        CHECK(metrics[r]["grpo/importance_weight"] == Approx(expected["grpo/importance_weight"]).epsilon(1e-6));
        CHECK(metrics[r]["grpo/tokens"] == expected["grpo/tokens"]);
        CHECK(metrics[r]["grpo/updates"] == expected["grpo/updates"]);
        CHECK(trainers[r]->optimizer().steps_taken() == 1);
      }
      // The ranks hold one model: the summed gradient is the same bytes everywhere.
      for (int r = 1; r < world; ++r) CHECK(max_weight_difference(trainers[0]->policy(), trainers[r]->policy()) == 0.0);
    }
  }
}

TEST_CASE("data_parallel_step: an SFT step on 2 ranks gives the weights of 1 rank") {
  if (!cluster::gloo_available()) AHA_SKIP("built without Gloo (libgloo-dev)");
  actors::trainer_config config;
  config.optimizer.lr = 1e-2;
  // Three examples of unequal lengths: rank 0 gets one, rank 1 two; the token normaliser is the batch's.
  const std::vector<actors::sft_example> batch{{{1, 5, 6}, {7, 8, 9, 2}}, {{1, 4}, {10, 2}}, {{1, 9}, {11, 12, 13, 14, 15, 2}}};
  actors::policy_trainer alone(model::tiny_test_policy(1), config, 0);
  auto expected = alone.sft_step(batch);
  std::vector<actors::metric_map> metrics;
  auto trainers = on_ranks(2, config, [&](actors::policy_trainer& t) { return t.sft_step(batch); }, metrics, 1);
  for (int r = 0; r < 2; ++r) {
    INFO("rank " << r);
    CHECK(max_weight_difference(alone.policy(), trainers[r]->policy()) < kWeightTolerance);
    CHECK(metrics[r]["sft/loss"] == Approx(expected["sft/loss"]).margin(1e-6));
    CHECK(metrics[r]["sft/tokens"] == expected["sft/tokens"]);
  }
}

TEST_CASE("data_parallel_step: broadcast_state gives every rank rank 0's weights and optimizer state") {
  if (!cluster::gloo_available()) AHA_SKIP("built without Gloo (libgloo-dev)");
  actors::trainer_config config;
  config.optimizer.lr = 1e-2;
  config.loss.kl_beta = 0.1;  // a reference model travels too
  // Rank 0 has trained a step alone (moments, schedule position); rank 1 starts from another seed.
  actors::policy_trainer reference_run(model::tiny_test_policy(5), config, 0);
  const auto batch = three_groups(reference_run.policy());
  reference_run.grpo_step(batch);
  reference_run.grpo_step(batch);
  std::vector<actors::metric_map> metrics;
  const auto port = aha::testing::free_loopback_port();
  std::vector<std::shared_ptr<actors::policy_trainer>> trainers(2);
  std::vector<std::string> failures(2);
  std::vector<std::thread> threads;
  for (int rank = 0; rank < 2; ++rank) {
    threads.emplace_back([&, rank] {
      auto trainer = std::make_shared<actors::policy_trainer>(model::tiny_test_policy(rank == 0 ? 5 : 99), config, 0);
      if (rank == 0) trainer->grpo_step(batch);  // alone, before joining
      cluster::data_parallel_config c;
      c.rendezvous = "127.0.0.1:" + std::to_string(port);
      c.rank = rank, c.world = 2, c.timeout = 60s;
      auto group = cluster::data_parallel_group::join(c);
      if (!group) {
        failures[rank] = group.error().message;
        return;
      }
      trainer->set_group(std::shared_ptr<cluster::data_parallel_group>(std::move(*group)));
      try {
        trainer->broadcast_state();
        trainer->grpo_step(batch);
      } catch (const std::exception& e) {
        failures[rank] = e.what();
      }
      trainer->set_group(nullptr);
      trainers[rank] = trainer;
    });
  }
  for (auto& t : threads) t.join();
  REQUIRE(failures[0].empty());
  REQUIRE(failures[1].empty());
  CHECK(trainers[1]->optimizer().steps_taken() == 2);
  CHECK(max_weight_difference(trainers[0]->policy(), trainers[1]->policy()) == 0.0);
  // Both took the second step one rank takes after the first: the moments came with the weights
  // (and the KL's reference, or the loss would differ).
  CHECK(max_weight_difference(reference_run.policy(), trainers[1]->policy()) < kWeightTolerance);
}

TEST_CASE("data_parallel_step: rank 0's commands drive a serving rank, and its stop reason reaches it") {
  if (!cluster::gloo_available()) AHA_SKIP("built without Gloo (libgloo-dev)");
  actors::trainer_config config;
  config.optimizer.lr = 1e-2;
  for (const std::string reason : {"", "rank 0 lost a rank: test"}) {
    INFO("stop reason '" << reason << "'");
    const auto port = aha::testing::free_loopback_port();
    auto leader_trainer = std::make_shared<actors::policy_trainer>(model::tiny_test_policy(5), config, 0);
    auto follower_trainer = std::make_shared<actors::policy_trainer>(model::tiny_test_policy(77), config, 0);
    const auto batch = three_groups(leader_trainer->policy());
    aha::status served = aha::ok_status();
    std::string leader_failure;
    std::ostringstream follower_log;
    auto join = [&](int rank) {
      cluster::data_parallel_config c;
      c.rendezvous = "127.0.0.1:" + std::to_string(port);
      c.rank = rank, c.world = 2, c.timeout = 60s;
      auto group = cluster::data_parallel_group::join(c);  // no REQUIRE off the test's thread
      if (!group) throw std::runtime_error(group.error().message);
      return std::shared_ptr<cluster::data_parallel_group>(std::move(*group));
    };
    std::thread follower([&] {
      try {
        auto group = join(1);
        follower_trainer->set_group(group);
        served = actors::serve_rank(*group, *follower_trainer, 60s, follower_log);
        follower_trainer->set_group(nullptr);
      } catch (const std::exception& e) {
        served = aha::make_error(aha::errc::internal, e.what());
      }
    });
    try {
      actors::rank_leader leader(join(0), leader_trainer);
      leader.sync_state();
      leader.grpo_step(batch);
      leader.grpo_step(batch);
      leader.stop(reason);
    } catch (const std::exception& e) {
      leader_failure = e.what();
    }
    follower.join();
    REQUIRE(leader_failure.empty());
    CHECK(served.ok() == reason.empty());
    if (!reason.empty()) CHECK(served.error().message == "learner rank 1 of 2: rank 0 stopped: " + reason);
    CHECK(follower_log.str().find("learner rank 1 of 2: state synchronised with rank 0") != std::string::npos);
    CHECK(max_weight_difference(leader_trainer->policy(), follower_trainer->policy()) == 0.0);
    CHECK(follower_trainer->optimizer().steps_taken() == 2);
  }
}

TEST_CASE("data_parallel_step: grpo.learner.ranks needs a rendezvous, and one beyond loopback needs cluster.plaintext") {
  auto check = [](std::vector<std::string> overrides) {
    auto config = config::load_string<actors::run_config>("", overrides);
    REQUIRE(config);
    actors::resolve(*config);
    auto valid = actors::validate(*config);
    return valid ? std::string() : valid.error().message;
  };
  CHECK(check({"grpo.learner.ranks=2", "grpo.learner.rendezvous=127.0.0.1:29500"}).empty());
  CHECK(check({"grpo.learner.ranks=2"}).find("needs grpo.learner.rendezvous") != std::string::npos);
  CHECK(check({"grpo.learner.ranks=2", "grpo.learner.rendezvous=127.0.0.1"}).find("is not IP:PORT") != std::string::npos);
  CHECK(check({"grpo.learner.ranks=2", "grpo.learner.rendezvous=10.0.0.1:29500"}).find("is not loopback") !=
        std::string::npos);
  CHECK(check({"grpo.learner.ranks=2", "grpo.learner.rendezvous=10.0.0.1:29500", "cluster.plaintext=true"}).empty());
}
