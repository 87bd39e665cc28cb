// `aha bench generate`: tokens/s of the sampling engine (KV cache, model/engine.hpp) against a
// naive loop that re-runs the full forward over the whole sequence for every new token, both
// measured in this run on the same random model, prompts and sampling settings.
// Models: the built-in tiny model (char vocabulary) and a ~100M-parameter Llama-shaped model.
// Options: --threads N (default 2), --models tiny,100m, --batch-tiny 64, --batch-100m 4,
// --new-tokens 48 (tiny; 100m uses --new-tokens-100m 16), --prompt 16, --device cpu|cuda,
// --no-naive (time the engine alone: the naive loop is quadratic and slow for long CPU runs),
// --transformers-python PY: also time transformers generate() on the same random checkpoint
// (scripts/bench_generate_transformers.py) -> speedup_vs_transformers.
// Ends with one JSON line; top-level tokens_per_s / speedup_vs_naive are the tiny model's.
#include <chrono>
#include <filesystem>
#include <cstdio>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/cuda.h>

#include "cli/command.hpp"
#include "model/engine.hpp"
#include "model/hf_checkpoint.hpp"
#include "model/logprobs.hpp"
#include "model/runtime.hpp"

namespace {

using nlohmann::json;
using namespace aha::model;
using clock_type = std::chrono::steady_clock;

std::vector<std::vector<int32_t>> random_prompts(int64_t batch, int64_t length, int64_t vocab) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> id(3, static_cast<int32_t>(vocab - 1));
  std::vector<std::vector<int32_t>> prompts(batch);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < length - b % 4; ++t) prompts[b].push_back(id(rng));  // lengths differ a little
  return prompts;
}

// No cache: every step runs the model over the whole (left-padded) sequence so far.
double naive_seconds(transformer& model, const std::vector<std::vector<int32_t>>& prompts, const sampling_params& p,
                     const torch::Device& device) {
  torch::NoGradGuard no_grad;
  const int64_t B = static_cast<int64_t>(prompts.size());
  int64_t P = 0;
  for (const auto& pr : prompts) P = std::max<int64_t>(P, static_cast<int64_t>(pr.size()));
  auto ids = torch::zeros({B, P + p.max_new_tokens}, torch::kInt64);
  auto mask = torch::zeros({B, P + p.max_new_tokens}, torch::kInt64);
  for (int64_t b = 0; b < B; ++b)
    for (size_t j = 0; j < prompts[b].size(); ++j) {
      ids[b][P - prompts[b].size() + j] = prompts[b][j];
      mask[b][P - prompts[b].size() + j] = 1;
    }
  ids = ids.to(device);
  mask = mask.to(device);
  auto gen = seeded_generator(device, p.seed);
  const auto start = clock_type::now();
  for (int64_t t = 0; t < p.max_new_tokens; ++t) {
    const int64_t len = P + t;
    auto m = mask.narrow(1, 0, len);
    auto logits = model->forward(ids.narrow(1, 0, len), positions_from_mask(m), m.to(torch::kBool)).select(1, len - 1);
    auto token = sample_step(logits, p, gen).first;
    ids.select(1, len).copy_(token);
    mask.select(1, len).fill_(1);
  }
  (void)ids.sum().item<int64_t>();  // waits for the device
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

struct bench_setup {
  int threads = 2;
  torch::Device device = torch::kCPU;
  std::string transformers_python;  // empty: no transformers peer
  bool naive = true;                 // also time the naive no-cache loop
};

// Runs scripts/bench_generate_transformers.py on the model saved as a HF folder; its tokens/s or 0.
double transformers_tokens_per_s(transformer& model, const bench_setup& setup, int64_t batch, int64_t prompt, int64_t new_tokens) {
  const auto dir = std::filesystem::temp_directory_path() / ("aha_bench_generate_" + std::to_string(::getpid()));
  if (!save_pretrained(model, dir.string())) return 0;
  const std::string cmd = setup.transformers_python + " " + AHA_SOURCE_DIR + "/scripts/bench_generate_transformers.py --model " +
                          dir.string() + " --batch " + std::to_string(batch) + " --prompt " + std::to_string(prompt) +
                          " --new-tokens " + std::to_string(new_tokens) + " --threads " + std::to_string(setup.threads) +
                          " --device " + (setup.device.is_cpu() ? "cpu" : "cuda") + " 2>/dev/null";
  std::string output;
  if (FILE* pipe = ::popen(cmd.c_str(), "r")) {
    char buffer[4096];
    while (std::fgets(buffer, sizeof buffer, pipe)) output = buffer;  // keep the last line
    ::pclose(pipe);
  }
  std::filesystem::remove_all(dir);
  auto j = json::parse(output, nullptr, false);
  return j.is_object() ? j.value("tokens_per_s", 0.0) : 0.0;
}

json bench_model(const std::string& name, const model_config& config, const bench_setup& setup, int64_t batch,
                 int64_t prompt, int64_t new_tokens) {
  transformer model(config);
  model->init_weights(1);
  model->eval();
  model->to(setup.device);
  auto prompts = random_prompts(batch, prompt, config.vocab_size);
  sampling_params p;
  p.temperature = 1.0;
  p.max_new_tokens = new_tokens;
  p.seed = 3;
  engine e(model, batch, prompt + new_tokens);
  (void)e.generate(prompts, p);  // warm-up: first-touch of the cache and LibTorch's buffers
  const auto start = clock_type::now();
  auto out = e.generate(prompts, p);
  const double engine_s = std::chrono::duration<double>(clock_type::now() - start).count();
  int64_t tokens = 0;
  for (const auto& c : *out) tokens += static_cast<int64_t>(c.tokens.size());
  const double naive_s = setup.naive ? naive_seconds(model, prompts, p, setup.device) : 0;
  const double tps = tokens / engine_s, naive_tps = setup.naive ? batch * new_tokens / naive_s : 0;
  std::fprintf(stderr, "%s: %lld params, batch %lld x %lld new tokens: engine %.3f s (%.0f tok/s), naive %.3f s (%.0f tok/s)\n",
               name.c_str(), static_cast<long long>(parameter_count(config)), static_cast<long long>(batch),
               static_cast<long long>(new_tokens), engine_s, tps, naive_s, naive_tps);
  json r = {{"params", parameter_count(config)}, {"batch", batch},        {"prompt_tokens", prompt},
          {"new_tokens", new_tokens},          {"engine_s", engine_s},  {"naive_s", naive_s},
          {"tokens_per_s", tps}};
  if (setup.naive) r["naive_tokens_per_s"] = naive_tps, r["speedup_vs_naive"] = tps / naive_tps;
  if (!setup.transformers_python.empty()) {
    const double peer = transformers_tokens_per_s(model, setup, batch, prompt, new_tokens);
    r["transformers_tokens_per_s"] = peer;
    if (peer > 0) r["speedup_vs_transformers"] = tps / peer;
  }
  return r;
}

int64_t int_option(aha::cli::arguments& args, const char* name, int64_t fallback) {
  auto v = args.option(name);
  return v ? std::stoll(*v) : fallback;
}

int bench_generate(aha::cli::arguments& args) {
  bench_setup setup;
  setup.threads = static_cast<int>(int_option(args, "--threads", 2));
  setup.transformers_python = args.option("--transformers-python").value_or("");
  if (args.option("--device").value_or("cpu") == "cuda") {
    if (!torch::cuda::is_available()) return aha::cli::usage_error("bench generate", "--device cuda: LibTorch sees no CUDA device");
    setup.device = torch::Device(torch::kCUDA);
  }
  setup.naive = !args.flag("--no-naive");
  const std::string models = args.option("--models").value_or("tiny,100m");
  const int64_t batch_tiny = int_option(args, "--batch-tiny", 64), batch_big = int_option(args, "--batch-100m", 4);
  const int64_t new_tiny = int_option(args, "--new-tokens", 48), new_big = int_option(args, "--new-tokens-100m", 16);
  const int64_t prompt = int_option(args, "--prompt", 16);
  if (auto unknown = args.unknown_options(); !unknown.empty()) return aha::cli::usage_error("bench generate", unknown);
  tune_malloc();
  set_threads(setup.threads);
  json result{{"bench", "generate"}, {"threads", setup.threads}, {"device", setup.device.str()}};
  if (models.find("tiny") != std::string::npos) {
    result["tiny"] = bench_model("tiny", tiny_config(105), setup, batch_tiny, prompt, new_tiny);
    result["tokens_per_s"] = result["tiny"]["tokens_per_s"];
    if (setup.naive) result["speedup_vs_naive"] = result["tiny"]["speedup_vs_naive"];
    if (result["tiny"].contains("speedup_vs_transformers")) result["speedup_vs_transformers"] = result["tiny"]["speedup_vs_transformers"];
  }
  if (models.find("100m") != std::string::npos) result["m100"] = bench_model("100m", bench_100m_config(32000), setup, batch_big, prompt, new_big);
  std::printf("%s\n", result.dump().c_str());
  return 0;
}

}  // namespace

AHA_COMMAND("bench generate", "tokens/s of the KV-cache sampling engine vs a naive no-cache loop (tiny and ~100M models)", bench_generate);
