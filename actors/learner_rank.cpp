// Rank 0's commands and the other ranks' loop (actors/learner_rank.hpp).
#include "actors/learner_rank.hpp"

#include "protocol/codec.hpp"

namespace aha::actors {
namespace {

// A command is one kind byte and its payload.
constexpr char kSync = 's';  // no payload: broadcast_state
constexpr char kGrpo = 'g';  // payload: the encoded learner_batch
constexpr char kStop = 'x';  // payload: the reason ("" = the run is done)

std::string command_key(std::uint64_t n) { return "aha/learner/command/" + std::to_string(n); }

}  // namespace

rank_leader::rank_leader(std::shared_ptr<cluster::data_parallel_group> group, std::shared_ptr<policy_trainer> trainer)
    : group_(std::move(group)), trainer_(std::move(trainer)) {
  trainer_->set_group(group_);
}

rank_leader::~rank_leader() {
  try {
    if (!stopped_) stop("rank 0's learner stopped before its last step");
  } catch (const std::exception&) {
    // The others are gone already, or will see the store close with this process.
  }
  trainer_->set_group(nullptr);
}

void rank_leader::post(char kind, const std::string& payload) {
  group_->post(command_key(next_++), std::string(1, kind) + payload);
}

// Once a command's collectives completed, every rank has read every command up to it: erase them
// (the store would otherwise keep every step's batch).
void rank_leader::done_with_posted() {
  for (; erased_ < next_; ++erased_) group_->erase(command_key(erased_));
}

void rank_leader::sync_state() {
  post(kSync, "");
  trainer_->broadcast_state();
  done_with_posted();
}

metric_map rank_leader::grpo_step(const protocol::learner_batch& batch) {
  post(kGrpo, protocol::encode(batch));
  auto metrics = trainer_->grpo_step(batch);
  if (metrics.count("grpo/updates")) done_with_posted();  // a step with no rows ran no collective
  return metrics;
}

void rank_leader::stop(const std::string& reason) {
  stopped_ = true;
  post(kStop, reason);
}

status serve_rank(cluster::data_parallel_group& group, policy_trainer& trainer, std::chrono::milliseconds idle,
                  std::ostream& log) {
  const std::string where = "learner rank " + std::to_string(group.rank()) + " of " + std::to_string(group.world());
  for (std::uint64_t n = 0;; ++n) {
    std::string command;
    try {
      command = group.await(command_key(n), idle);
    } catch (const cluster::rank_lost& e) {
      return make_error(errc::unavailable, where + ": " + e.what());
    }
    if (command.empty()) return make_error(errc::corrupt_data, where + ": command " + std::to_string(n) + " is empty");
    const char kind = command[0];
    const std::string_view payload(command.data() + 1, command.size() - 1);
    try {
      if (kind == kStop) {
        if (payload.empty()) return ok_status();
        return make_error(errc::unavailable, where + ": rank 0 stopped: " + std::string(payload));
      } else if (kind == kSync) {
        trainer.broadcast_state();
        log << where << ": state synchronised with rank 0\n";
      } else if (kind == kGrpo) {
        auto batch = protocol::decode<protocol::learner_batch>(payload);
        if (!batch) return make_error(errc::corrupt_data, where + ": command " + std::to_string(n) + ": " + batch.error().message);
        auto metrics = trainer.grpo_step(*batch);
        log << where << ": step " << batch->step << " done (loss " << metrics["grpo/loss"] << ")\n";
      } else {
        return make_error(errc::corrupt_data, where + ": command " + std::to_string(n) + " has unknown kind '" +
                                                  std::string(1, kind) + "'");
      }
    } catch (const cluster::rank_lost& e) {
      return make_error(errc::unavailable, where + ": " + e.what());
    }
  }
}

}  // namespace aha::actors
