// `aha bench train-step`: seconds per optimizer step of the learner (actors/policy_trainer.hpp)
// on synthetic batches: a GRPO step (groups x group-size rollouts, random tokens, advantages
// +-1, behaviour log-probs off-policy) and an SFT step on the same sequences, for the tiny and
// ~100M models, on the CPU or CUDA (the policy and its batches live on --device).
// Options: --device cpu|cuda (cpu), --models tiny,100m, --threads N (2), --groups 4,
// --group-size 4, --prompt 64, --completion 192, --steps 3 (timed, after one warm-up step),
// --micro-batches 1. Ends with one JSON line: per model params, sequences, tokens, grpo_step_s,
// sft_step_s (medians), completion tokens/s of the GRPO step.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/cuda.h>

#include "actors/policy_trainer.hpp"
#include "cli/command.hpp"
#include "model/runtime.hpp"

namespace {

using nlohmann::json;
using namespace aha;
using clock_type = std::chrono::steady_clock;

struct step_setup {
  torch::Device device = torch::kCPU;
  int64_t groups = 4, group_size = 4, prompt = 64, completion = 192, steps = 3;
  uint32_t micro_batches = 1;
};

protocol::learner_batch synthetic_batch(const step_setup& s, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> id(3, static_cast<int32_t>(vocab - 1));
  std::normal_distribution<float> behaviour(-2.0f, 0.5f);
  protocol::learner_batch batch;
  for (int64_t g = 0; g < s.groups; ++g) {
    protocol::scored_group group;
    std::vector<int32_t> prompt(s.prompt);
    for (auto& t : prompt) t = id(rng);
    for (int64_t i = 0; i < s.group_size; ++i) {
      protocol::rollout r;
      r.prompt_tokens = prompt;
      r.completion_tokens.resize(s.completion - (i % 4) * (s.completion / 8));  // lengths differ: padding
      for (auto& t : r.completion_tokens) t = id(rng), r.behaviour_logprobs.push_back(behaviour(rng));
      group.rollouts.push_back(std::move(r));
      group.advantages.push_back(i % 2 ? -1.0f : 1.0f);
    }
    group.verdicts.resize(s.group_size);
    group.rewards.assign(s.group_size, 0.0f);
    batch.groups.push_back(std::move(group));
  }
  return batch;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

json bench_model(const std::string& name, const model::model_config& config, const step_setup& s) {
  model::transformer policy(config);
  policy->init_weights(1);
  policy->to(s.device);
  actors::trainer_config tc;
  tc.optimizer.lr = 1e-5;
  tc.micro_batches = s.micro_batches;
  actors::policy_trainer trainer(policy, tc, 0);
  auto batch = synthetic_batch(s, config.vocab_size, 7);
  std::vector<actors::sft_example> sft;
  int64_t completion_tokens = 0;
  for (const auto& g : batch.groups)
    for (const auto& r : g.rollouts) {
      sft.push_back({r.prompt_tokens, r.completion_tokens});
      completion_tokens += static_cast<int64_t>(r.completion_tokens.size());
    }
  // Each step ends in .item() reads of its metrics, which wait for the device.
  auto timed = [&](auto&& step) {
    step();  // warm-up: allocator, cuBLAS handles, Adam state
    std::vector<double> times;
    for (int64_t i = 0; i < s.steps; ++i) {
      const auto start = clock_type::now();
      step();
      times.push_back(std::chrono::duration<double>(clock_type::now() - start).count());
    }
    return median(times);
  };
  const double grpo_s = timed([&] { (void)trainer.grpo_step(batch); });
  const double sft_s = timed([&] { (void)trainer.sft_step(sft); });
  const auto sequences = static_cast<int64_t>(sft.size());
  std::fprintf(stderr, "%s on %s: %lld params, %lld sequences, %lld completion tokens: GRPO step %.3f s, SFT step %.3f s\n",
               name.c_str(), s.device.str().c_str(), static_cast<long long>(model::parameter_count(config)),
               static_cast<long long>(sequences), static_cast<long long>(completion_tokens), grpo_s, sft_s);
  json r = {{"params", model::parameter_count(config)},
            {"sequences", sequences},
            {"completion_tokens", completion_tokens},
            {"prompt_tokens", s.prompt},
            {"grpo_step_s", grpo_s},
            {"sft_step_s", sft_s},
            {"grpo_tokens_per_s", completion_tokens / grpo_s}};
  return r;
}

int64_t int_option(cli::arguments& args, const char* name, int64_t fallback) {
  auto v = args.option(name);
  return v ? std::stoll(*v) : fallback;
}

int bench_train_step(cli::arguments& args) {
  step_setup s;
  const std::string device = args.option("--device").value_or("cpu");
  const std::string models = args.option("--models").value_or("tiny,100m");
  const int threads = static_cast<int>(int_option(args, "--threads", 2));
  s.groups = int_option(args, "--groups", 4);
  s.group_size = int_option(args, "--group-size", 4);
  s.prompt = int_option(args, "--prompt", 64);
  s.completion = int_option(args, "--completion", 192);
  s.steps = std::max<int64_t>(1, int_option(args, "--steps", 3));
  s.micro_batches = static_cast<uint32_t>(int_option(args, "--micro-batches", 1));
  if (auto unknown = args.unknown_options(); !unknown.empty()) return cli::usage_error("bench train-step", unknown);
  if (device != "cpu" && device != "cuda") return cli::usage_error("bench train-step", "--device is cpu or cuda");
  if (device == "cuda") {
    if (!torch::cuda::is_available()) return cli::usage_error("bench train-step", "--device cuda: LibTorch sees no CUDA device");
    s.device = torch::Device(torch::kCUDA);
  }
  model::tune_malloc();
  model::set_threads(threads);
  json result{{"bench", "train-step"}, {"device", s.device.str()}, {"threads", threads}, {"groups", s.groups},
              {"group_size", s.group_size}, {"micro_batches", s.micro_batches}};
  if (models.find("tiny") != std::string::npos) {
    auto c = model::tiny_config(105);
    c.max_position_embeddings = std::max<int64_t>(c.max_position_embeddings, s.prompt + s.completion);
    result["tiny"] = bench_model("tiny", c, s);
  }
  if (models.find("100m") != std::string::npos) result["m100"] = bench_model("100m", model::bench_100m_config(32000), s);
  std::printf("%s\n", result.dump().c_str());
  return 0;
}

}  // namespace

AHA_COMMAND("bench train-step", "seconds per GRPO / SFT optimizer step of the learner (tiny and ~100M models, CPU or CUDA)",
            bench_train_step);
