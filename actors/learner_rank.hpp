// learner ranks: how rank 0 (the learner actor inside `aha train`) and the other ranks (each an
// `aha learner-rank` process) take the learner's steps together. Rank 0 posts numbered commands
// on the group's store ("aha/learner/command/<n>": sync the state, a GRPO step on this batch,
// stop); each rank waits for the next one, then all run it together (the collectives inside
// policy_trainer). Only rank 0 talks to the replay buffer, the generators and the checkpoint: a
// step's consumption stays atomic with it. Tested by actors/data_parallel_step.test.cpp and, as
// processes, tests/data_parallel.test.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <ostream>
#include <string>

#include "actors/policy_trainer.hpp"
#include "cluster/data_parallel.hpp"

namespace aha::actors {

// Rank 0's side. Every call is collective with the other ranks' serve_rank and throws
// cluster::rank_lost when one is lost.
class rank_leader {
 public:
  rank_leader(std::shared_ptr<cluster::data_parallel_group> group, std::shared_ptr<policy_trainer> trainer);
  ~rank_leader();  // tells the other ranks to stop, if not told yet (they exit with an error)
  rank_leader(const rank_leader&) = delete;
  rank_leader& operator=(const rank_leader&) = delete;

  // The other ranks take rank 0's weights, reference and optimizer state (at the start, or resumed).
  void sync_state();
  // One GRPO learner step of the whole batch, each rank training its share.
  metric_map grpo_step(const protocol::learner_batch& batch);
  // The other ranks end: with success when `reason` is empty, else with it as their error.
  void stop(const std::string& reason);

 private:
  void post(char kind, const std::string& payload);
  void done_with_posted();

  std::shared_ptr<cluster::data_parallel_group> group_;
  std::shared_ptr<policy_trainer> trainer_;
  std::uint64_t next_ = 0;    // the next command's number
  std::uint64_t erased_ = 0;  // commands below this are erased from the store
  bool stopped_ = false;
};

// Rank r > 0: runs rank 0's commands until it says stop. `idle` bounds the wait for one command
// (rank 0 may wait long for a batch between steps). Returns an error when rank 0 stopped with a
// reason, or any rank was lost (rank_lost's message), or a command did not decode.
status serve_rank(cluster::data_parallel_group& group, policy_trainer& trainer, std::chrono::milliseconds idle,
                  std::ostream& log);

}  // namespace aha::actors
