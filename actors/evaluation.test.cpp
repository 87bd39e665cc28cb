// Tests of the eval's scores (evaluation.hpp) against hand-computed values: unbiased pass@k
// (Chen et al.; c = 0, c = n, n = k, a large n), maj@k voting, per-task means, the k' list and
// its validation, the table and the JSON that report.json and `aha eval` carry.
#include "actors/evaluation.hpp"
#include "actors/run_config.hpp"

// LibTorch pulls in glog, whose CHECK would replace Catch2's: include Catch2 last.
#undef CHECK
#include <catch2/catch.hpp>

using namespace aha;
using namespace aha::actors;

namespace {

// A verdict whose accuracy component extracted `answer` and is right or not.
protocol::reward_verdict verdict(const std::string& answer, bool right) {
  protocol::reward_verdict v;
  protocol::reward_component c;
  c.kind = protocol::reward_kind::accuracy;
  c.value = right ? 1.0f : 0.0f;
  c.detail = answer;
  v.components.push_back(c);
  return v;
}

prompt_score score(std::uint32_t n, std::uint32_t c, bool majority) { return prompt_score{n, c, majority}; }

}  // namespace

TEST_CASE("evaluation: unbiased pass@k against hand-computed values") {
  CHECK(pass_at_k(4, 1, 1) == Approx(0.25));        // k = 1 is c / n
  CHECK(pass_at_k(4, 1, 2) == Approx(0.5));         // 1 - C(3,2)/C(4,2) = 1 - 3/6
  CHECK(pass_at_k(5, 2, 3) == Approx(0.9));         // 1 - C(3,3)/C(5,3) = 1 - 1/10
  CHECK(pass_at_k(10, 3, 4) == Approx(5.0 / 6.0));  // 1 - C(7,4)/C(10,4) = 1 - 35/210
  CHECK(pass_at_k(8, 0, 4) == 0.0);                 // c = 0
  CHECK(pass_at_k(8, 8, 4) == 1.0);                 // c = n
  CHECK(pass_at_k(4, 1, 4) == 1.0);                 // n = k: any correct sample is drawn
  CHECK(pass_at_k(4, 0, 4) == 0.0);
  CHECK(pass_at_k(8, 5, 4) == 1.0);                 // n - c < k: every draw holds a correct one
  // Binomials far past double's range stay exact as a product: C(999,500)/C(1000,500) = 500/1000.
  CHECK(pass_at_k(1000, 1, 500) == Approx(0.5));
  CHECK(pass_at_k(1000, 10, 1) == Approx(0.01));
}

TEST_CASE("evaluation: a prompt's verdicts counted, the most common answer votes") {
  auto s = score_prompt({verdict("7", false), verdict("5", true), verdict("7", false), verdict("", false)});
  CHECK(s.samples == 4);
  CHECK(s.correct == 1);
  CHECK_FALSE(s.majority_right);  // "7" twice beats the right "5" once; no answer does not vote
  s = score_prompt({verdict("5", true), verdict("5", true), verdict("6", false)});
  CHECK(s.correct == 2);
  CHECK(s.majority_right);
  CHECK(score_prompt({}).samples == 0);
}

TEST_CASE("evaluation: per-task and overall pass@1, pass@k' and maj@k") {
  eval_report r;
  r.samples = 4;
  r.prompts_unique = 3;
  const std::vector<std::uint32_t> ks{1, 2, 4};
  eval_add(r, "a", score(4, 1, true), ks);
  eval_add(r, "a", score(4, 0, false), ks);
  eval_add(r, "b", score(4, 4, true), ks);
  eval_finish(r);
  CHECK(r.prompts == 3);
  CHECK(r.pass_at_1 == Approx((0.25 + 0 + 1) / 3));
  CHECK(r.pass_at_k.at(1) == Approx(r.pass_at_1));  // the unbiased pass@1 is the mean accuracy
  CHECK(r.pass_at_k.at(2) == Approx(0.5));          // (0.5 + 0 + 1) / 3
  CHECK(r.pass_at_k.at(4) == Approx(2.0 / 3));
  CHECK(r.maj_at_k == Approx(2.0 / 3));
  CHECK(r.by_task.at("a").prompts == 2);
  CHECK(r.by_task.at("a").pass_at_1 == Approx(0.125));
  CHECK(r.by_task.at("a").pass_at_k.at(2) == Approx(0.25));
  CHECK(r.by_task.at("a").pass_at_k.at(4) == Approx(0.5));
  CHECK(r.by_task.at("a").maj_at_k == Approx(0.5));
  CHECK(r.by_task.at("b").pass_at_k.at(4) == 1.0);
  CHECK(r.pass_at_1_by_task.at("a") == Approx(0.125));

  auto table = eval_table(r, "after GRPO");
  INFO(table);
  CHECK(table.find("eval after GRPO: 3 prompts (3 distinct), k = 4 samples") != std::string::npos);
  CHECK(table.find("pass@1   pass@2   pass@4    maj@4") != std::string::npos);
  CHECK(table.find("  a           2    0.125    0.250    0.500    0.500") != std::string::npos);
  CHECK(table.find("  all         3    0.417    0.500    0.667    0.667") != std::string::npos);

  auto json = to_json(r);
  CHECK(json["pass_at_k"]["4"].get<double>() == Approx(2.0 / 3));
  CHECK(json["by_task"]["a"]["maj_at_k"].get<double>() == Approx(0.5));
  CHECK(json["samples"] == 4);
}

TEST_CASE("evaluation: the k' list defaults to {1, k}, and one past k is refused") {
  CHECK(*pass_at_values({}, 4) == std::vector<std::uint32_t>{1, 4});
  CHECK(*pass_at_values({}, 1) == std::vector<std::uint32_t>{1});
  CHECK(*pass_at_values({4, 1, 4, 2}, 4) == std::vector<std::uint32_t>{1, 2, 4});
  auto refused = pass_at_values({8}, 4);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message.find("eval.pass_at = 8") != std::string::npos);
  CHECK_FALSE(pass_at_values({0}, 4).ok());

  auto config = config::load_string<run_config>("[eval]\nsamples = 4\npass_at = [1, 8]\n", {});
  REQUIRE(config.ok());
  resolve(*config);
  auto valid = validate(*config);
  REQUIRE_FALSE(valid.ok());
  CHECK(valid.error().message.find("eval.pass_at holds 8") != std::string::npos);
}
