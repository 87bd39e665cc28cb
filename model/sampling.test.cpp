// The behaviour log-probs are those of the distribution actually sampled from: top-k 1 gives
// log-prob 0, top-p's recorded log-probs are those of the renormalised nucleus, and the engine's
// records equal the learner's rebuild of the sampler (token_logprobs with a truncation).
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <set>

#include "model/engine.hpp"
#include "model/logprobs.hpp"
#include "model/sampling.hpp"

// LibTorch pulls in glog, whose CHECK would replace Catch2's: include Catch2 last.
#undef CHECK
#include <catch2/catch.hpp>

using namespace aha::model;

TEST_CASE("sampling: with top-k 1 the sampled token's behaviour log-prob is 0") {
  auto logits = torch::tensor({0.0f, 3.0f, 1.0f, 2.0f, 2.9f}).unsqueeze(0);  // [1, V]
  auto gen = at::detail::createCPUGenerator(5);
  sampling_params p;
  p.temperature = 1.3;
  p.top_k = 1;
  for (int i = 0; i < 10; ++i) {
    auto [token, logp] = sample_step(logits, p, gen);
    CHECK(token.item<int64_t>() == 1);
    CHECK(logp.item<float>() == Approx(0.0).margin(1e-6));
  }
}

TEST_CASE("sampling: with top-p the recorded log-probs are those of the renormalised nucleus") {
  // Probabilities at temperature 1: softmax(0, 3, 1, 2) = 0.032, 0.644, 0.087, 0.237.
  auto logits = torch::tensor({0.0f, 3.0f, 1.0f, 2.0f}).unsqueeze(0);  // [1, V]
  auto gen = at::detail::createCPUGenerator(9);
  sampling_params p;
  p.top_p = 0.85;  // keeps tokens 1 and 3 (0.644 + 0.237 >= 0.85)
  const double kept = std::exp(3.0) + std::exp(2.0);
  std::set<int64_t> seen;
  for (int i = 0; i < 60; ++i) {
    auto [token, logp] = sample_step(logits, p, gen);
    auto t = token.item<int64_t>();
    seen.insert(t);
    REQUIRE((t == 1 || t == 3));
    CHECK(logp.item<float>() == Approx(std::log(std::exp(t == 1 ? 3.0 : 2.0) / kept)).margin(1e-5));
  }
  CHECK(seen.size() == 2);
  // Sum check: the sampler's probabilities add up to 1 over the nucleus, 0 outside it.
  auto q = sampler_log_softmax(logits, 1.0, {0, 0.85}).exp()[0];  // [V]
  CHECK(q.sum().item<double>() == Approx(1.0).margin(1e-6));
  CHECK(q[0].item<float>() == 0.0f);
  CHECK(q[2].item<float>() == 0.0f);
  // top-p after top-k works on the top-k-renormalised mass: top-k 2 leaves {1: 0.731, 3: 0.269},
  // so top-p 0.7 keeps token 1 alone (without renormalisation 0.644 < 0.7 would keep both).
  auto both = sampler_log_softmax(logits, 1.0, {2, 0.7}).exp()[0];
  CHECK(both[1].item<float>() == Approx(1.0f));
  CHECK(both[3].item<float>() == 0.0f);
}

TEST_CASE("sampling: the engine's behaviour log-probs equal the learner's rebuild of the sampler") {
  model_config c = tiny_config(64);
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 2;
  c.head_dim = 8;
  transformer m(c);
  m->init_weights(13);
  engine e(m, 2, 40);
  sampling_params p;
  p.temperature = 0.8;
  p.top_k = 20;
  p.top_p = 0.9;
  p.max_new_tokens = 12;
  p.seed = 4;
  std::vector<int32_t> prompt{1, 2, 3};
  auto out = e.generate({prompt}, p);
  REQUIRE(out.ok());
  const auto& sampled = out->at(0);
  std::vector<int64_t> seq(prompt.begin(), prompt.end());
  seq.insert(seq.end(), sampled.tokens.begin(), sampled.tokens.end());
  torch::NoGradGuard no_grad;
  sampler_truncation truncation{p.top_k, p.top_p};
  auto lp = token_logprobs(m, torch::tensor(seq).unsqueeze(0), {}, p.temperature, false, &truncation);
  double truncated_below_full = 0;
  for (size_t i = 0; i < sampled.tokens.size(); ++i) {
    const auto column = static_cast<int64_t>(prompt.size() - 1 + i);
    CHECK(sampled.logprobs[i] == Approx(lp.sampler_logprobs[0][column].item<float>()).margin(1e-4));
    // Renormalising a truncated distribution raises every kept token's log-prob (or keeps it).
    CHECK(lp.sampler_logprobs[0][column].item<float>() >= lp.logprobs[0][column].item<float>() - 1e-5f);
    truncated_below_full += lp.sampler_logprobs[0][column].item<float>() - lp.logprobs[0][column].item<float>();
  }
  CHECK(truncated_below_full > 0);  // the truncation changed something: the test compares two different numbers
}
