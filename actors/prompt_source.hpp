// prompt_source: hands out prompts in shuffled epochs (seeded) and never loses one: a prompt is
// outstanding from next() until done(), and re-issued when its group is lost (requeue: its
// holder died, grading failed, the group went stale) or when it was held at a restart. The
// cursor persists in a small JSON file (temp file, fsync, rename, fsync of the folder), and at
// start-up reconcile() lines it up with the replay store. prompt_cursor is the plain, testable core; the actor (interfaces.hpp, prompt_source_actor: next / stored / requeue /
// done / stats) wraps it. Tested by prompt_source.test.cpp.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/interfaces.hpp"
#include "actors/tasks/dataset.hpp"
#include "core/result.hpp"

namespace aha::actors {

struct prompt_source_config {
  tasks::dataset_config dataset;               // what the prompts are
  std::uint64_t shuffle_seed = 0;              // epoch order; 0 = run.seed
  std::uint64_t epochs = 0;                    // 0 = unbounded
  std::string state_file = "prompt_cursor.json";  // cursor file, relative to the run dir ("" = none)
};
template <class V>
void describe(V& v, prompt_source_config& c) {
  v.section("dataset", c.dataset, "training and held-out prompts");
  v.field("shuffle_seed", c.shuffle_seed, "seed of the epoch shuffles (0 = run.seed)");
  v.field("epochs", c.epochs, "passes over the training prompts (0 = unbounded)");
  v.field("state_file", c.state_file, "cursor file for resuming, relative to the run directory");
}

// Prompt ids are (epoch << 32) | index in the dataset.
inline std::uint64_t prompt_id_of(std::uint64_t epoch, std::uint64_t index) { return (epoch << 32) | index; }

// What the replay store holds for one prompt id (its groups carry it as source.id), for reconcile().
struct stored_prompt {
  std::uint64_t unconsumed = 0;  // groups not consumed: trainable (or dropped as stale, in memory only)
  std::uint64_t consumed = 0;
};

// What reconcile() changed.
struct reconcile_counts {
  std::uint64_t held_now_stored = 0;  // held (to be re-issued) but the store has their unconsumed group
  std::uint64_t held_now_done = 0;    // held, but the store has their group consumed
  std::uint64_t stored_now_done = 0;  // stored, and the store has their group consumed
  std::uint64_t stored_reissued = 0;  // stored, but the store has no group of theirs (evicted): asked again
};

class prompt_cursor {
 public:
  // Resumes from `state_file` when it exists (it must describe the same dataset size and seed).
  static result<std::unique_ptr<prompt_cursor>> open(std::shared_ptr<const tasks::prompt_dataset> dataset,
                                                     std::uint64_t shuffle_seed, std::uint64_t epochs,
                                                     std::string state_file);
  // Up to n prompts, now held by `holder` (a number naming the asker, not 0 or ~0): re-issues
  // first, then the shuffled order; fewer only when epochs ran out.
  result<std::vector<protocol::prompt>> next(std::uint32_t n, std::uint64_t holder = 1);
  // The holder gave these prompts' groups to the grader: requeue_holder() no longer takes them
  // (a restart still re-issues them until stored()). Ids not held are ignored. Not persisted.
  void hand_over(const std::vector<std::uint64_t>& ids);
  // These prompts' groups are durable: a restart or their holder's death no longer re-issues them.
  // Ids not outstanding are ignored. Persists.
  status stored(const std::vector<std::uint64_t>& ids);
  // Puts outstanding prompts (held or stored) back for re-issue, ahead of new ones; returns how
  // many were outstanding (others are ignored: done, or never issued). Persists.
  result<std::uint64_t> requeue(const std::vector<std::uint64_t>& ids);
  // Requeues every prompt `holder` holds (not the stored ones: their groups survive it).
  result<std::uint64_t> requeue_holder(std::uint64_t holder);
  // Marks prompts done (unknown ids are ignored: e.g. done twice). Persists.
  status done(const std::vector<std::uint64_t>& ids);
  prompt_source_stats stats() const;
  // The prompt with this id, regenerated from the dataset.
  protocol::prompt prompt_of(std::uint64_t id) const;

  // Start-up, before any next(): makes the cursor agree with the replay store, `store` (prompt id
  // -> its groups there). The store is the truth: its commits and consumptions are synced, atomic
  // and come first; the cursor hears of each one message later (stored() after the commit, done()
  // after the consumption), so a kill in between leaves it one step behind. The invariant it
  // restores, for every prompt id p:
  //   - p has a group in the store  =>  the cursor issued p (error otherwise: the cursor file is
  //     not this run's, or older than the store);
  //   - p has an unconsumed group   =>  p is stored or done, never held: it is not asked again
  //     (a crash between commit and stored() used to re-issue it: two groups for one prompt);
  //   - p has only consumed groups  =>  p is done (a crash between consumption and done());
  //   - p is stored                 =>  it has a group; one evicted meanwhile is asked again;
  //   - p is held                   =>  it has no group, and waits to be re-issued, first.
  // A done prompt whose group the resume rewound to unconsumed stays done: the group is trained
  // again, the prompt is not. Persists when anything changed.
  result<reconcile_counts> reconcile(const std::map<std::uint64_t, stored_prompt>& store);

 private:
  prompt_cursor() = default;
  status load();
  status save() const;
  void enter_epoch(std::uint64_t epoch);

  std::shared_ptr<const tasks::prompt_dataset> dataset_;
  std::uint64_t seed_ = 0;
  std::uint64_t epochs_ = 0;
  std::string state_file_;
  std::uint64_t epoch_ = 0;
  std::uint64_t position_ = 0;                 // next position in the epoch's order
  std::vector<std::uint32_t> order_;           // [N] the epoch's permutation of indices
  // Outstanding = held_ + stored_. A holder of kNoHolder means "waiting in reissue_"; kGrader
  // means "handed over to the grader". Callers' holders are other numbers.
  static constexpr std::uint64_t kNoHolder = 0;
  static constexpr std::uint64_t kGrader = ~std::uint64_t{0};
  std::map<std::uint64_t, std::uint64_t> held_;  // prompt id -> holder; its group is not durable yet
  std::set<std::uint64_t> stored_;               // its group is durable in the replay buffer
  std::deque<std::uint64_t> reissue_;            // ids to hand out first (entries no longer waiting are skipped)
  std::uint64_t issued_ = 0;
  std::uint64_t done_ = 0;
  std::uint64_t requeued_ = 0;
  std::uint64_t reissued_ = 0;
};

// Opens the training split and the cursor (at `state_file`, already resolved) and spawns the
// actor. Cursor writes are small files: threading::scheduled is acceptable, detached is default.
result<prompt_source_actor> spawn_prompt_source(caf::actor_system& sys, const prompt_source_config& config,
                                               const std::string& state_file, threading mode = threading::detached);

}  // namespace aha::actors
