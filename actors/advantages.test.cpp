// Tests of GRPO / Dr. GRPO advantages and the dynamic-sampling predicate.
#include <catch2/catch.hpp>

#include "actors/advantages.hpp"

using namespace aha::actors;

TEST_CASE("GRPO advantages are group-normalised with the sample std") {
  auto a = group_advantages({1, 0, 0, 1});
  // mean 0.5, sample std sqrt(1/3) = 0.57735
  CHECK(a[0] == Approx(0.5 / 0.57735).epsilon(1e-4));
  CHECK(a[1] == Approx(-0.5 / 0.57735).epsilon(1e-4));
  double sum = 0;
  for (float x : a) sum += x;
  CHECK(sum == Approx(0).margin(1e-6));
}

TEST_CASE("Dr. GRPO advantages only subtract the mean") {
  auto a = group_advantages({2, 0, 1}, {false, 1e-6f});
  CHECK(a[0] == Approx(1));
  CHECK(a[1] == Approx(-1));
  CHECK(a[2] == Approx(0));
}

TEST_CASE("equal rewards give zero advantages and are droppable, and groups of one are zero") {
  auto a = group_advantages({0.5f, 0.5f, 0.5f});
  for (float x : a) CHECK(x == Approx(0).margin(1e-6));
  CHECK(rewards_all_equal({0.5f, 0.5f, 0.5f}));
  CHECK(!rewards_all_equal({0.5f, 0.5f, 1.0f}));
  CHECK(group_advantages({3.0f}) == std::vector<float>{0.0f});
}
