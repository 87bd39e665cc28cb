// The learning-rate schedule, clipping, and a save/load round trip of the optimizer state.
#include "model/optimizer.hpp"

#include <cstdio>

// LibTorch pulls in glog, whose CHECK would replace Catch2's: include Catch2 last.
#undef CHECK
#include <catch2/catch.hpp>

using aha::model::optimizer;
using aha::model::optimizer_config;

TEST_CASE("optimizer: warm-up rises linearly, cosine decays to the floor") {
  at::Tensor w = at::zeros({3}).requires_grad_(true);
  optimizer_config config;
  config.lr = 1.0;
  config.warmup_steps = 4;
  config.total_steps = 14;
  config.min_lr_ratio = 0.1;
  optimizer opt({w}, config);
  CHECK(opt.lr_at(0) == Approx(0.25));
  CHECK(opt.lr_at(3) == Approx(1.0));
  CHECK(opt.lr_at(9) == Approx(0.55));  // halfway through the cosine
  CHECK(opt.lr_at(14) == Approx(0.1));
  CHECK(opt.lr_at(1000) == Approx(0.1));
}

TEST_CASE("optimizer: steps reduce a quadratic and clip large gradients") {
  at::Tensor w = at::full({2}, 5.0).requires_grad_(true);
  optimizer_config config;
  config.lr = 0.1;
  config.grad_clip = 1.0;
  optimizer opt({w}, config);
  double first_norm = 0;
  for (int i = 0; i < 100; ++i) {
    at::Tensor loss = (w * w).sum() * 100.0;
    loss.backward();
    double norm = opt.step();
    if (i == 0) first_norm = norm;
  }
  CHECK(first_norm == Approx(1000.0 * std::sqrt(2.0)));
  CHECK(w.abs().max().item<double>() < 1.0);
  CHECK(opt.steps_taken() == 100);
}

TEST_CASE("optimizer: state survives save and load") {
  at::Tensor w = at::ones({4}).requires_grad_(true);
  optimizer opt({w}, optimizer_config{});
  (w * w).sum().backward();
  opt.step();
  std::string path = "optimizer_state.pt";
  REQUIRE(opt.save(path).ok());
  optimizer again({w}, optimizer_config{});
  REQUIRE(again.load(path).ok());
  CHECK(again.steps_taken() == 1);
  CHECK_FALSE(again.load("no/such/file.pt").ok());
  std::remove(path.c_str());
}

TEST_CASE("optimizer: an exactly zero gradient moves no weight, however much momentum there is") {
  at::Tensor w = at::full({3}, 2.0).requires_grad_(true);
  optimizer_config config;
  config.lr = 0.1;
  config.weight_decay = 0.1;
  optimizer opt({w}, config);
  (w * w).sum().backward();
  opt.step();  // momentum and decay now want to move w further
  at::Tensor before = w.detach().clone();
  (w * 0.0).sum().backward();  // a mini-batch whose groups all scored alike: gradients of 0
  CHECK(opt.step() == 0.0);
  CHECK(at::equal(w.detach(), before));
  CHECK(opt.steps_taken() == 2);  // the schedule still moves on: the step happened, with no evidence
  (w * w).sum().backward();
  opt.step();
  CHECK(w.detach().lt(before).all().item<bool>());  // a real gradient moves it again
}
