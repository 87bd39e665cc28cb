// AdamW with linear warm-up and cosine decay, gradient-norm clipping, and micro-batch
// accumulation bookkeeping: the learner's optimizer. Checkpointed with the model.
// Tested by model/optimizer.test.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "core/config.hpp"
#include "core/result.hpp"

namespace torch::optim { class AdamW; }

namespace aha::model {

struct optimizer_config {
  double lr = 1e-3;            // peak learning rate (after warm-up)
  double min_lr_ratio = 0.1;   // cosine decays to lr * min_lr_ratio at total_steps
  std::int64_t warmup_steps = 0;  // linear warm-up from 0 over this many steps
  std::int64_t total_steps = 0;   // horizon of the cosine; 0 = constant after warm-up
  double weight_decay = 0.0;   // decoupled (AdamW)
  double beta1 = 0.9;
  double beta2 = 0.99;
  double eps = 1e-8;
  double grad_clip = 1.0;      // max global gradient L2 norm; <= 0 disables clipping
};
template <class V>
void describe(V& v, optimizer_config& c) {
  v.field("lr", c.lr, "peak learning rate (after warm-up)", config::range{0, 10});
  v.field("min_lr_ratio", c.min_lr_ratio, "cosine floor as a fraction of lr", config::range{0, 1});
  v.field("warmup_steps", c.warmup_steps, "linear warm-up length (steps)", config::range{0, 1e9});
  v.field("total_steps", c.total_steps, "cosine horizon (steps); 0 = constant after warm-up", config::range{0, 1e9});
  v.field("weight_decay", c.weight_decay, "AdamW decoupled weight decay", config::range{0, 1});
  v.field("beta1", c.beta1, "Adam beta1", config::range{0, 1});
  v.field("beta2", c.beta2, "Adam beta2", config::range{0, 1});
  v.field("eps", c.eps, "Adam epsilon", config::range{0, 1});
  v.field("grad_clip", c.grad_clip, "max gradient L2 norm; 0 disables", config::range{0, 1e9});
}

// Whether an update moves the learning-rate schedule on. PPO's several updates within one learner
// step share that step's learning rate (as verl's scheduler, stepped once per training step), so
// warmup_steps and total_steps count learner steps whatever ppo_epochs and mini_batches are.
enum class schedule { advance, hold };

class optimizer {
 public:
  optimizer(std::vector<at::Tensor> parameters, optimizer_config config);
  ~optimizer();
  optimizer(const optimizer&) = delete;
  optimizer& operator=(const optimizer&) = delete;

  // Clips gradients, sets this step's learning rate, steps AdamW (not when the gradient is exactly
  // zero: momentum and decay alone would move the weights on no evidence), zeroes gradients; moves the
  // schedule on unless told to hold it. Returns the global gradient norm before clipping.
  double step(schedule move = schedule::advance);
  void zero_grad();
  double lr_at(std::int64_t step) const;
  std::int64_t steps_taken() const { return steps_; }  // schedule position: advancing steps so far

  status save(const std::string& path) const;
  status load(const std::string& path);

 private:
  std::vector<at::Tensor> parameters_;
  optimizer_config config_;
  std::unique_ptr<torch::optim::AdamW> adam_;
  std::int64_t steps_ = 0;
};

}  // namespace aha::model
