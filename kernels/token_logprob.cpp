// CPU reference of token_logprob: two passes per row (max, then sums) in double precision.
#include "kernels/token_logprob.hpp"

#include <algorithm>
#include <cmath>

namespace aha::kernels {

void token_logprob_cpu(const float* logits, const int32_t* targets, int64_t n, int64_t v, float temperature,
                       float* logprob, float* entropy) {
  const double inv_t = 1.0 / temperature;
  for (int64_t row = 0; row < n; ++row) {
    const float* x = logits + row * v;
    double max = -INFINITY;
    for (int64_t i = 0; i < v; ++i) max = std::max(max, x[i] * inv_t);
    double sum = 0, weighted = 0;  // sum exp(z - max), sum exp(z - max) * z, z = x / T
    for (int64_t i = 0; i < v; ++i) {
      const double z = x[i] * inv_t, e = std::exp(z - max);
      sum += e;
      weighted += e * z;
    }
    const double log_z = max + std::log(sum);
    logprob[row] = static_cast<float>(x[targets[row]] * inv_t - log_z);
    // H = -sum p (z - log Z) = log Z - E_p[z]
    if (entropy) entropy[row] = static_cast<float>(log_z - weighted / sum);
  }
}

#ifndef AHA_KERNELS_WITH_CUDA
// Without aha_kernels_cuda the GPU entry points say so instead of failing to link.
bool token_logprob_cuda_available() { return false; }
status token_logprob_cuda(const float*, const int32_t*, int64_t, int64_t, float, float*, float*, void*) {
  return make_error(errc::unavailable, "token_logprob_cuda: aha was built without CUDA (AHA_CUDA=OFF)");
}
status token_logprob_cuda_host(const float*, const int32_t*, int64_t, int64_t, float, float*, float*) {
  return make_error(errc::unavailable, "token_logprob_cuda: aha was built without CUDA (AHA_CUDA=OFF)");
}
#endif

}  // namespace aha::kernels
