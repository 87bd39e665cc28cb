// The trainer learns: SFT raises the likelihood of a demonstration, a GRPO step raises the
// log-prob of positively-advantaged completions and lowers negative ones; snapshots round-trip.
// PPO within a step: micro-batching equals one pass, the clip acts from the second update, 'mask'
// stops over-cap tokens, failed grades add nothing, stale behaviour log-probs stay finite.
#include "actors/policy_trainer.hpp"

#include "model/logprobs.hpp"
#include "model/test_policy.hpp"

// LibTorch pulls in glog, whose CHECK would replace Catch2's: include Catch2 last.
#undef CHECK
#include <catch2/catch.hpp>

using namespace aha;

namespace {

// Mean log-prob of `completion` after `prompt` under the policy.
double completion_logprob(model::transformer& policy, std::vector<std::int32_t> prompt,
                          const std::vector<std::int32_t>& completion) {
  torch::NoGradGuard no_grad;
  std::vector<std::int64_t> ids(prompt.begin(), prompt.end());
  ids.insert(ids.end(), completion.begin(), completion.end());
  auto input = torch::tensor(ids).unsqueeze(0);
  auto logprobs = model::token_logprobs(policy, input).logprobs;  // [1, L-1]
  return logprobs.narrow(1, static_cast<std::int64_t>(prompt.size()) - 1, static_cast<std::int64_t>(completion.size()))
      .mean()
      .item<double>();
}

protocol::rollout rollout_of(std::uint64_t prompt_id, std::vector<std::int32_t> prompt, std::vector<std::int32_t> completion,
                             model::transformer& policy) {
  protocol::rollout r;
  r.prompt_id = prompt_id;
  r.prompt_tokens = prompt;
  r.completion_tokens = completion;
  // Behaviour log-probs from the same policy: on-policy.
  torch::NoGradGuard no_grad;
  std::vector<std::int64_t> ids(prompt.begin(), prompt.end());
  ids.insert(ids.end(), completion.begin(), completion.end());
  auto lp = model::token_logprobs(policy, torch::tensor(ids).unsqueeze(0)).logprobs[0];
  for (std::size_t j = 0; j < completion.size(); ++j) {
    r.behaviour_logprobs.push_back(lp[static_cast<std::int64_t>(prompt.size() + j - 1)].item<float>());
  }
  return r;
}

}  // namespace

TEST_CASE("policy_trainer: SFT steps raise the demonstration's likelihood") {
  actors::trainer_config config;
  config.optimizer.lr = 1e-2;
  actors::policy_trainer trainer(model::tiny_test_policy(1), config, 0);
  std::vector<std::int32_t> prompt{1, 5, 6}, completion{7, 8, 9, 2};
  double before = completion_logprob(trainer.policy(), prompt, completion);
  double first_loss = 0, last_loss = 0;
  for (int i = 0; i < 20; ++i) {
    auto m = trainer.sft_step({{prompt, completion}, {{1, 4}, {10, 2}}});
    if (i == 0) first_loss = m["sft/loss"];
    last_loss = m["sft/loss"];
  }
  CHECK(last_loss < first_loss * 0.5);
  CHECK(completion_logprob(trainer.policy(), prompt, completion) > before + 0.5);
}

TEST_CASE("policy_trainer: a GRPO step moves log-probs in the direction of the advantages") {
  actors::trainer_config config;
  config.optimizer.lr = 1e-2;
  config.micro_batches = 2;
  actors::policy_trainer trainer(model::tiny_test_policy(2), config, 0);
  std::vector<std::int32_t> prompt{1, 5, 6}, good{7, 8, 2}, bad{9, 10, 11, 2};
  protocol::scored_group group;
  group.source.id = 3;
  group.rollouts = {rollout_of(3, prompt, good, trainer.policy()), rollout_of(3, prompt, bad, trainer.policy())};
  group.verdicts.resize(2);
  group.rewards = {1.0f, 0.0f};
  group.advantages = {1.0f, -1.0f};
  double good_before = completion_logprob(trainer.policy(), prompt, good);
  double bad_before = completion_logprob(trainer.policy(), prompt, bad);
  auto metrics = trainer.grpo_step(protocol::learner_batch{0, 0, {group}});
  CHECK(metrics["grpo/sequences"] == 2);
  CHECK(metrics["grpo/tokens"] == 7);
  CHECK(metrics["grpo/importance_weight"] == Approx(1.0).epsilon(1e-3));
  CHECK(completion_logprob(trainer.policy(), prompt, good) > good_before);
  CHECK(completion_logprob(trainer.policy(), prompt, bad) < bad_before);
}

TEST_CASE("policy_trainer: a snapshot copies the weights into another replica") {
  actors::policy_trainer trainer(model::tiny_test_policy(3), actors::trainer_config{}, 0);
  auto snapshot = trainer.snapshot(5);
  CHECK(snapshot->version == 5);
  model::transformer replica = model::tiny_test_policy(4);
  std::vector<std::int32_t> prompt{1, 5}, completion{6, 2};
  CHECK(completion_logprob(replica, prompt, completion) != completion_logprob(trainer.policy(), prompt, completion));
  actors::load_snapshot(replica, *snapshot);
  CHECK(completion_logprob(replica, prompt, completion) == completion_logprob(trainer.policy(), prompt, completion));
  model::transformer other(model::tiny_config(40));
  CHECK_THROWS(actors::load_snapshot(other, *snapshot));
}

namespace {

// Two groups of four rollouts (completions of 2 to 5 tokens), on-policy for `policy`, rewards 1 0 1 0.
protocol::learner_batch two_groups(model::transformer& policy) {
  protocol::learner_batch batch;
  for (std::uint64_t id = 0; id < 2; ++id) {
    protocol::scored_group group;
    group.source.id = id;
    std::vector<std::int32_t> prompt{1, static_cast<std::int32_t>(5 + id), 6};
    for (std::int32_t i = 0; i < 4; ++i) {
      std::vector<std::int32_t> completion;
      for (std::int32_t j = 0; j < 2 + i; ++j) completion.push_back(7 + (i * 5 + j * 3 + static_cast<std::int32_t>(id)) % 20);
      group.rollouts.push_back(rollout_of(id, prompt, completion, policy));
    }
    group.verdicts.resize(4);
    group.rewards = {1.0f, 0.0f, 1.0f, 0.0f};
    group.advantages = {0.87f, -0.87f, 0.87f, -0.87f};
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

protocol::reward_verdict timed_out() {
  protocol::reward_verdict v;
  protocol::reward_component c;
  c.status = protocol::verdict_status::timeout;
  v.components.push_back(c);
  return v;
}

}  // namespace

TEST_CASE("policy_trainer: micro-batching within a mini-batch equals a single pass") {
  for (std::uint32_t epochs : {1u, 2u}) {
    actors::trainer_config config;
    config.optimizer.lr = 1e-2;
    config.ppo_epochs = epochs;
    config.mini_batches = epochs;  // 1 x 1 (one update) and 2 x 2 (four updates against pi_old)
    actors::policy_trainer whole(model::tiny_test_policy(5), config, 0);
    config.micro_batches = 3;
    actors::policy_trainer split(model::tiny_test_policy(5), config, 0);
    auto batch = two_groups(whole.policy());
    auto a = whole.grpo_step(batch);
    auto b = split.grpo_step(batch);
    INFO("ppo_epochs = mini_batches = " << epochs);
    CHECK(a["grpo/updates"] == epochs * epochs);
    CHECK(a["grpo/loss"] == Approx(b["grpo/loss"]).margin(1e-6));
    CHECK(a["grpo/grad_norm"] == Approx(b["grpo/grad_norm"]).epsilon(1e-4));
    CHECK(max_weight_difference(whole.policy(), split.policy()) < 1e-5);
  }
}

TEST_CASE("policy_trainer: with 2 mini-batches x 2 epochs the ratio leaves 1 and the clip acts, with one update they do not") {
  actors::trainer_config config;
  config.optimizer.lr = 5e-2;  // large: the later updates see ratios well outside [0.8, 1.28]
  config.optimizer.grad_clip = 0;
  actors::policy_trainer single(model::tiny_test_policy(6), config, 0);
  auto batch = two_groups(single.policy());
  auto one = single.grpo_step(batch);
  CHECK(one["grpo/updates"] == 1);
  CHECK(one["grpo/clip_fraction"] == 0.0);
  CHECK(one["grpo/ratio_deviation"] < 1e-6);

  config.ppo_epochs = 2;
  config.mini_batches = 2;
  actors::policy_trainer ppo(model::tiny_test_policy(6), config, 0);
  auto four = ppo.grpo_step(batch);
  CHECK(four["grpo/updates"] == 4);
  CHECK(four["grpo/ratio_deviation"] > 0.05);
  CHECK(four["grpo/clip_fraction"] > 0.0);
  CHECK(std::isfinite(four["grpo/loss"]));
  // Four updates, one learner step: the schedule moved once.
  CHECK(ppo.optimizer().steps_taken() == 1);
}

TEST_CASE("policy_trainer: a rollout whose grading timed out contributes no gradient and no normaliser place") {
  actors::trainer_config config;
  config.optimizer.lr = 1e-2;
  actors::policy_trainer with(model::tiny_test_policy(7), config, 0);
  actors::policy_trainer without(model::tiny_test_policy(7), config, 0);
  auto batch = two_groups(with.policy());
  auto clean = batch;
  // Rollout 3 of group 0 timed out: its advantage (nonzero here, as an old store might hold) is ignored.
  batch.groups[0].verdicts[3] = timed_out();
  batch.groups[0].advantages[3] = -2.0f;
  auto& g = clean.groups[0];
  g.rollouts.pop_back(), g.verdicts.pop_back(), g.rewards.pop_back(), g.advantages.pop_back();
  auto a = with.grpo_step(batch);
  auto b = without.grpo_step(clean);
  CHECK(a["grpo/excluded_rollouts"] == 1);
  CHECK(a["grpo/tokens"] == b["grpo/tokens"]);
  CHECK(a["grpo/sequences"] == 7);
  CHECK(a["grpo/loss"] == Approx(b["grpo/loss"]).margin(1e-7));
  CHECK(max_weight_difference(with.policy(), without.policy()) < 1e-7);
}

TEST_CASE("policy_trainer: under 'mask' tokens past the behaviour-weight cap pass no gradient") {
  actors::trainer_config config;
  config.optimizer.lr = 1e-2;
  config.loss.behaviour_weight_over_cap = model::over_cap_policy::mask;
  actors::policy_trainer trainer(model::tiny_test_policy(8), config, 0);
  model::transformer untouched = model::tiny_test_policy(8);
  auto batch = two_groups(trainer.policy());
  for (auto& group : batch.groups) {
    for (auto& r : group.rollouts) {
      for (auto& lp : r.behaviour_logprobs) lp -= 10.0f;  // pi_prox / pi_behaviour = e^10, far past the cap of 5
    }
  }
  auto m = trainer.grpo_step(batch);
  CHECK(m["grpo/behaviour_masked_fraction"] == Approx(1.0));
  CHECK(m["grpo/over_cap_fraction"] == Approx(1.0));
  CHECK(m["grpo/grad_norm"] == 0.0);
  CHECK(max_weight_difference(trainer.policy(), untouched) == 0.0);
}

TEST_CASE("policy_trainer: stale behaviour log-probs give weights away from 1 and training stays finite") {
  actors::trainer_config config;
  config.optimizer.lr = 1e-2;
  config.ppo_epochs = 2;
  config.mini_batches = 2;
  actors::policy_trainer trainer(model::tiny_test_policy(9), config, 0);
  model::transformer stale = model::tiny_test_policy(10);  // another policy sampled the rollouts
  auto batch = two_groups(stale);
  double first = 0, last = 0;
  for (int step = 0; step < 8; ++step) {
    auto m = trainer.grpo_step(batch);
    CHECK(std::isfinite(m["grpo/loss"]));
    CHECK(std::isfinite(m["grpo/grad_norm"]));
    CHECK(m["grpo/importance_weight_deviation"] > 0.05);
    CHECK(m["grpo/importance_weight"] > 0.0);
    CHECK(m["grpo/importance_weight"] <= 5.0);
    (step == 0 ? first : last) = completion_logprob(trainer.policy(), {1, 5, 6}, batch.groups[0].rollouts[0].completion_tokens);
  }
  CHECK(std::isfinite(last));
  CHECK(last > first);  // rollout 0 has a positive advantage: its likelihood still rises
}
