// Tests of the transformer, the engine and token_logprobs on small random models:
// KV-cache decoding == full forward, batch independence, padding invariance, sampling rules.
#include "model/char_tokenizer.hpp"
#include "model/engine.hpp"
#include "model/logprobs.hpp"

// LibTorch pulls in glog, whose CHECK would replace Catch2's: include Catch2 last.
#undef CHECK
#include <catch2/catch.hpp>

// After the LibTorch headers: glog (pulled in by LibTorch) also defines CHECK.

using namespace aha::model;

namespace {

model_config small_config(const std::string& type) {
  model_config c = tiny_config(64);
  c.model_type = type;
  c.hidden_size = 32;
  c.intermediate_size = 48;
  c.num_hidden_layers = 2;
  c.head_dim = 8;
  c.attention_bias = type == "qwen2";
  c.tie_word_embeddings = type == "llama";
  return c;
}

transformer random_model(const model_config& c, uint64_t seed) {
  transformer m(c);
  m->init_weights(seed);
  return m;
}

torch::Tensor arange_positions(int64_t B, int64_t T) { return torch::arange(T, torch::kInt64).unsqueeze(0).expand({B, T}); }

}  // namespace

TEST_CASE("transformer: parameter names follow Hugging Face") {
  auto m = random_model(small_config("qwen2"), 1);
  auto names = named_parameters(m);
  REQUIRE(names.front().first == "model.embed_tokens.weight");
  bool has_bias = false, has_head = false;
  for (auto& [name, t] : names) {
    has_bias = has_bias || name == "model.layers.1.self_attn.k_proj.bias";
    has_head = has_head || name == "lm_head.weight";
  }
  CHECK(has_bias);
  CHECK(has_head);
  int64_t total = 0;
  for (auto& [name, t] : names) total += t.numel();
  CHECK(total == parameter_count(m->config()));
}

TEST_CASE("transformer: KV-cache decoding equals the full forward") {
  for (std::string type : {"llama", "qwen2"}) {
    auto c = small_config(type);
    auto m = random_model(c, 2);
    torch::NoGradGuard no_grad;
    auto ids = torch::randint(0, c.vocab_size, {2, 12}, torch::kInt64);
    auto full = m->forward(ids, arange_positions(2, 12));  // [2, 12, V]
    auto cache = make_kv_cache(c, 2, 16);
    auto prefix = m->forward(ids.narrow(1, 0, 5), arange_positions(2, 5), {}, &cache);
    CHECK(torch::allclose(prefix, full.narrow(1, 0, 5), 1e-4, 1e-5));
    for (int64_t t = 5; t < 12; ++t) {
      auto step = m->forward(ids.narrow(1, t, 1), torch::full({2, 1}, t, torch::kInt64), {}, &cache);
      CHECK(torch::allclose(step.squeeze(1), full.select(1, t), 1e-4, 1e-5));
    }
    CHECK(cache.length == 12);
  }
}

TEST_CASE("transformer: left padding does not change a row's logits") {
  auto c = small_config("qwen2");
  auto m = random_model(c, 3);
  torch::NoGradGuard no_grad;
  auto ids = torch::randint(1, c.vocab_size, {1, 6}, torch::kInt64);
  auto alone = m->forward(ids, arange_positions(1, 6));
  auto padded = torch::cat({torch::zeros({1, 3}, torch::kInt64), ids}, 1);  // [1, 9]
  auto mask = torch::cat({torch::zeros({1, 3}, torch::kBool), torch::ones({1, 6}, torch::kBool)}, 1);
  auto out = m->forward(padded, positions_from_mask(mask), mask);
  CHECK(torch::allclose(out.narrow(1, 3, 6), alone, 1e-4, 1e-5));
}

TEST_CASE("transformer: rope scaling changes frequencies as specified") {
  auto c = small_config("llama");
  auto base = rope_inverse_frequencies(c);
  c.scaling.kind = "linear";
  c.scaling.factor = 4.0;
  CHECK(torch::allclose(rope_inverse_frequencies(c), base / 4.0));
  c.scaling = rope_scaling{"llama3", 8.0, 1.0, 4.0, 64};
  auto l3 = rope_inverse_frequencies(c);
  CHECK(l3[0].item<float>() == Approx(base[0].item<float>()));                 // high frequency kept
  CHECK(l3[-1].item<float>() == Approx(base[-1].item<float>() / 8.0).epsilon(1e-5));  // low frequency scaled
}

TEST_CASE("engine: a row's greedy result does not depend on its batch mates") {
  auto c = small_config("qwen2");
  auto m = random_model(c, 4);
  engine e(m, 4, 32);
  sampling_params p;
  p.temperature = 0;
  p.max_new_tokens = 8;
  std::vector<int32_t> a{5, 6, 7}, b{9, 10, 11, 12, 13, 14, 15};
  auto alone = e.generate({a}, p);
  auto both = e.generate({b, a, {3}}, p);
  REQUIRE(alone.ok());
  REQUIRE(both.ok());
  CHECK(alone->at(0).tokens == both->at(1).tokens);
  for (size_t i = 0; i < alone->at(0).logprobs.size(); ++i)
    CHECK(alone->at(0).logprobs[i] == Approx(both->at(1).logprobs[i]).margin(1e-4));
}

TEST_CASE("engine: sampled log-probs equal token_logprobs at the same temperature") {
  auto c = small_config("llama");
  auto m = random_model(c, 5);
  engine e(m, 2, 32);
  sampling_params p;
  p.temperature = 0.7;
  p.max_new_tokens = 10;
  p.seed = 11;
  std::vector<int32_t> prompt{1, 2, 3, 4};
  auto out = e.generate({prompt, prompt}, p);
  REQUIRE(out.ok());
  auto again = e.generate({prompt, prompt}, p);
  CHECK(again->at(0).tokens == out->at(0).tokens);  // seeded determinism
  std::vector<int64_t> seq(prompt.begin(), prompt.end());
  seq.insert(seq.end(), out->at(0).tokens.begin(), out->at(0).tokens.end());
  torch::NoGradGuard no_grad;
  auto lp = token_logprobs(m, torch::tensor(seq).unsqueeze(0), {}, 0.7).logprobs;  // [1, T-1]
  for (size_t i = 0; i < out->at(0).tokens.size(); ++i)
    CHECK(out->at(0).logprobs[i] == Approx(lp[0][prompt.size() - 1 + i].item<float>()).margin(1e-4));
}

TEST_CASE("engine: stop tokens and stop strings end a completion") {
  char_tokenizer tok;
  auto c = small_config("llama");
  c.vocab_size = tok.vocab_size();
  auto m = random_model(c, 6);
  engine e(m, 2, 64);
  sampling_params p;
  p.temperature = 0;
  p.max_new_tokens = 20;
  auto free_run = e.generate({tok.encode("12+3=")}, p);
  REQUIRE(free_run.ok());
  REQUIRE(free_run->at(0).tokens.size() == 20);
  CHECK(free_run->at(0).finish == finish_reason::length);
  // Stop at the third sampled token, by id and by its text.
  p.stop_token_ids = {free_run->at(0).tokens[2]};
  auto by_id = e.generate({tok.encode("12+3=")}, p);
  CHECK(by_id->at(0).finish == finish_reason::stop_token);
  CHECK(by_id->at(0).tokens.size() <= 3);
  p.stop_token_ids.clear();
  p.stop_strings = {tok.decode(free_run->at(0).tokens.data() + 1, 2)};
  auto by_text = e.generate({tok.encode("12+3=")}, p, &tok);
  CHECK(by_text->at(0).finish == finish_reason::stop_string);
  CHECK(by_text->at(0).tokens.size() <= 3);
  CHECK_FALSE(e.generate({tok.encode("1")}, p).ok());  // stop strings without a tokenizer
  p.stop_strings.clear();
  CHECK_FALSE(e.generate({std::vector<int32_t>(500, 9)}, p).ok());  // 500 + 20 > max_position_embeddings (512)
  CHECK_FALSE(e.generate({{}}, p).ok());                            // empty prompt
  p.max_new_tokens = 0;
  CHECK(e.generate({tok.encode("1")}, p)->at(0).tokens.empty());
}

TEST_CASE("engine: top-k 1 is greedy and top-p keeps the most likely token") {
  auto logits = torch::tensor({0.0f, 3.0f, 1.0f, 2.0f}).unsqueeze(0);
  auto gen = at::detail::createCPUGenerator(3);
  sampling_params p;
  p.top_k = 1;
  for (int i = 0; i < 20; ++i) CHECK(sample_step(logits, p, gen).first.item<int64_t>() == 1);
  p.top_k = 0;
  p.top_p = 0.5;  // token 1 alone has 0.64 of the mass
  for (int i = 0; i < 20; ++i) CHECK(sample_step(logits, p, gen).first.item<int64_t>() == 1);
  p.top_p = 0.85;  // tokens 1 and 3 (0.64 + 0.24 >= 0.85)
  for (int i = 0; i < 50; ++i) {
    auto t = sample_step(logits, p, gen).first.item<int64_t>();
    CHECK((t == 1 || t == 3));
  }
}

TEST_CASE("logprobs: gradients flow and entropy is non-negative") {
  auto c = small_config("llama");
  auto m = random_model(c, 7);
  auto ids = torch::randint(1, c.vocab_size, {2, 7}, torch::kInt64);
  auto mask = torch::ones({2, 7}, torch::kInt64);
  mask[1][6] = 0;  // right padding
  auto r = token_logprobs(m, ids, mask, 1.0, true);
  REQUIRE(r.logprobs.sizes() == torch::IntArrayRef({2, 6}));
  CHECK(r.logprobs[1][5].item<float>() == 0.0f);
  CHECK((r.entropy >= 0).all().item<bool>());
  r.logprobs.sum().backward();
  CHECK(m->body->embed_tokens->weight.grad().abs().sum().item<float>() > 0);
}

TEST_CASE("transformer: copy_weights makes two models agree") {
  auto c = small_config("qwen2");
  auto a = random_model(c, 8), b = random_model(c, 9);
  torch::NoGradGuard no_grad;
  auto ids = torch::randint(0, c.vocab_size, {1, 5}, torch::kInt64);
  CHECK_FALSE(torch::allclose(a->forward(ids, arange_positions(1, 5)), b->forward(ids, arange_positions(1, 5))));
  copy_weights(b, a);
  CHECK(torch::equal(a->forward(ids, arange_positions(1, 5)), b->forward(ids, arange_positions(1, 5))));
}
