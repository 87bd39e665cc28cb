// replay_store: the RocksDB storage under the replay buffer — a plain, single-threaded class
// (no CAF) that stores scored groups durably, records their consumption atomically with the
// learner step, keeps a small in-memory index, and evicts by a size bound. The replay_buffer
// actor owns one on a thread where blocking I/O is allowed. Values are protocol::encode bytes.
// Tested by actors/replay_store.test.cpp (round trip, consumption, bound, reopen, kill -9).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/result.hpp"
#include "protocol/messages.hpp"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
}  // namespace rocksdb

namespace aha::actors {

struct replay_store_options {
  std::string dir;                 // RocksDB folder (created when missing)
  bool sync = true;                // fsync the WAL on every append/consume (machine-crash safe)
  std::uint64_t max_bytes = 0;     // bound on stored value bytes; 0 = unbounded
  std::uint64_t max_groups = 0;    // bound on stored groups; 0 = unbounded
  bool read_only = false;          // inspect a store (even one a running job holds); no writes
};

// What the index knows about one stored group (kept in RAM, persisted in the "index" family).
struct replay_entry {
  std::uint64_t weight_version = 0;  // the group's min_weight_version
  std::uint64_t bytes = 0;           // size of the stored value
  bool consumed = false;
  std::uint64_t consumed_step = 0;   // learner step that consumed it (when consumed)
  bool dropped = false;              // too stale to train: never served again, its prompt re-issued
};

class replay_store {
 public:
  // Opens or creates the store; checks the on-disk format marker (magic + version).
  static result<std::unique_ptr<replay_store>> open(const replay_store_options& options);
  ~replay_store();  // closes iterators, then column families, then the DB
  replay_store(const replay_store&) = delete;
  replay_store& operator=(const replay_store&) = delete;

  // Stores groups in ONE (synced) WriteBatch; assigns each a fresh group_id (ids grow with
  // arrival, so key order = age). Returns the ids; on error nothing was acknowledged.
  result<std::vector<std::uint64_t>> append(std::vector<protocol::scored_group>& groups);
  // Reads one group back.
  result<protocol::scored_group> get(std::uint64_t group_id) const;
  // Marks groups consumed and records the learner step in ONE (synced) WriteBatch. Every id must
  // exist and be unconsumed, else nothing is written (errc::invalid_argument / not_found).
  status consume(std::uint64_t step, const std::vector<std::uint64_t>& group_ids);
  // Resuming from a checkpoint taken after learner step `step` - 1: the consumption of steps >= step
  // was never saved in a model, so those groups become unconsumed (trainable) again, in ONE
  // (synced) WriteBatch. Returns how many. (Groups already evicted cannot come back.)
  result<std::uint64_t> rewind(std::uint64_t step);
  // Resuming with weights of `version`: unconsumed groups made by a newer version (weights lost
  // with the crash) get `version` in the index, in ONE (synced) WriteBatch, so the staleness
  // filter never sees a group newer than the learner. The stored rollouts keep the version that
  // made them. Returns how many were re-based.
  result<std::uint64_t> rebase_newer_than(std::uint64_t version);
  // Marks unconsumed groups dropped (too stale to train; their prompts are asked again) in ONE
  // (synced) WriteBatch, so that a restarted buffer never serves them: their prompts' new groups
  // are the ones trained. Dropped groups are not consumed, rewound or re-based; they are evicted
  // like stale ones.
  status mark_dropped(const std::vector<std::uint64_t>& group_ids);
  // Deletes groups while over a bound: oldest consumed first, then the oldest in `stale`.
  // Returns the ids deleted. Unconsumed fresh groups are never evicted (the bound is soft).
  result<std::vector<std::uint64_t>> evict(const std::set<std::uint64_t>& stale);

  const std::map<std::uint64_t, replay_entry>& entries() const { return index_; }
  std::uint64_t stored_bytes() const { return stored_bytes_; }
  std::uint64_t learner_step() const { return learner_step_; }  // last consume's step (0 if none)
  bool over_bound() const;
  const replay_store_options& options() const { return options_; }

 private:
  explicit replay_store(replay_store_options options) : options_(std::move(options)) {}
  status open_db();
  status load_index();
  status write(void* batch, bool sync);  // rocksdb::WriteBatch*
  status erase(const std::vector<std::uint64_t>& ids);

  replay_store_options options_;
  rocksdb::DB* db_ = nullptr;
  rocksdb::ColumnFamilyHandle* groups_cf_ = nullptr;  // id -> encoded scored_group
  rocksdb::ColumnFamilyHandle* index_cf_ = nullptr;   // id -> packed replay_entry
  rocksdb::ColumnFamilyHandle* default_cf_ = nullptr; // "format", "learner_step"
  std::map<std::uint64_t, replay_entry> index_;
  std::uint64_t next_id_ = 1;
  std::uint64_t stored_bytes_ = 0;
  std::uint64_t learner_step_ = 0;
};

// Big-endian key: lexicographic order = numeric order.
std::string replay_key(std::uint64_t group_id);
std::uint64_t replay_key_id(const std::string& key);

}  // namespace aha::actors
