// replay_store: RocksDB column families "groups" (id -> codec bytes), "index" (id -> entry) and
// default ("format", "learner_step"). Every acknowledged write went through one WriteBatch.
#include "actors/replay_store.hpp"

#include <cstring>
#include <filesystem>

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include "core/fault_point.hpp"
#include "protocol/codec.hpp"

namespace aha::actors {
namespace {

constexpr const char* kFormatKey = "format";
constexpr const char* kFormat = "aha.replay/1";  // bump when keys or entry packing change
constexpr const char* kLearnerStepKey = "learner_step";
constexpr const char* kNextIdKey = "next_id";  // ids are never reused, even after eviction

std::string pack_u64s(std::initializer_list<std::uint64_t> values) {
  std::string out;
  for (auto v : values) out.append(replay_key(v));
  return out;
}

std::uint64_t u64_at(const std::string& bytes, std::size_t index) {
  return replay_key_id(bytes.substr(index * 8, 8));
}

// The third word is the group's state: 0 unconsumed, 1 consumed, 2 dropped (older stores: 0/1).
std::string pack_entry(const replay_entry& e) {
  return pack_u64s({e.weight_version, e.bytes, e.consumed ? 1u : (e.dropped ? 2u : 0u), e.consumed_step});
}

result<replay_entry> unpack_entry(const std::string& bytes) {
  if (bytes.size() != 32) return make_error(errc::corrupt_data, "replay index entry of " + std::to_string(bytes.size()) + " bytes, expected 32");
  const auto state = u64_at(bytes, 2);
  if (state > 2) return make_error(errc::corrupt_data, "replay index entry in state " + std::to_string(state) + ", expected 0..2");
  return replay_entry{u64_at(bytes, 0), u64_at(bytes, 1), state == 1, u64_at(bytes, 3), state == 2};
}

status from_rocks(const rocksdb::Status& s, const std::string& what) {
  if (s.ok()) return ok_status();
  return make_error(errc::io_error, "replay store: " + what + ": " + s.ToString());
}

}  // namespace

std::string replay_key(std::uint64_t id) {
  std::string key(8, '\0');
  for (int i = 7; i >= 0; --i, id >>= 8) key[static_cast<std::size_t>(i)] = static_cast<char>(id & 0xff);
  return key;
}

std::uint64_t replay_key_id(const std::string& key) {
  std::uint64_t id = 0;
  for (std::size_t i = 0; i < 8 && i < key.size(); ++i) id = (id << 8) | static_cast<unsigned char>(key[i]);
  return id;
}

result<std::unique_ptr<replay_store>> replay_store::open(const replay_store_options& options) {
  if (options.dir.empty()) return make_error(errc::invalid_argument, "replay store: empty directory");
  if (options.read_only && !std::filesystem::exists(options.dir)) {
    return make_error(errc::not_found, "replay store: no folder " + options.dir);
  }
  std::unique_ptr<replay_store> store(new replay_store(options));
  if (auto s = store->open_db(); !s) return s.error();
  if (auto s = store->load_index(); !s) return s.error();
  return store;
}

status replay_store::open_db() {
  std::error_code ec;
  std::filesystem::create_directories(options_.dir, ec);
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
      {"groups", rocksdb::ColumnFamilyOptions()},
      {"index", rocksdb::ColumnFamilyOptions()}};
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  auto s = options_.read_only ? rocksdb::DB::OpenForReadOnly(db_options, options_.dir, families, &handles, &db_)
                              : rocksdb::DB::Open(db_options, options_.dir, families, &handles, &db_);
  if (!s.ok()) return from_rocks(s, "open " + options_.dir);
  default_cf_ = handles[0];
  groups_cf_ = handles[1];
  index_cf_ = handles[2];
  std::string format;
  s = db_->Get(rocksdb::ReadOptions(), default_cf_, kFormatKey, &format);
  if (s.IsNotFound() && options_.read_only) return make_error(errc::corrupt_data, options_.dir + " is not an aha replay store (no format marker)");
  if (s.IsNotFound()) return from_rocks(db_->Put(rocksdb::WriteOptions(), default_cf_, kFormatKey, kFormat), "write format");
  if (!s.ok()) return from_rocks(s, "read format");
  if (format != kFormat) {
    return make_error(errc::version_mismatch, "replay store " + options_.dir + " has format '" + format + "', this build reads '" + kFormat + "'");
  }
  return ok_status();
}

status replay_store::load_index() {
  std::string step;
  auto s = db_->Get(rocksdb::ReadOptions(), default_cf_, kLearnerStepKey, &step);
  if (s.ok()) learner_step_ = replay_key_id(step);
  std::string next;
  if (db_->Get(rocksdb::ReadOptions(), default_cf_, kNextIdKey, &next).ok()) next_id_ = std::max(next_id_, replay_key_id(next));
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), index_cf_));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto entry = unpack_entry(it->value().ToString());
    if (!entry) return entry.error();
    auto id = replay_key_id(it->key().ToString());
    index_[id] = *entry;
    stored_bytes_ += entry->bytes;
    next_id_ = std::max(next_id_, id + 1);
  }
  return from_rocks(it->status(), "scan index");
}

replay_store::~replay_store() {
  if (!db_) return;
  for (auto* handle : {groups_cf_, index_cf_, default_cf_}) {
    if (handle) db_->DestroyColumnFamilyHandle(handle);
  }
  delete db_;
}

status replay_store::write(void* batch, bool sync) {
  rocksdb::WriteOptions write_options;
  write_options.sync = sync;
  return from_rocks(db_->Write(write_options, static_cast<rocksdb::WriteBatch*>(batch)), "write");
}

result<std::vector<std::uint64_t>> replay_store::append(std::vector<protocol::scored_group>& groups) {
  if (options_.read_only) return make_error(errc::invalid_argument, "replay store: opened read-only");
  rocksdb::WriteBatch batch;
  std::vector<std::uint64_t> ids;
  std::vector<replay_entry> entries;
  for (auto& group : groups) {
    group.group_id = next_id_ + ids.size();
    auto bytes = protocol::encode(group);
    entries.push_back(replay_entry{group.min_weight_version, bytes.size(), false, 0});
    batch.Put(groups_cf_, replay_key(group.group_id), bytes);
    batch.Put(index_cf_, replay_key(group.group_id), pack_entry(entries.back()));
    ids.push_back(group.group_id);
  }
  batch.Put(default_cf_, kNextIdKey, replay_key(next_id_ + ids.size()));
  AHA_FAULT_POINT("replay.before_commit");
  if (auto s = write(&batch, options_.sync); !s) return s.error();
  AHA_FAULT_POINT("replay.after_commit");
  next_id_ += ids.size();
  for (std::size_t i = 0; i < ids.size(); ++i) {
    index_[ids[i]] = entries[i];
    stored_bytes_ += entries[i].bytes;
  }
  return ids;
}

result<protocol::scored_group> replay_store::get(std::uint64_t group_id) const {
  std::string bytes;
  auto s = db_->Get(rocksdb::ReadOptions(), groups_cf_, replay_key(group_id), &bytes);
  if (s.IsNotFound()) return make_error(errc::not_found, "replay store: no group " + std::to_string(group_id));
  if (!s.ok()) return from_rocks(s, "get").error();
  return protocol::decode<protocol::scored_group>(bytes);
}

status replay_store::consume(std::uint64_t step, const std::vector<std::uint64_t>& group_ids) {
  if (options_.read_only) return make_error(errc::invalid_argument, "replay store: opened read-only");
  rocksdb::WriteBatch batch;
  std::map<std::uint64_t, replay_entry> updated;
  for (auto id : group_ids) {
    auto it = index_.find(id);
    if (it == index_.end()) return make_error(errc::not_found, "replay store: consume of unknown group " + std::to_string(id));
    if (it->second.consumed || updated.count(id)) {
      return make_error(errc::invalid_argument, "replay store: group " + std::to_string(id) + " is already consumed");
    }
    if (it->second.dropped) {
      return make_error(errc::invalid_argument, "replay store: group " + std::to_string(id) + " was dropped as stale");
    }
    auto entry = it->second;
    entry.consumed = true;
    entry.consumed_step = step;
    batch.Put(index_cf_, replay_key(id), pack_entry(entry));
    updated[id] = entry;
  }
  batch.Put(default_cf_, kLearnerStepKey, replay_key(step));
  AHA_FAULT_POINT("replay.before_consume");
  if (auto s = write(&batch, options_.sync); !s) return s;
  for (auto& [id, entry] : updated) index_[id] = entry;
  learner_step_ = step;
  return ok_status();
}

result<std::uint64_t> replay_store::rewind(std::uint64_t step) {
  if (options_.read_only) return make_error(errc::invalid_argument, "replay store: opened read-only");
  rocksdb::WriteBatch batch;
  std::vector<std::uint64_t> ids;
  for (const auto& [id, entry] : index_) {
    if (!entry.consumed || entry.consumed_step < step) continue;
    batch.Put(index_cf_, replay_key(id), pack_entry(replay_entry{entry.weight_version, entry.bytes, false, 0}));
    ids.push_back(id);
  }
  if (ids.empty()) return std::uint64_t{0};
  const std::uint64_t last_step = step == 0 ? 0 : step - 1;
  batch.Put(default_cf_, kLearnerStepKey, replay_key(last_step));
  if (auto s = write(&batch, options_.sync); !s) return s.error();
  for (auto id : ids) index_[id].consumed = false, index_[id].consumed_step = 0;
  learner_step_ = std::min(learner_step_, last_step);
  return static_cast<std::uint64_t>(ids.size());
}

result<std::uint64_t> replay_store::rebase_newer_than(std::uint64_t version) {
  if (options_.read_only) return make_error(errc::invalid_argument, "replay store: opened read-only");
  rocksdb::WriteBatch batch;
  std::vector<std::uint64_t> ids;
  for (const auto& [id, entry] : index_) {
    if (entry.consumed || entry.dropped || entry.weight_version <= version) continue;
    batch.Put(index_cf_, replay_key(id), pack_entry(replay_entry{version, entry.bytes, false, 0}));
    ids.push_back(id);
  }
  if (ids.empty()) return std::uint64_t{0};
  if (auto s = write(&batch, options_.sync); !s) return s.error();
  for (auto id : ids) index_[id].weight_version = version;
  return static_cast<std::uint64_t>(ids.size());
}

status replay_store::mark_dropped(const std::vector<std::uint64_t>& group_ids) {
  if (options_.read_only) return make_error(errc::invalid_argument, "replay store: opened read-only");
  rocksdb::WriteBatch batch;
  std::vector<std::uint64_t> ids;
  for (auto id : group_ids) {
    auto it = index_.find(id);
    if (it == index_.end()) return make_error(errc::not_found, "replay store: drop of unknown group " + std::to_string(id));
    if (it->second.consumed) {
      return make_error(errc::invalid_argument, "replay store: group " + std::to_string(id) + " is consumed, not droppable");
    }
    auto entry = it->second;
    entry.dropped = true;
    batch.Put(index_cf_, replay_key(id), pack_entry(entry));
    ids.push_back(id);
  }
  if (ids.empty()) return ok_status();
  if (auto s = write(&batch, options_.sync); !s) return s;
  for (auto id : ids) index_[id].dropped = true;
  return ok_status();
}

bool replay_store::over_bound() const {
  return (options_.max_bytes > 0 && stored_bytes_ > options_.max_bytes) ||
         (options_.max_groups > 0 && index_.size() > options_.max_groups);
}

result<std::vector<std::uint64_t>> replay_store::evict(const std::set<std::uint64_t>& stale) {
  std::vector<std::uint64_t> victims;
  std::uint64_t bytes = stored_bytes_;
  std::size_t count = index_.size();
  auto over = [&] {
    return (options_.max_bytes > 0 && bytes > options_.max_bytes) || (options_.max_groups > 0 && count > options_.max_groups);
  };
  auto take = [&](std::uint64_t id) {
    victims.push_back(id);
    bytes -= index_.at(id).bytes;
    --count;
  };
  for (auto it = index_.begin(); it != index_.end() && over(); ++it) {
    if (it->second.consumed) take(it->first);
  }
  for (auto it = stale.begin(); it != stale.end() && over(); ++it) {
    auto found = index_.find(*it);
    if (found != index_.end() && !found->second.consumed) take(*it);
  }
  if (auto s = erase(victims); !s) return s.error();
  return victims;
}

status replay_store::erase(const std::vector<std::uint64_t>& ids) {
  if (ids.empty() || options_.read_only) return ok_status();
  rocksdb::WriteBatch batch;
  for (auto id : ids) {
    batch.Delete(groups_cf_, replay_key(id));
    batch.Delete(index_cf_, replay_key(id));
  }
  // Not synced: an eviction lost in a machine crash only brings back a consumed or stale group.
  if (auto s = write(&batch, false); !s) return s;
  for (auto id : ids) {
    stored_bytes_ -= index_.at(id).bytes;
    index_.erase(id);
  }
  return ok_status();
}

}  // namespace aha::actors
