// runtime: process-wide LibTorch settings a model-owning process applies once at start-up:
// intra-op threads (LibTorch defaults to 1 here, STACK.md), the global seed, and glibc malloc
// settings that avoid re-faulting fresh pages for every large tensor (STACK.md: 10-60x on big
// buffers). Not per-model state.
#pragma once

#include <cstdint>

namespace aha::model {

// at::set_num_threads(threads) (and interop threads = 1 when not yet started).
void set_threads(int threads);
// Seeds LibTorch's default CPU generator (torch::manual_seed) — weight init and dropout that
// take no explicit generator. The engine uses its own per-call seed (sampling_params::seed).
void seed_everything(uint64_t seed);
// mallopt(M_MMAP_THRESHOLD=1 GiB, M_TRIM_THRESHOLD=4 GiB, M_TOP_PAD=64 MiB). Call before big allocations.
void tune_malloc();

}  // namespace aha::model
