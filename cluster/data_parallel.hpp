// data_parallel_group: W learner ranks (threads, processes or hosts) joined through c10d: a
// TCPStore rendezvous at rank 0's "IP:PORT" and a Gloo process group over TCP. It sums tensors
// across ranks in buckets, broadcasts tensors and byte strings from rank 0, and turns a lost or
// stalled rank into a `rank_lost` exception within the group's timeout (never a hang).
// Not the training maths (actors/policy_trainer.cpp uses it). c10d and Gloo headers are included
// only by data_parallel.cpp. Tested by cluster/data_parallel.test.cpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "core/result.hpp"

namespace aha::cluster {

struct data_parallel_config {
  std::string rendezvous;                    // "IP:PORT": rank 0 listens there, the others connect
  int rank = 0;                              // this rank, 0 .. world-1; rank 0 hosts the rendezvous
  int world = 1;                             // ranks in the group
  std::chrono::milliseconds timeout{30000};  // each collective: a lost or stalled rank shows within it
  std::chrono::milliseconds rendezvous_timeout{30000};  // how long join waits for every rank to arrive
  std::size_t bucket_bytes = std::size_t{16} << 20;  // tensors are summed in flat buckets of at most this
};

// A collective that could not complete: a rank died, closed its group, or did not answer within
// the timeout. The message names the operation, this rank and the timeout.
class rank_lost : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Whether this LibTorch build has Gloo (Debian's does, with libgloo-dev's headers at build time).
bool gloo_available();

class data_parallel_group {
 public:
  // Joins the group: rank 0 opens the rendezvous and waits for the other W-1 ranks (up to
  // rendezvous_timeout); the others connect to it (retrying that long: they may start first) and
  // wait until all have arrived. Errors: a bad address, a rank that never came, no Gloo.
  static result<std::unique_ptr<data_parallel_group>> join(const data_parallel_config& config);
  ~data_parallel_group();
  data_parallel_group(const data_parallel_group&) = delete;
  data_parallel_group& operator=(const data_parallel_group&) = delete;

  int rank() const { return config_.rank; }
  int world() const { return config_.world; }
  const data_parallel_config& config() const { return config_; }

  // In place on every rank: each tensor becomes the sum of its copies on all ranks. Tensors of
  // one dtype are packed into flat buckets of at most bucket_bytes (one collective per bucket).
  // Every rank must pass tensors of the same shapes in the same order. Throws rank_lost.
  void all_reduce_sum(const std::vector<at::Tensor>& tensors);
  // In place on every rank: each tensor becomes root's copy (bucketed like all_reduce_sum).
  void broadcast(const std::vector<at::Tensor>& tensors, int root = 0);
  // `bytes` becomes root's string on every rank (its length travels first). Throws rank_lost.
  void broadcast_bytes(std::string& bytes, int root = 0);

  // The rendezvous store, for control messages that may wait long (between learner steps, a
  // collective's timeout would fire): one rank posts a key, the others wait for it. If rank 0's
  // process (the store's host) is gone, a wait fails at once. Throw rank_lost.
  void post(const std::string& key, const std::string& value);
  std::string await(const std::string& key, std::chrono::milliseconds wait);
  void erase(const std::string& key);

 private:
  struct impl;
  data_parallel_group(data_parallel_config config, std::unique_ptr<impl> state);
  template <class F>
  void collective(const char* what, F&& run);
  void bucketed(const char* what, const std::vector<at::Tensor>& tensors, int root, bool sum);

  data_parallel_config config_;
  std::unique_ptr<impl> impl_;
};

// "IP:PORT" -> (host, port); an error names the value and the expected form.
result<std::pair<std::string, std::uint16_t>> parse_endpoint(const std::string& endpoint);

}  // namespace aha::cluster
