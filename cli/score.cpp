// `aha score --model PATH --text FILE [--window N] [--threads N (default 1)] [--json]`: the mean negative
// log-likelihood per token of FILE's text under a GGUF file, a Hugging Face folder or an aha
// checkpoint, and the perplexity exp(mean NLL). The text is cut into windows of N tokens
// (default 512, at most the model's context); each window's first token has no context and is
// not scored, so `tokens scored` = tokens - windows. Tested by scripts/test_model_cli.sh.
#include <cmath>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "cli/model_source.hpp"
#include "model/runtime.hpp"

namespace {

int score(aha::cli::arguments& args) {
  const char* name = "score";
  auto model_path = args.option("--model");
  auto text_path = args.option("--text");
  const bool as_json = args.flag("--json");
  int64_t window = 512;
  int threads = 1;  // one: two OpenMP threads on a busy 2-core machine ran 5x slower (docs/model.md)
  try {
    if (auto v = args.option("--window")) window = std::stoll(*v);
    if (auto v = args.option("--threads")) threads = std::stoi(*v);
  } catch (const std::exception&) {
    return aha::cli::usage_error(name, "--window and --threads take numbers");
  }
  if (auto unknown = args.unknown_options(); !unknown.empty()) return aha::cli::usage_error(name, unknown);
  if (!model_path || !text_path || !args.positionals().empty())
    return aha::cli::usage_error(name, "usage: aha score --model PATH --text FILE [--window N] [--json]");
  if (window < 2 || threads < 1) return aha::cli::usage_error(name, "need --window >= 2 and --threads >= 1");
  std::ifstream in(*text_path, std::ios::binary);
  if (!in) {
    std::cerr << "aha score: " << *text_path << ": cannot open\n";
    return 1;
  }
  std::ostringstream s;
  s << in.rdbuf();

  aha::model::set_threads(threads);
  aha::model::tune_malloc();
  auto source = aha::cli::open_model_source(*model_path);
  if (!source) {
    std::cerr << "aha score: " << source.error().message << "\n";
    return 1;
  }
  const auto& tok = *source->tokenizer;
  std::vector<int64_t> ids;
  if (source->add_bos && tok.bos_id() >= 0) ids.push_back(tok.bos_id());
  for (auto id : tok.encode(s.str())) ids.push_back(id);
  if (ids.size() < 2) {
    std::cerr << "aha score: " << *text_path << ": fewer than 2 tokens, nothing to score\n";
    return 1;
  }
  window = std::min<int64_t>(window, source->model->config().max_position_embeddings);
  torch::NoGradGuard no_grad;
  double nll_sum = 0;
  int64_t scored = 0;
  for (size_t start = 0; start + 1 < ids.size(); start += static_cast<size_t>(window)) {
    const size_t end = std::min(ids.size(), start + static_cast<size_t>(window));
    if (end - start < 2) break;
    auto input = torch::tensor(std::vector<int64_t>(ids.begin() + start, ids.begin() + end), torch::kInt64).unsqueeze(0);
    auto positions = torch::arange(input.size(1), torch::kInt64).unsqueeze(0);
    auto logits = source->model->forward(input, positions)[0];  // [T, V]
    auto logp = torch::log_softmax(logits.slice(0, 0, -1).to(torch::kFloat64), -1);
    auto targets = input[0].slice(0, 1).unsqueeze(1);
    nll_sum -= logp.gather(1, targets).sum().item<double>();
    scored += input.size(1) - 1;
  }
  const double mean = nll_sum / static_cast<double>(scored);
  const double perplexity = std::exp(mean);
  if (as_json) {
    std::cout << nlohmann::json{{"model", *model_path}, {"text", *text_path}, {"tokens", ids.size()}, {"tokens_scored", scored},
                                {"window", window}, {"mean_nll", mean}, {"perplexity", perplexity}}.dump()
              << "\n";
    return 0;
  }
  std::cout << std::setprecision(6) << "tokens " << ids.size() << " (scored " << scored << ", window " << window << ")\n"
            << "mean NLL per token " << mean << " nats\n"
            << "perplexity " << perplexity << "\n";
  return 0;
}

}  // namespace

AHA_COMMAND("score", "mean negative log-likelihood per token and perplexity of a text file under a model", score);
