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

TEST_CASE("a failed grade stays out of the group's mean and std and gets advantage 0") {
  // Rollout 2 timed out (reward 0 by convention): the others' advantages are those of a group without it.
  std::vector<float> rewards{1, 0, 0, 1, 0};
  std::vector<bool> excluded{false, false, true, false, false};
  auto with = group_advantages_excluding(rewards, excluded, {});
  auto without = group_advantages({1, 0, 1, 0});
  CHECK(with[2] == 0.0f);
  CHECK(with[0] == Approx(without[0]));
  CHECK(with[1] == Approx(without[1]));
  CHECK(with[3] == Approx(without[2]));
  CHECK(with[4] == Approx(without[3]));
  CHECK(rewards_all_equal_excluding({1, 0, 1}, {false, true, false}));
  // One graded rollout left: nothing to compare it with.
  CHECK(group_advantages_excluding({1, 0}, {false, true}, {}) == std::vector<float>{0.0f, 0.0f});
}

TEST_CASE("a verdict with a timeout or error component is a failed grade, a wrong answer is not") {
  aha::protocol::reward_verdict wrong, late, broken;
  wrong.components.push_back({aha::protocol::reward_kind::accuracy, 0.0f, 1.0f, aha::protocol::verdict_status::ok, ""});
  late = wrong;
  late.components.push_back({aha::protocol::reward_kind::format, 0.0f, 1.0f, aha::protocol::verdict_status::timeout, ""});
  broken.components.push_back({aha::protocol::reward_kind::accuracy, 0.0f, 1.0f, aha::protocol::verdict_status::error, ""});
  CHECK(!grading_failed(wrong));
  CHECK(grading_failed(late));
  CHECK(grading_failed(broken));
  CHECK(grading_failures({wrong, late, broken}) == std::vector<bool>{false, true, true});
}
