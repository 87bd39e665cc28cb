// GPU half of the token_logprob comparator: CUDA kernel vs CPU reference on random logits
// (vocabularies from 7 to 151,936, temperatures 0.6-1.3), tolerance 2e-4 absolute.
// A plain program registered with CTest (label gpu): exit 77 = skipped (no GPU), 0 = pass.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "kernels/token_logprob.hpp"

int main() {
  using namespace aha::kernels;
  if (!token_logprob_cuda_available()) {
    std::printf("token_logprob_gpu_compare: no usable GPU, skipped\n");
    return 77;
  }
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.f, 3.f);
  int failures = 0;
  for (int64_t v : {7, 1000, 32000, 151936}) {
    for (float t : {0.6f, 1.0f, 1.3f}) {
      const int64_t n = 37;
      std::vector<float> logits(n * v), lp_cpu(n), h_cpu(n), lp_gpu(n), h_gpu(n);
      for (auto& x : logits) x = normal(rng);
      std::vector<int32_t> targets(n);
      for (auto& id : targets) id = static_cast<int32_t>(rng() % v);
      token_logprob_cpu(logits.data(), targets.data(), n, v, t, lp_cpu.data(), h_cpu.data());
      auto s = token_logprob_cuda_host(logits.data(), targets.data(), n, v, t, lp_gpu.data(), h_gpu.data());
      if (!s) {
        std::printf("FAIL: %s\n", s.error().message.c_str());
        return 1;
      }
      float worst = 0;
      for (int64_t r = 0; r < n; ++r)
        worst = std::fmax(worst, std::fmax(std::fabs(lp_cpu[r] - lp_gpu[r]), std::fabs(h_cpu[r] - h_gpu[r])));
      std::printf("V=%lld T=%.1f max abs error %.2e\n", static_cast<long long>(v), t, worst);
      failures += worst > 2e-4f;
    }
  }
  return failures == 0 ? 0 : 1;
}
