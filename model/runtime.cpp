// runtime implementation.
#include "model/runtime.hpp"

#include <cstdlib>

#include <ATen/Parallel.h>
#include <malloc.h>
#include <torch/utils.h>

namespace aha::model {

void set_threads(int threads) {
  // OpenMP workers that spin while waiting steal the core another actor (or another process on a
  // shared machine) needs: 0.57 s became 21 s in `aha bench generate` under load. Passive waiting
  // costs little here. Read by OpenMP at its first parallel region; a user's own setting wins.
  setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
  at::set_num_threads(threads > 0 ? threads : 1);
}

void seed_everything(uint64_t seed) { torch::manual_seed(seed); }

void tune_malloc() {
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, static_cast<int>(0x7fffffff));
  mallopt(M_TOP_PAD, 64 << 20);
}

}  // namespace aha::model
