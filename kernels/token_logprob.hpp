// token_logprob: the RL loop's hottest reduction over the vocabulary, fused — for each row of
// logits, log softmax(logits / temperature)[target] and (optionally) the entropy of that
// distribution, in one pass without materialising the [N, V] log-softmax. A CPU reference
// (always built) and a CUDA kernel (aha_kernels_cuda, built when AHA_CUDA is on).
// Tests: token_logprob.test.cpp (CPU, CI); token_logprob_gpu_compare.cpp (label gpu, skips without a GPU).
#pragma once

#include <cstdint>

#include "core/result.hpp"

namespace aha::kernels {

// logits [N, V] row-major; targets [N]; logprob [N]; entropy [N] or nullptr.
void token_logprob_cpu(const float* logits, const int32_t* targets, int64_t n, int64_t v, float temperature,
                       float* logprob, float* entropy);

// True when the CUDA kernel was compiled in and a GPU is usable (cudaGetDeviceCount > 0).
// Without a driver (cudaErrorInsufficientDriver) this is false, not a crash.
bool token_logprob_cuda_available();

// The CUDA kernel on device pointers, on `stream` (a cudaStream_t; nullptr = default stream).
status token_logprob_cuda(const float* logits, const int32_t* targets, int64_t n, int64_t v, float temperature,
                          float* logprob, float* entropy, void* stream = nullptr);

// Convenience for tests and benches: host buffers in and out (copies to and from the GPU).
status token_logprob_cuda_host(const float* logits, const int32_t* targets, int64_t n, int64_t v, float temperature,
                               float* logprob, float* entropy);

}  // namespace aha::kernels
