// Learning tests: GRPO must teach. The built-in tiny model is cold-started by SFT on arithmetic
// demonstrations, then trained by GRPO steps on its own samples, graded by the built-in math
// reward. A synchronous loop (sample -> grade -> advantages -> step) isolates the learning rule
// from the actors: if these fail, the loss, the advantages or the log-prob bookkeeping is wrong.
//
// Why a fixed prompt set: on the built-in arithmetic task the tiny model's skill is recall of
// facts, one per question. A GRPO step on fresh questions barely transfers to other questions
// (measured: sampled accuracy stays flat over 60 steps at lr 3e-4 and falls at 1e-3), while the
// same steps on revisited questions raise it clearly. This test pins the latter.

#include <iostream>
#include <numeric>

#include "actors/advantages.hpp"
#include "actors/generator.hpp"
#include "actors/policy_trainer.hpp"
#include "actors/reward_workers.hpp"
#include "actors/tasks/dataset.hpp"
#include "model/char_tokenizer.hpp"
#include "model/engine.hpp"
#include "model/runtime.hpp"

// LibTorch pulls in glog, whose CHECK would replace Catch2's: include Catch2 last.
#undef CHECK
#include <catch2/catch.hpp>

namespace {

using namespace aha;
using namespace aha::actors;

// The tiny model, its trainer and sampling engine, and the arithmetic task.
struct tiny_lab {
  std::shared_ptr<model::char_tokenizer> tokenizer = std::make_shared<model::char_tokenizer>();
  model::transformer policy{nullptr};
  std::unique_ptr<policy_trainer> trainer;
  std::unique_ptr<model::engine> engine;
  std::unique_ptr<tasks::prompt_dataset> train;
  std::vector<reward_spec> rewards;

  explicit tiny_lab(std::uint64_t seed, const tasks::dataset_config& data) {
    model::seed_everything(seed);
    policy = model::transformer(model::tiny_config(tokenizer->vocab_size()));
    policy->init_weights(seed);
    trainer_config sft;
    sft.optimizer.lr = 3e-3;
    sft.optimizer.warmup_steps = 20;
    sft.entropy = false;
    trainer = std::make_unique<policy_trainer>(policy, sft, tokenizer->pad_id());
    engine = std::make_unique<model::engine>(policy, 128, 96);
    auto opened = tasks::open_dataset(data, tasks::split::train);
    REQUIRE(opened.ok());
    train = std::move(*opened);
    auto specs = make_builtin_rewards(reward_config{}, nullptr);
    REQUIRE(specs.ok());
    rewards = *specs;
  }

  void sft(std::uint64_t steps, std::uint32_t batch_size, std::uint64_t seed) {
    tasks::sample_rng order(seed, tasks::split::train, 0x5f7);
    for (std::uint64_t step = 0; step < steps; ++step) {
      std::vector<sft_example> batch;
      while (batch.size() < batch_size) {
        auto sample = train->at(order.next() % train->size());
        auto completion = tokenizer->encode(sample.demonstration);
        completion.push_back(tokenizer->eos_id());
        batch.push_back({prompt_tokens(*tokenizer, sample.prompt.text), std::move(completion)});
      }
      trainer->sft_step(batch);
    }
  }

  // G samples of each prompt, graded: one scored group per prompt (accuracy in [0, 1] by reward total).
  std::vector<protocol::scored_group> sample_groups(const std::vector<protocol::prompt>& prompts, std::uint32_t group_size,
                                                    double temperature, std::uint64_t seed, double& accuracy) {
    std::vector<std::vector<std::int32_t>> rows;
    for (const auto& p : prompts) {
      for (std::uint32_t g = 0; g < group_size; ++g) rows.push_back(prompt_tokens(*tokenizer, p.text));
    }
    model::sampling_params params;
    params.temperature = temperature;
    params.max_new_tokens = 40;
    params.seed = seed;
    add_stop_criteria(params, *tokenizer, {"</answer>"});
    auto completions = engine->generate(rows, params, tokenizer.get());
    REQUIRE(completions.ok());
    std::vector<protocol::scored_group> groups;
    double correct = 0;
    for (std::size_t i = 0; i < prompts.size(); ++i) {
      std::vector<model::completion> mine(completions->begin() + i * group_size,
                                          completions->begin() + (i + 1) * group_size);
      protocol::scored_group g;
      g.source = prompts[i];
      g.rollouts = make_rollouts(prompts[i], rows[i * group_size], mine, *tokenizer, 0, "lab", 0);
      for (const auto& r : g.rollouts) {
        float total = 0;
        for (const auto& spec : rewards) {
          if (!spec.applies_to(prompts[i].task)) continue;
          auto c = spec.fn(prompts[i], r);
          total += spec.weight * c.value;
          if (spec.kind == protocol::reward_kind::accuracy) correct += c.value;
        }
        g.rewards.push_back(total);
      }
      g.advantages = group_advantages(g.rewards, {});
      groups.push_back(std::move(g));
    }
    accuracy = correct / static_cast<double>(prompts.size() * group_size);
    return groups;
  }
};

}  // namespace

TEST_CASE("learning: GRPO raises the sampled accuracy of an SFT'd tiny model on a fixed prompt set", "[learning]") {
  model::set_threads(1);  // one thread: the run is deterministic on a given machine
  tasks::dataset_config data;
  data.tasks = {"arithmetic"};
  tiny_lab lab(7, data);
  lab.sft(300, 32, 7);  // partly competent: about 5% of samples are right

  std::vector<protocol::prompt> prompts;
  for (std::uint64_t i = 0; i < 8; ++i) {
    prompts.push_back(lab.train->at(1000 + i).prompt);
    prompts.back().id = i;
  }
  trainer_config rl;
  rl.optimizer.lr = 3e-4;
  rl.optimizer.warmup_steps = 0;
  lab.trainer->begin_stage(rl);

  const int steps = 30;
  std::vector<double> accuracy;
  for (int step = 0; step < steps; ++step) {
    double acc = 0;
    protocol::learner_batch batch;
    batch.groups = lab.sample_groups(prompts, 8, 1.0, 100 + step, acc);
    accuracy.push_back(acc);
    auto metrics = lab.trainer->grpo_step(batch);
    std::cout << "grpo step " << step << ": sampled accuracy " << acc << ", entropy " << metrics["grpo/entropy"] << "\n";
  }
  const double first = std::accumulate(accuracy.begin(), accuracy.begin() + 5, 0.0) / 5;
  const double last = std::accumulate(accuracy.end() - 5, accuracy.end(), 0.0) / 5;
  INFO("accuracy of the first 5 steps " << first << ", of the last 5 " << last);
  // Measured here: 0.11 -> 0.42 (each step's accuracy is a noisy estimate over 64 samples).
  CHECK(last > first + 0.15);
}
