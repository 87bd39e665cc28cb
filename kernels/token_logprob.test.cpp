// CPU half of the token_logprob comparator: the reference against a direct log-softmax on
// small hand-checkable rows and on random rows (tolerance 1e-5).

#include <cmath>
#include <random>
#include <vector>

#include "kernels/token_logprob.hpp"

// LibTorch pulls in glog, whose CHECK would replace Catch2's: include Catch2 last.
#undef CHECK
#include <catch2/catch.hpp>

using aha::kernels::token_logprob_cpu;

TEST_CASE("token_logprob_cpu: uniform logits give -log V and entropy log V") {
  std::vector<float> logits(8, 0.5f);
  int32_t target = 3;
  float lp = 0, h = 0;
  token_logprob_cpu(logits.data(), &target, 1, 8, 0.7f, &lp, &h);
  CHECK(lp == Approx(-std::log(8.0)).margin(1e-6));
  CHECK(h == Approx(std::log(8.0)).margin(1e-6));
}

TEST_CASE("token_logprob_cpu: matches a direct log-softmax at a temperature") {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.f, 4.f);
  const int64_t n = 5, v = 300;
  std::vector<float> logits(n * v);
  for (auto& x : logits) x = normal(rng);
  std::vector<int32_t> targets{0, 17, 299, 150, 42};
  std::vector<float> lp(n), h(n);
  const float t = 1.3f;
  token_logprob_cpu(logits.data(), targets.data(), n, v, t, lp.data(), h.data());
  for (int64_t r = 0; r < n; ++r) {
    double z = 0;
    for (int64_t i = 0; i < v; ++i) z += std::exp(logits[r * v + i] / t);
    double entropy = 0;
    for (int64_t i = 0; i < v; ++i) {
      const double p = std::exp(logits[r * v + i] / t) / z;
      entropy -= p * std::log(p);
    }
    CHECK(lp[r] == Approx(logits[r * v + targets[r]] / t - std::log(z)).margin(1e-5));
    CHECK(h[r] == Approx(entropy).margin(1e-5));
  }
}
