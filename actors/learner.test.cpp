// The learner's pure parts: which groups a step trains on, and a batch's statistics, with
// grading failures masked (neither a wrong answer nor a trained rollout).
#include "actors/learner.hpp"

// LibTorch pulls in glog, whose CHECK would replace Catch2's: include Catch2 last.
#undef CHECK
#include <catch2/catch.hpp>

using namespace aha;

namespace {

protocol::reward_verdict verdict(float accuracy, protocol::verdict_status status) {
  protocol::reward_verdict v;
  v.components.push_back({protocol::reward_kind::accuracy, accuracy, 1.0f, status, ""});
  v.total = accuracy;
  return v;
}

protocol::scored_group group(std::vector<protocol::reward_verdict> verdicts) {
  protocol::scored_group g;
  for (const auto& v : verdicts) {
    g.rollouts.emplace_back();
    g.rollouts.back().completion_tokens = {1, 2};
    g.verdicts.push_back(v);
    g.rewards.push_back(v.total);
    g.advantages.push_back(0.0f);
  }
  return g;
}

}  // namespace

TEST_CASE("learner: a group whose every grade failed is not trained on, and counted") {
  using protocol::verdict_status;
  protocol::learner_batch batch;
  batch.groups.push_back(group({verdict(1, verdict_status::ok), verdict(0, verdict_status::timeout)}));
  batch.groups.push_back(group({verdict(0, verdict_status::timeout), verdict(0, verdict_status::error)}));
  // Graded rewards agree (1, 1); the failed one's 0 must not make the group look informative.
  batch.groups.push_back(group({verdict(1, verdict_status::ok), verdict(1, verdict_status::ok),
                                verdict(0, verdict_status::error)}));
  auto plain = actors::trainable_groups(batch, false);
  CHECK(plain.groups_all_failed == 1);
  CHECK(plain.batch.groups.size() == 2);
  auto dynamic = actors::trainable_groups(batch, true);
  CHECK(dynamic.groups_all_failed == 1);
  CHECK(dynamic.batch.groups.size() == 0);  // group 0 has one graded rollout, group 2 two equal ones

  auto m = actors::batch_statistics(batch, 0);
  CHECK(m["grading/failed_masked"] == 4);
  CHECK(m["rollouts"] == 7);
  CHECK(m["reward_mean"] == Approx(1.0));  // the three graded rollouts, all correct
  CHECK(m["accuracy"] == Approx(1.0));
  CHECK(m["reward_timeouts"] == 2);
  CHECK(m["reward_errors"] == 2);
}
