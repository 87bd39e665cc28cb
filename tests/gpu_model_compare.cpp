// GPU half of the model layer's tests: the policy on CUDA must compute what it computes on the
// CPU — token_logprobs over a padded batch, greedy engine output (left padding, KV cache), SFT
// and GRPO steps of the learner (losses, gradient norms, weights after the steps, with a KL
// reference), and checkpoints written from the GPU (weights, optimizer state) read back on the CPU.
// A plain program registered with CTest (label gpu): exit 77 = skipped (no CUDA device, or a
// CPU-only LibTorch), 0 = pass, 1 = a mismatch (each printed with its numbers).
#include <torch/cuda.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "actors/policy_trainer.hpp"
#include "model/engine.hpp"
#include "model/hf_checkpoint.hpp"
#include "model/logprobs.hpp"

namespace {

using namespace aha;

int failures = 0;

void expect(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  std::fflush(stdout);
  failures += !ok;
}

std::string fmt(const char* format, double a, double b = 0) {
  char buffer[256];
  std::snprintf(buffer, sizeof buffer, format, a, b);
  return buffer;
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.detach().to(torch::kCPU) - b.detach().to(torch::kCPU)).abs().max().item<double>();
}

double rel_diff(double a, double b) { return std::fabs(a - b) / std::max(1e-6, std::max(std::fabs(a), std::fabs(b))); }

model::model_config small_config() {
  model::model_config c = model::tiny_config(64);
  c.num_hidden_layers = 2;
  c.max_position_embeddings = 128;
  return c;
}

// The same weights on both devices. Scaled-up weights give peaked distributions, so greedy
// decoding has no near-ties that rounding on another device could flip.
std::pair<model::transformer, model::transformer> twin_models(uint64_t seed, double scale) {
  model::transformer cpu(small_config());
  cpu->init_weights(seed);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : cpu->named_parameters(true))
      if (p.key().find("norm") == std::string::npos) p.value().mul_(scale);
  }
  model::transformer gpu(small_config());
  gpu->to(torch::kCUDA);
  model::copy_weights(gpu, cpu);
  return {cpu, gpu};
}

std::vector<std::vector<int32_t>> random_sequences(int n, int min_len, int max_len, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> id(3, 63);
  std::uniform_int_distribution<int> len(min_len, max_len);
  std::vector<std::vector<int32_t>> out(n);
  for (auto& s : out) {
    s.resize(len(rng));
    for (auto& t : s) t = id(rng);
  }
  return out;
}

void compare_logprobs() {
  auto [cpu, gpu] = twin_models(11, 1.0);
  auto ids = torch::randint(3, 64, {6, 40}, torch::kInt64);
  auto mask = torch::ones({6, 40}, torch::kBool);
  mask.narrow(1, 0, 7).narrow(0, 0, 2).fill_(false);    // left padding
  mask.narrow(1, 30, 10).narrow(0, 2, 2).fill_(false);  // right padding
  torch::NoGradGuard no_grad;
  auto a = model::token_logprobs(cpu, ids, mask, 0.7, true);
  auto b = model::token_logprobs(gpu, ids.to(torch::kCUDA), mask.to(torch::kCUDA), 0.7, true);
  expect(b.logprobs.is_cuda(), "token_logprobs runs on the model's device");
  const double d = max_abs_diff(a.logprobs, b.logprobs), e = max_abs_diff(a.entropy, b.entropy);
  expect(d < 1e-4 && e < 1e-4, fmt("token_logprobs CPU vs CUDA: max |d logprob| %.2e, |d entropy| %.2e", d, e));
}

void compare_engine() {
  auto [cpu, gpu] = twin_models(12, 6.0);
  cpu->eval();
  gpu->eval();
  auto prompts = random_sequences(5, 3, 17, 5);
  model::sampling_params greedy;
  greedy.temperature = 0;
  greedy.max_new_tokens = 40;
  model::engine on_cpu(cpu, 5, 64), on_gpu(gpu, 5, 64);
  auto a = on_cpu.generate(prompts, greedy);
  auto b = on_gpu.generate(prompts, greedy);
  expect(a && b, "engine generates on both devices");
  if (!a || !b) return;
  int same_rows = 0;
  double worst = 0;
  for (size_t r = 0; r < prompts.size(); ++r) {
    same_rows += (*a)[r].tokens == (*b)[r].tokens;
    for (size_t t = 0; t < std::min((*a)[r].logprobs.size(), (*b)[r].logprobs.size()); ++t)
      worst = std::max(worst, static_cast<double>(std::fabs((*a)[r].logprobs[t] - (*b)[r].logprobs[t])));
  }
  expect(same_rows == static_cast<int>(prompts.size()),
         fmt("engine greedy CPU vs CUDA: %.0f of 5 rows token-identical", same_rows));
  expect(worst < 1e-3, fmt("engine greedy log-probs: max |d| %.2e", worst));
  // A stop token that finishes rows mid-way (the CUDA engine reads tokens back every few steps).
  greedy.stop_token_ids = {(*a)[0].tokens.at(10)};
  auto sa = on_cpu.generate(prompts, greedy), sb = on_gpu.generate(prompts, greedy);
  bool stops_match = sa && sb;
  int stopped = 0;
  for (size_t r = 0; stops_match && r < prompts.size(); ++r) {
    stops_match = (*sa)[r].tokens == (*sb)[r].tokens && (*sa)[r].finish == (*sb)[r].finish;
    stopped += (*sb)[r].finish == model::finish_reason::stop_token;
  }
  expect(stops_match && stopped > 0, fmt("engine greedy with a stop token: CPU and CUDA agree (%.0f rows stopped)", stopped));
  // Sampling on CUDA: seeded (same seed -> same tokens), and a different seed differs.
  model::sampling_params sample;
  sample.temperature = 1.0;
  sample.top_p = 0.9;
  sample.top_k = 20;
  sample.max_new_tokens = 32;
  sample.seed = 4;
  auto s1 = on_gpu.generate(prompts, sample), s2 = on_gpu.generate(prompts, sample);
  sample.seed = 5;
  auto s3 = on_gpu.generate(prompts, sample);
  bool same = true, differs = false;
  for (size_t r = 0; r < prompts.size(); ++r) {
    same = same && (*s1)[r].tokens == (*s2)[r].tokens;
    differs = differs || (*s1)[r].tokens != (*s3)[r].tokens;
  }
  expect(same && differs, "engine sampling on CUDA is seeded (same seed same tokens, other seed other tokens)");
}

protocol::learner_batch synthetic_batch(uint32_t seed) {
  protocol::learner_batch batch;
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(-2.5f, 0.3f);
  for (int g = 0; g < 2; ++g) {
    protocol::scored_group group;
    auto prompt = random_sequences(1, 4, 9, seed * 7 + g)[0];
    auto completions = random_sequences(4, 2, 14, seed * 13 + g);
    for (int i = 0; i < 4; ++i) {
      protocol::rollout r;
      r.prompt_tokens = prompt;
      r.completion_tokens = completions[i];
      for (size_t j = 0; j < completions[i].size(); ++j) r.behaviour_logprobs.push_back(noise(rng));
      group.rollouts.push_back(r);
      group.advantages.push_back(i % 2 ? -1.0f : 1.0f);
    }
    group.verdicts.resize(4);
    group.rewards.assign(4, 0.0f);
    batch.groups.push_back(group);
  }
  return batch;
}

void compare_training() {
  auto [cpu, gpu] = twin_models(13, 1.0);
  actors::trainer_config config;
  config.optimizer.lr = 1e-3;
  config.micro_batches = 2;
  config.loss.kl_beta = 0.05;  // a frozen reference on the policy's device
  actors::policy_trainer on_cpu(cpu, config, 0), on_gpu(gpu, config, 0);
  auto examples = random_sequences(6, 3, 20, 21);
  std::vector<actors::sft_example> sft;
  for (size_t i = 0; i + 1 < examples.size(); i += 2) sft.push_back({examples[i], examples[i + 1]});
  double worst_loss = 0, worst_norm = 0;
  for (int step = 0; step < 3; ++step) {
    auto a = on_cpu.sft_step(sft), b = on_gpu.sft_step(sft);
    worst_loss = std::max(worst_loss, rel_diff(a["sft/loss"], b["sft/loss"]));
    worst_norm = std::max(worst_norm, rel_diff(a["sft/grad_norm"], b["sft/grad_norm"]));
  }
  expect(worst_loss < 1e-4 && worst_norm < 1e-3,
         fmt("3 SFT steps CPU vs CUDA: loss rel diff %.2e, grad norm rel diff %.2e", worst_loss, worst_norm));
  on_cpu.begin_stage(config);
  on_gpu.begin_stage(config);
  worst_loss = worst_norm = 0;
  double worst_kl = 0;
  for (int step = 0; step < 3; ++step) {
    auto batch = synthetic_batch(30 + step);
    auto a = on_cpu.grpo_step(batch), b = on_gpu.grpo_step(batch);
    worst_loss = std::max(worst_loss, std::fabs(a["grpo/loss"] - b["grpo/loss"]));
    worst_norm = std::max(worst_norm, rel_diff(a["grpo/grad_norm"], b["grpo/grad_norm"]));
    worst_kl = std::max(worst_kl, std::fabs(a["grpo/kl"] - b["grpo/kl"]));
    std::printf("     grpo step %d: loss cpu %.6f cuda %.6f, grad norm cpu %.6f cuda %.6f\n", step, a["grpo/loss"],
                b["grpo/loss"], a["grpo/grad_norm"], b["grpo/grad_norm"]);
  }
  expect(worst_loss < 1e-4 && worst_norm < 1e-3 && worst_kl < 1e-5,
         fmt("3 GRPO steps CPU vs CUDA: |d loss| %.2e, grad norm rel diff %.2e", worst_loss, worst_norm));
  double worst_weight = 0;
  auto pa = model::named_parameters(on_cpu.policy()), pb = model::named_parameters(on_gpu.policy());
  for (size_t i = 0; i < pa.size(); ++i) worst_weight = std::max(worst_weight, max_abs_diff(pa[i].second, pb[i].second));
  // Adam divides by sqrt(v): a gradient that is rounding noise on both devices still moves a
  // weight by up to lr per step, so the bound is steps x lr, not float epsilon.
  expect(worst_weight < 6 * config.optimizer.lr, fmt("weights after 6 steps: max |d| %.2e (lr %.0e)", worst_weight, config.optimizer.lr));
  expect(on_gpu.snapshot(1)->parameters.front().second.is_cuda(), "snapshot stays on the policy's device");

  // Checkpoints written from the GPU read back on the CPU.
  const auto dir = std::filesystem::temp_directory_path() / "aha_gpu_model_compare";
  std::filesystem::remove_all(dir);
  auto saved = model::save_pretrained(on_gpu.policy(), dir.string());
  auto loaded = model::load_pretrained(dir.string());
  expect(saved && loaded, "save_pretrained from CUDA, load_pretrained on the CPU");
  if (loaded) {
    double d = 0;
    auto pl = model::named_parameters(*loaded);
    for (size_t i = 0; i < pl.size(); ++i) d = std::max(d, max_abs_diff(pl[i].second, pb[i].second));
    expect(d == 0, fmt("checkpoint weights round-trip exactly: max |d| %.2e", d));
  }
  const std::string opt_path = (dir / "optimizer.pt").string();
  auto opt_saved = on_gpu.optimizer().save(opt_path);
  model::transformer cpu_again(small_config());
  actors::policy_trainer resumed(cpu_again, config, 0);
  auto opt_loaded = resumed.optimizer().load(opt_path);
  expect(opt_saved && opt_loaded, std::string("optimizer state saved on CUDA loads on the CPU") +
                                      (opt_loaded ? "" : ": " + opt_loaded.error().message));
  if (opt_loaded) {
    expect(resumed.optimizer().steps_taken() == on_gpu.optimizer().steps_taken(), "optimizer step count round-trips");
    // A step with the loaded state runs on the CPU (the state tensors are on the parameters' device).
    auto m = resumed.grpo_step(synthetic_batch(40));
    expect(std::isfinite(m["grpo/loss"]), "a GRPO step after loading the CUDA optimizer state on the CPU");
  }
  std::filesystem::remove_all(dir);
}

}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // each line reaches CTest's log even if a later step crashes
  if (!torch::cuda::is_available()) {
    std::printf("gpu_model_compare: no usable GPU (or a CPU-only LibTorch), skipped\n");
    return 77;
  }
  torch::manual_seed(0);
  compare_logprobs();
  compare_engine();
  compare_training();
  std::printf("gpu_model_compare: %d failure(s)\n", failures);
  return failures == 0 ? 0 : 1;
}
