// AdamW with warm-up + cosine schedule and clipping (model/optimizer.hpp).
#include "model/optimizer.hpp"

#include <cmath>
#include <fstream>

#include <torch/types.h>
#include <torch/nn/utils/clip_grad.h>
#include <torch/optim/adamw.h>
#include <torch/serialize.h>

namespace aha::model {

optimizer::optimizer(std::vector<at::Tensor> parameters, optimizer_config config)
    : parameters_(std::move(parameters)), config_(config) {
  torch::optim::AdamWOptions options(config_.lr);
  options.betas({config_.beta1, config_.beta2}).eps(config_.eps).weight_decay(config_.weight_decay);
  adam_ = std::make_unique<torch::optim::AdamW>(parameters_, options);
}

optimizer::~optimizer() = default;

double optimizer::lr_at(std::int64_t step) const {
  if (config_.warmup_steps > 0 && step < config_.warmup_steps) {
    return config_.lr * static_cast<double>(step + 1) / static_cast<double>(config_.warmup_steps);
  }
  if (config_.total_steps <= config_.warmup_steps) return config_.lr;
  double progress = static_cast<double>(step - config_.warmup_steps) /
                    static_cast<double>(config_.total_steps - config_.warmup_steps);
  progress = std::min(1.0, std::max(0.0, progress));
  double floor = config_.lr * config_.min_lr_ratio;
  return floor + (config_.lr - floor) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

double optimizer::step(schedule move) {
  double norm = 0;
  if (config_.grad_clip > 0) {
    norm = torch::nn::utils::clip_grad_norm_(parameters_, config_.grad_clip);
  } else {
    at::NoGradGuard no_grad;
    for (const auto& p : parameters_) {
      if (p.grad().defined()) norm += p.grad().pow(2).sum().item<double>();
    }
    norm = std::sqrt(norm);
  }
  // A gradient that is exactly zero carries no evidence (a mini-batch whose groups all scored
  // alike, with no KL term): AdamW would still move every weight by its momentum and decay, so the
  // policy would drift between versions on no signal. Such an update leaves weights and moments be.
  if (norm > 0) {
    double lr = lr_at(steps_);
    for (auto& group : adam_->param_groups()) group.options().set_lr(lr);
    adam_->step();
  }
  zero_grad();
  if (move == schedule::advance) ++steps_;
  return norm;
}

void optimizer::zero_grad() { adam_->zero_grad(); }

status optimizer::save(const std::string& path) const {
  try {
    torch::serialize::OutputArchive archive;
    adam_->save(archive);
    archive.write("aha_optimizer_steps", at::tensor(steps_));
    archive.save_to(path);
  } catch (const std::exception& e) {
    return make_error(errc::io_error, path + ": cannot save optimizer state: " + e.what());
  }
  return ok_status();
}

status optimizer::load(const std::string& path) {
  try {
    torch::serialize::InputArchive archive;
    // State saved on one device (a GPU learner) loads onto the parameters' device (e.g. the CPU).
    if (parameters_.empty()) archive.load_from(path);
    else archive.load_from(path, parameters_.front().device());
    adam_->load(archive);
    at::Tensor steps;
    archive.read("aha_optimizer_steps", steps);
    steps_ = steps.item<std::int64_t>();
  } catch (const std::exception& e) {
    return make_error(errc::corrupt_data, path + ": cannot load optimizer state: " + e.what());
  }
  return ok_status();
}

}  // namespace aha::model
