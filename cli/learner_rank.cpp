// `aha learner-rank CONFIG --rank N [--set key=value ...]`: one more data-parallel learner rank
// for the run `aha train CONFIG` leads (grpo.learner.ranks = W, grpo.learner.rendezvous =
// "IP:PORT"). It builds the recipe's policy (its weights come from rank 0), joins rank 0 at the
// rendezvous, then trains its share of every GRPO step until rank 0 says the run is done (exit
// 0) or the group breaks (exit 1, with the reason). It never reads the replay buffer or writes
// a checkpoint: rank 0 does both. Tested by tests/data_parallel.test.cpp.
#include <iostream>

#include "actors/learner_rank.hpp"
#include "actors/run_config.hpp"
#include "cli/command.hpp"
#include "model/runtime.hpp"
#include "pipeline/stage_context.hpp"

namespace {

using namespace aha;

int learner_rank(cli::arguments& args) {
  auto overrides = args.options("--set");
  auto rank_text = args.option("--rank");
  auto positional = args.positionals();
  if (auto unknown = args.unknown_options(); !unknown.empty()) return cli::usage_error("learner-rank", unknown);
  if (positional.size() != 1 || !rank_text) {
    return cli::usage_error("learner-rank", "usage: aha learner-rank CONFIG --rank N [--set key=value ...]");
  }
  auto config = config::load<actors::run_config>(positional[0], overrides);
  if (!config) {
    std::cerr << config.error().message << "\n";
    return 2;
  }
  actors::resolve(*config);  // the same derived settings as rank 0 (the schedule's horizon, say)
  const auto& learner = config->grpo.learner;
  int rank = 0;
  try {
    rank = std::stoi(*rank_text);
  } catch (const std::exception&) {
    rank = -1;
  }
  if (rank < 1 || rank >= static_cast<int>(learner.ranks)) {
    return cli::usage_error("learner-rank", "--rank " + *rank_text + ": must be 1.." +
                                                std::to_string(static_cast<int>(learner.ranks) - 1) +
                                                " (grpo.learner.ranks = " + std::to_string(learner.ranks) + ")");
  }
  if (!config->stages.empty()) {
    std::cerr << "aha learner-rank: the recipe has [[stages]]; data-parallel ranks follow a recipe without them\n";
    return 2;
  }
  if (auto valid = actors::validate(*config); !valid) {
    std::cerr << valid.error().message << "\n";
    return 2;
  }
  model::tune_malloc();
  model::set_threads(static_cast<int>(learner.threads));
  model::seed_everything(config->run.seed);
  // The recipe's policy as `aha train` builds it (its weights are replaced by rank 0's when the
  // group starts).
  auto policy = pipeline::load_model(config->model, config->run.seed);
  if (!policy) {
    std::cerr << "aha learner-rank: " << policy.error().message << "\n";
    return 1;
  }
  auto trainer = std::make_shared<actors::policy_trainer>(policy->policy, pipeline::grpo_trainer_config(*config),
                                                          policy->tokenizer->pad_id());
  cluster::data_parallel_config dp;
  dp.rendezvous = learner.rendezvous;
  dp.rank = rank;
  dp.world = static_cast<int>(learner.ranks);
  dp.timeout = learner.rank_timeout;
  dp.rendezvous_timeout = learner.rendezvous_timeout;
  std::cerr << "learner rank " << rank << " of " << dp.world << ": joining rank 0 at " << dp.rendezvous << "\n";
  auto group = cluster::data_parallel_group::join(dp);
  if (!group) {
    std::cerr << "aha learner-rank: " << group.error().message << "\n";
    return 1;
  }
  std::shared_ptr<cluster::data_parallel_group> shared(std::move(*group));
  trainer->set_group(shared);
  auto served = actors::serve_rank(*shared, *trainer, learner.rank_idle, std::cerr);
  trainer->set_group(nullptr);
  if (!served) {
    std::cerr << "aha learner-rank: " << served.error().message << "\n";
    return 1;
  }
  std::cerr << "learner rank " << rank << ": rank 0 finished the run\n";
  return 0;
}

}  // namespace

AHA_COMMAND("learner-rank", "run one more data-parallel learner rank for `aha train` (grpo.learner.ranks)",
            learner_rank);
