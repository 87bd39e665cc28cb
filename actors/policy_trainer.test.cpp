// The trainer learns: SFT raises the likelihood of a demonstration, a GRPO step raises the
// log-prob of positively-advantaged completions and lowers negative ones; snapshots round-trip.
#include "actors/policy_trainer.hpp"

#include "model/logprobs.hpp"

// LibTorch pulls in glog, whose CHECK would replace Catch2's: include Catch2 last.
#undef CHECK
#include <catch2/catch.hpp>

using namespace aha;

namespace {

model::transformer tiny_policy(std::uint64_t seed) {
  model::model_config config = model::tiny_config(32);
  config.num_hidden_layers = 1;
  config.hidden_size = 32;
  config.intermediate_size = 64;
  config.num_attention_heads = 2;
  config.num_key_value_heads = 1;
  config.head_dim = 16;
  config.max_position_embeddings = 64;
  model::transformer policy(config);
  policy->init_weights(seed);
  return policy;
}

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
  actors::policy_trainer trainer(tiny_policy(1), config, 0);
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
  actors::policy_trainer trainer(tiny_policy(2), config, 0);
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
  actors::policy_trainer trainer(tiny_policy(3), actors::trainer_config{}, 0);
  auto snapshot = trainer.snapshot(5);
  CHECK(snapshot->version == 5);
  model::transformer replica = tiny_policy(4);
  std::vector<std::int32_t> prompt{1, 5}, completion{6, 2};
  CHECK(completion_logprob(replica, prompt, completion) != completion_logprob(trainer.policy(), prompt, completion));
  actors::load_snapshot(replica, *snapshot);
  CHECK(completion_logprob(replica, prompt, completion) == completion_logprob(trainer.policy(), prompt, completion));
  model::transformer other(model::tiny_config(40));
  CHECK_THROWS(actors::load_snapshot(other, *snapshot));
}
