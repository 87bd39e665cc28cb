// GRPO/SFT loss values and gradients against hand-computed numbers.
#include "model/grpo_loss.hpp"

#include <cmath>

// LibTorch pulls in glog, whose CHECK would replace Catch2's: include Catch2 last.
#undef CHECK
#include <catch2/catch.hpp>

using namespace aha::model;

namespace {

at::Tensor t(std::vector<float> values, std::vector<int64_t> shape) {
  return at::tensor(values).reshape(shape);
}

grpo_loss_inputs on_policy(at::Tensor logprobs, at::Tensor advantages, at::Tensor mask) {
  grpo_loss_inputs in;
  in.logprobs = logprobs;
  in.proximal_logprobs = logprobs.detach().clone();
  in.behaviour_logprobs = logprobs.detach().clone();
  in.advantages = advantages;
  in.mask = mask;
  return in;
}

}  // namespace

TEST_CASE("grpo loss: on-policy, the loss is -mean(A) over tokens and the gradient is -A/N per token") {
  at::Tensor logprobs = t({-1.0f, -2.0f, -0.5f, -3.0f}, {2, 2}).requires_grad_(true);
  auto in = on_policy(logprobs, t({1.0f, -0.5f}, {2}), t({1, 1, 1, 0}, {2, 2}));
  auto out = grpo_loss(in, grpo_loss_config{});
  // Tokens: A = 1, 1, -0.5 (the 4th is padding); token mean = -(1 + 1 - 0.5) / 3.
  CHECK(out.loss.item<double>() == Approx(-0.5));
  out.loss.backward();
  auto grad = logprobs.grad();
  CHECK(grad[0][0].item<double>() == Approx(-1.0 / 3));
  CHECK(grad[1][0].item<double>() == Approx(0.5 / 3));
  CHECK(grad[1][1].item<double>() == Approx(0.0));
  CHECK(out.clip_fraction == 0.0);
  CHECK(out.ratio_mean == Approx(1.0));
}

TEST_CASE("grpo loss: sequence mean weighs each sequence equally") {
  at::Tensor logprobs = t({-1.0f, -1.0f, -1.0f, -1.0f}, {2, 2});
  auto in = on_policy(logprobs, t({1.0f, -1.0f}, {2}), t({1, 1, 1, 0}, {2, 2}));
  grpo_loss_config config;
  config.aggregation = loss_aggregation::sequence_mean;
  CHECK(grpo_loss(in, config).loss.item<double>() == Approx(0.0));
  config.aggregation = loss_aggregation::token_mean;
  CHECK(grpo_loss(in, config).loss.item<double>() == Approx(-1.0 / 3));
}

TEST_CASE("grpo loss: ratios beyond the asymmetric clip range stop the gradient") {
  // Ratio e^0.5 = 1.65 > 1.28 with A > 0: clipped. Ratio e^-0.5 = 0.61 < 0.8 with A < 0: clipped.
  at::Tensor logprobs = t({-0.5f, -1.5f}, {2, 1}).requires_grad_(true);
  grpo_loss_inputs in = on_policy(logprobs, t({1.0f, -1.0f}, {2}), t({1, 1}, {2, 1}));
  in.proximal_logprobs = t({-1.0f, -1.0f}, {2, 1});
  in.behaviour_logprobs = in.proximal_logprobs.clone();
  auto out = grpo_loss(in, grpo_loss_config{});
  CHECK(out.clip_fraction == Approx(1.0));
  // -(1.28 * 1 + 0.8 * -1) / 2
  CHECK(out.loss.item<double>() == Approx(-(1.28 - 0.8) / 2));
  out.loss.backward();
  CHECK(logprobs.grad().abs().sum().item<double>() == Approx(0.0));
}

TEST_CASE("grpo loss: stale tokens are reweighted by the truncated pi_prox / pi_behaviour") {
  at::Tensor logprobs = t({-1.0f, -1.0f}, {1, 2}).requires_grad_(true);
  grpo_loss_inputs in = on_policy(logprobs, t({1.0f}, {1}), t({1, 1}, {1, 2}));
  in.behaviour_logprobs = t({-1.0f - std::log(2.0f), -1.0f - std::log(100.0f)}, {1, 2});
  grpo_loss_config config;
  config.behaviour_weight_cap = 5;
  auto out = grpo_loss(in, config);
  CHECK(out.importance_weight == Approx((2.0 + 5.0) / 2));
  CHECK(out.loss.item<double>() == Approx(-(2.0 + 5.0) / 2));
  config.behaviour_weight_cap = 0;  // correction off: plain on-policy surrogate
  CHECK(grpo_loss(in, config).loss.item<double>() == Approx(-1.0));
}

TEST_CASE("grpo loss: the k3 KL term is zero at the reference and positive away from it") {
  at::Tensor logprobs = t({-1.0f, -2.0f}, {1, 2});
  grpo_loss_inputs in = on_policy(logprobs, t({0.0f}, {1}), t({1, 1}, {1, 2}));
  in.reference_logprobs = logprobs.clone();
  grpo_loss_config config;
  config.kl_beta = 0.5;
  CHECK(grpo_loss(in, config).kl == Approx(0.0));
  in.reference_logprobs = t({-1.5f, -2.0f}, {1, 2});
  auto out = grpo_loss(in, config);
  double k3 = std::exp(-0.5) + 0.5 - 1.0;
  CHECK(out.kl == Approx(k3 / 2));
  CHECK(out.loss.item<double>() == Approx(0.5 * k3 / 2));
}

TEST_CASE("sft loss: mean negative log-likelihood over masked tokens") {
  CHECK(sft_loss(t({-1.0f, -3.0f, -9.0f}, {1, 3}), t({1, 1, 0}, {1, 3})).item<double>() == Approx(2.0));
}

TEST_CASE("grpo loss: under 'mask' a token past the behaviour-weight cap passes no gradient and keeps its normaliser place") {
  // Token 0: pi_prox / pi_behaviour = 2 (under the cap). Token 1: 100 (over the cap of 5).
  at::Tensor logprobs = t({-1.0f, -1.0f}, {1, 2}).requires_grad_(true);
  grpo_loss_inputs in = on_policy(logprobs, t({1.0f}, {1}), t({1, 1}, {1, 2}));
  in.behaviour_logprobs = t({-1.0f - std::log(2.0f), -1.0f - std::log(100.0f)}, {1, 2});
  grpo_loss_config config;
  config.behaviour_weight_cap = 5;
  config.behaviour_weight_over_cap = over_cap_policy::mask;
  auto out = grpo_loss(in, config);
  CHECK(out.loss.item<double>() == Approx(-2.0 / 2));  // token 1 adds 0 but still divides by 2 tokens
  CHECK(out.over_cap_fraction == Approx(0.5));
  CHECK(out.masked_fraction == Approx(0.5));
  CHECK(out.importance_weight == Approx((2.0 + 0.0) / 2));
  CHECK(out.importance_weight_deviation == Approx((1.0 + 99.0) / 2));
  out.loss.backward();
  CHECK(logprobs.grad()[0][0].item<double>() == Approx(-2.0 / 2));
  CHECK(logprobs.grad()[0][1].item<double>() == 0.0);
  // The same tokens under 'truncate': the over-cap token trains with weight 5.
  at::Tensor again = t({-1.0f, -1.0f}, {1, 2}).requires_grad_(true);
  in.logprobs = again;
  config.behaviour_weight_over_cap = over_cap_policy::truncate;
  auto truncated = grpo_loss(in, config);
  CHECK(truncated.masked_fraction == 0.0);
  CHECK(truncated.over_cap_fraction == Approx(0.5));
  truncated.loss.backward();
  CHECK(again.grad()[0][1].item<double>() == Approx(-5.0 / 2));
}

TEST_CASE("grpo loss: the behaviour weight's numerator is the proximal sampler's log-prob when given") {
  at::Tensor logprobs = t({-1.0f}, {1, 1});
  grpo_loss_inputs in = on_policy(logprobs, t({1.0f}, {1}), t({1}, {1, 1}));
  // A top-p sampler kept half the mass: both it and the behaviour record log q = log p + log 2.
  in.proximal_sampler_logprobs = t({-1.0f + std::log(2.0f)}, {1, 1});
  in.behaviour_logprobs = in.proximal_sampler_logprobs.clone();
  auto out = grpo_loss(in, grpo_loss_config{});
  CHECK(out.importance_weight == Approx(1.0));  // on-policy: 1, not the kept mass 0.5
  CHECK(out.ratio_mean == Approx(1.0));
}
