// CUDA token_logprob: one block per row; each thread keeps an online (max, sum, weighted sum)
// over its strided slice of the vocabulary, then warp shuffles and shared memory combine them.
// One read of the logits, no [N, V] intermediate. Compared against the CPU reference in
// token_logprob_gpu_compare.cpp.
#include <cuda_runtime.h>

#include <cmath>
#include <string>

#include "kernels/token_logprob.hpp"

namespace aha::kernels {
namespace {

constexpr int kThreads = 256;

struct online_stats {
  float max, sum, weighted;  // sum exp(z - max), sum exp(z - max) * z
};

__device__ online_stats combine(online_stats a, online_stats b) {
  if (b.max == -INFINITY) return a;
  if (a.max == -INFINITY) return b;
  const float m = fmaxf(a.max, b.max);
  const float sa = __expf(a.max - m), sb = __expf(b.max - m);
  return {m, a.sum * sa + b.sum * sb, a.weighted * sa + b.weighted * sb};
}

__device__ online_stats warp_reduce(online_stats s) {
  for (int offset = 16; offset > 0; offset /= 2) {
    online_stats o{__shfl_down_sync(0xffffffff, s.max, offset), __shfl_down_sync(0xffffffff, s.sum, offset),
                   __shfl_down_sync(0xffffffff, s.weighted, offset)};
    s = combine(s, o);
  }
  return s;
}

__global__ void token_logprob_kernel(const float* __restrict__ logits, const int32_t* __restrict__ targets, int64_t v,
                                     float inv_t, float* __restrict__ logprob, float* __restrict__ entropy) {
  const int64_t row = blockIdx.x;
  const float* x = logits + row * v;
  online_stats s{-INFINITY, 0.f, 0.f};
  for (int64_t i = threadIdx.x; i < v; i += blockDim.x) {
    const float z = x[i] * inv_t;
    if (z > s.max) {
      const float scale = __expf(s.max - z);
      s = {z, s.sum * scale + 1.f, s.weighted * scale + z};
    } else {
      const float e = __expf(z - s.max);
      s.sum += e;
      s.weighted += e * z;
    }
  }
  __shared__ online_stats partial[kThreads / 32];
  s = warp_reduce(s);
  if (threadIdx.x % 32 == 0) partial[threadIdx.x / 32] = s;
  __syncthreads();
  if (threadIdx.x < 32) {
    s = threadIdx.x < kThreads / 32 ? partial[threadIdx.x] : online_stats{-INFINITY, 0.f, 0.f};
    s = warp_reduce(s);
    if (threadIdx.x == 0) {
      const float log_z = s.max + logf(s.sum);
      logprob[row] = x[targets[row]] * inv_t - log_z;
      if (entropy) entropy[row] = log_z - s.weighted / s.sum;
    }
  }
}

status cuda_error(const char* what, cudaError_t e) {
  return make_error(errc::internal, std::string("token_logprob_cuda: ") + what + ": " + cudaGetErrorString(e));
}

}  // namespace

bool token_logprob_cuda_available() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

status token_logprob_cuda(const float* logits, const int32_t* targets, int64_t n, int64_t v, float temperature,
                          float* logprob, float* entropy, void* stream) {
  if (n == 0) return ok_status();
  token_logprob_kernel<<<static_cast<unsigned>(n), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      logits, targets, v, 1.0f / temperature, logprob, entropy);
  if (auto e = cudaGetLastError(); e != cudaSuccess) return cuda_error("launch", e);
  return ok_status();
}

status token_logprob_cuda_host(const float* logits, const int32_t* targets, int64_t n, int64_t v, float temperature,
                               float* logprob, float* entropy) {
  float *d_logits = nullptr, *d_out = nullptr;
  int32_t* d_targets = nullptr;
  cudaError_t e = cudaMalloc(&d_logits, sizeof(float) * n * v);
  if (e == cudaSuccess) e = cudaMalloc(&d_targets, sizeof(int32_t) * n);
  if (e == cudaSuccess) e = cudaMalloc(&d_out, sizeof(float) * 2 * n);
  if (e == cudaSuccess) e = cudaMemcpy(d_logits, logits, sizeof(float) * n * v, cudaMemcpyHostToDevice);
  if (e == cudaSuccess) e = cudaMemcpy(d_targets, targets, sizeof(int32_t) * n, cudaMemcpyHostToDevice);
  status s = e == cudaSuccess ? token_logprob_cuda(d_logits, d_targets, n, v, temperature, d_out, d_out + n) : cuda_error("copy in", e);
  if (s && (e = cudaMemcpy(logprob, d_out, sizeof(float) * n, cudaMemcpyDeviceToHost)) != cudaSuccess) s = cuda_error("copy out", e);
  if (s && entropy && (e = cudaMemcpy(entropy, d_out + n, sizeof(float) * n, cudaMemcpyDeviceToHost)) != cudaSuccess)
    s = cuda_error("copy out", e);
  cudaFree(d_logits);
  cudaFree(d_targets);
  cudaFree(d_out);
  return s;
}

}  // namespace aha::kernels
