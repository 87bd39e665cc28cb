// prompt_source: the cursor (shuffled epochs, requeue and re-issue, JSON state file) and its actor.
#include "actors/prompt_source.hpp"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

namespace aha::actors {
namespace {
// Version 2 added "stored" (and the requeue counters); version 1 files read as "nothing stored".
constexpr const char* kCursorFormat = "aha.prompt_cursor/2";
constexpr const char* kCursorFormatV1 = "aha.prompt_cursor/1";

status io_error(const std::string& what, const std::string& path) {
  return make_error(errc::io_error, "prompt source: " + what + " " + path + ": " + std::strerror(errno));
}

// `text` replaces the file at `path` so that after a crash, of the process or of the machine, the
// file holds the old text or the new one: a temp file, fsynced, renamed over it, and the folder
// fsynced so the rename itself is on disk.
status write_durably(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return io_error("cannot create", tmp);
  for (std::size_t done = 0; done < text.size();) {
    const auto n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return ::close(fd), io_error("cannot write", tmp);
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) return ::close(fd), io_error("cannot fsync", tmp);
  if (::close(fd) != 0) return io_error("cannot close", tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return io_error("cannot rename to", path);
  const auto parent = std::filesystem::path(path).parent_path();
  const std::string folder = parent.empty() ? "." : parent.string();
  const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return io_error("cannot open", folder);
  const int rc = ::fsync(dir);
  ::close(dir);
  if (rc != 0) return io_error("cannot fsync", folder);
  return ok_status();
}

}  // namespace

result<std::unique_ptr<prompt_cursor>> prompt_cursor::open(std::shared_ptr<const tasks::prompt_dataset> dataset,
                                                           std::uint64_t shuffle_seed, std::uint64_t epochs,
                                                           std::string state_file) {
  if (!dataset || dataset->size() == 0) return make_error(errc::invalid_argument, "prompt source: empty dataset");
  std::unique_ptr<prompt_cursor> cursor(new prompt_cursor());
  cursor->dataset_ = std::move(dataset);
  cursor->seed_ = shuffle_seed;
  cursor->epochs_ = epochs;
  cursor->state_file_ = std::move(state_file);
  if (!cursor->state_file_.empty() && std::filesystem::exists(cursor->state_file_)) {
    if (auto s = cursor->load(); !s) return s.error();
  } else {
    cursor->enter_epoch(0);
  }
  return cursor;
}

void prompt_cursor::enter_epoch(std::uint64_t epoch) {
  epoch_ = epoch;
  position_ = 0;
  auto n = dataset_->size();
  order_.resize(n);
  for (std::uint64_t i = 0; i < n; ++i) order_[i] = static_cast<std::uint32_t>(i);
  tasks::sample_rng rng(seed_ ^ 0x5eed5eedull, tasks::split::train, epoch);
  for (std::uint64_t i = n - 1; i > 0; --i) std::swap(order_[i], order_[rng.next() % (i + 1)]);  // Fisher-Yates
}

protocol::prompt prompt_cursor::prompt_of(std::uint64_t id) const {
  auto prompt = dataset_->at(id & 0xffffffffull).prompt;
  prompt.id = id;
  return prompt;
}

result<std::vector<protocol::prompt>> prompt_cursor::next(std::uint32_t n, std::uint64_t holder) {
  if (holder == kNoHolder || holder == kGrader) {
    return make_error(errc::invalid_argument, "prompt source: holders 0 and ~0 are reserved");
  }
  std::vector<protocol::prompt> out;
  while (out.size() < n && !reissue_.empty()) {
    auto id = reissue_.front();
    reissue_.pop_front();
    auto it = held_.find(id);
    if (it == held_.end() || it->second != kNoHolder) continue;  // done, stored or handed out since
    it->second = holder;
    ++reissued_;
    out.push_back(prompt_of(id));
  }
  while (out.size() < n) {
    if (position_ >= order_.size()) {
      if (epochs_ != 0 && epoch_ + 1 >= epochs_) break;
      enter_epoch(epoch_ + 1);
    }
    auto id = prompt_id_of(epoch_, order_[position_++]);
    held_[id] = holder;
    out.push_back(prompt_of(id));
  }
  issued_ += out.size();
  if (auto s = save(); !s) return s.error();
  return out;
}

void prompt_cursor::hand_over(const std::vector<std::uint64_t>& ids) {
  for (auto id : ids) {
    auto it = held_.find(id);
    if (it != held_.end() && it->second != kNoHolder) it->second = kGrader;
  }
}

status prompt_cursor::stored(const std::vector<std::uint64_t>& ids) {
  for (auto id : ids) {
    if (held_.erase(id)) stored_.insert(id);
  }
  return save();
}

result<std::uint64_t> prompt_cursor::requeue(const std::vector<std::uint64_t>& ids) {
  std::uint64_t count = 0;
  for (auto id : ids) {
    auto it = held_.find(id);
    bool outstanding = stored_.erase(id) > 0 || it != held_.end();
    if (!outstanding || (it != held_.end() && it->second == kNoHolder)) continue;  // done, or already waiting
    held_[id] = kNoHolder;
    reissue_.push_back(id);
    ++count;
  }
  requeued_ += count;
  if (auto s = save(); !s) return s.error();
  return count;
}

result<std::uint64_t> prompt_cursor::requeue_holder(std::uint64_t holder) {
  std::vector<std::uint64_t> ids;
  for (const auto& [id, h] : held_) {
    if (h == holder && holder != kNoHolder && holder != kGrader) ids.push_back(id);
  }
  return requeue(ids);
}

status prompt_cursor::done(const std::vector<std::uint64_t>& ids) {
  for (auto id : ids) done_ += held_.erase(id) + stored_.erase(id);
  return save();
}

prompt_source_stats prompt_cursor::stats() const {
  prompt_source_stats s;
  s.epoch = epoch_;
  s.issued = issued_;
  s.done = done_;
  s.outstanding = held_.size() + stored_.size();
  s.dataset_size = dataset_->size();
  s.stored = stored_.size();
  s.requeued = requeued_;
  s.reissued = reissued_;
  return s;
}

status prompt_cursor::save() const {
  if (state_file_.empty()) return ok_status();
  std::vector<std::uint64_t> held;
  for (const auto& [id, holder] : held_) held.push_back(id);
  nlohmann::json j = {{"format", kCursorFormat},
                      {"seed", seed_},
                      {"dataset_size", dataset_->size()},
                      {"epoch", epoch_},
                      {"position", position_},
                      {"issued", issued_},
                      {"done", done_},
                      {"requeued", requeued_},
                      {"reissued", reissued_},
                      {"outstanding", held},  // held: re-issued after a restart
                      {"stored", std::vector<std::uint64_t>(stored_.begin(), stored_.end())}};
  return write_durably(state_file_, j.dump() + "\n");
}

status prompt_cursor::load() {
  std::ifstream in(state_file_);
  std::stringstream text;
  text << in.rdbuf();
  auto j = nlohmann::json::parse(text.str(), nullptr, false);
  auto format = j.is_object() ? j.value("format", std::string()) : std::string();
  if (j.is_discarded() || (format != kCursorFormat && format != kCursorFormatV1)) {
    return make_error(errc::corrupt_data, state_file_ + ": not a prompt cursor (" + kCursorFormat + ")");
  }
  if (j.value("seed", std::uint64_t{0}) != seed_ || j.value("dataset_size", std::uint64_t{0}) != dataset_->size()) {
    return make_error(errc::invalid_argument, state_file_ + ": written for another dataset or seed (size " +
                                                  std::to_string(j.value("dataset_size", 0ull)) + ", seed " +
                                                  std::to_string(j.value("seed", 0ull)) + "); remove it to start over");
  }
  enter_epoch(j.value("epoch", std::uint64_t{0}));
  position_ = std::min<std::uint64_t>(j.value("position", std::uint64_t{0}), order_.size());
  issued_ = j.value("issued", std::uint64_t{0});
  done_ = j.value("done", std::uint64_t{0});
  requeued_ = j.value("requeued", std::uint64_t{0});
  reissued_ = j.value("reissued", std::uint64_t{0});
  // Held prompts lost their holder with the previous process: re-issue them first.
  for (auto id : j.value("outstanding", std::vector<std::uint64_t>{})) {
    held_[id] = kNoHolder;
    reissue_.push_back(id);
  }
  for (auto id : j.value("stored", std::vector<std::uint64_t>{})) stored_.insert(id);
  return ok_status();
}

result<reconcile_counts> prompt_cursor::reconcile(const std::map<std::uint64_t, stored_prompt>& store) {
  // 1. Every prompt with a group must be one this cursor handed out (epochs before the current
  //    one entirely, the current one up to position_).
  std::vector<bool> issued_now(order_.size(), false);
  for (std::uint64_t i = 0; i < position_; ++i) issued_now[order_[i]] = true;
  std::uint64_t never_issued = 0;
  for (const auto& [id, groups] : store) {
    const std::uint64_t epoch = id >> 32, index = id & 0xffffffffull;
    const bool issued = index < order_.size() && (epoch < epoch_ || (epoch == epoch_ && issued_now[index]));
    never_issued += issued ? 0 : 1;
  }
  if (never_issued > 0) {
    return make_error(errc::corrupt_data, state_file_ + ": " + std::to_string(never_issued) +
                                              " prompts have groups in the replay buffer but this cursor (epoch " +
                                              std::to_string(epoch_) + ", position " + std::to_string(position_) +
                                              ") never handed them out: it is not this run's cursor, or older than "
                                              "its replay buffer; remove the run directory to start over");
  }
  // 2. Held prompts with a group: stored (unconsumed) or done (consumed), never re-issued.
  reconcile_counts counts;
  for (auto it = held_.begin(); it != held_.end();) {
    auto found = store.find(it->first);
    if (found == store.end()) {
      ++it;
      continue;
    }
    if (found->second.unconsumed > 0) {
      stored_.insert(it->first);
      ++counts.held_now_stored;
    } else {
      ++done_;
      ++counts.held_now_done;
    }
    it = held_.erase(it);  // its entry in reissue_ is skipped by next()
  }
  // 3. Stored prompts: done when their group was consumed; asked again when it is gone.
  for (auto it = stored_.begin(); it != stored_.end();) {
    auto found = store.find(*it);
    if (found != store.end() && found->second.unconsumed > 0) {
      ++it;
      continue;
    }
    if (found != store.end()) {
      ++done_;
      ++counts.stored_now_done;
    } else {
      held_[*it] = kNoHolder;
      reissue_.push_back(*it);
      ++requeued_;
      ++counts.stored_reissued;
    }
    it = stored_.erase(it);
  }
  const bool changed = counts.held_now_stored + counts.held_now_done + counts.stored_now_done + counts.stored_reissued > 0;
  if (changed) {
    if (auto s = save(); !s) return s.error();
  }
  return counts;
}

namespace {

// Holders are named by small numbers: one per distinct asking actor.
struct prompt_source_state {
  std::shared_ptr<prompt_cursor> cursor;
  std::map<caf::actor_addr, std::uint64_t> holders;
  std::uint64_t holder_of(const caf::actor_addr& addr) {
    auto it = holders.find(addr);
    if (it != holders.end()) return it->second;
    auto id = holders.size() + 1;  // 0 and ~0 are the cursor's own
    holders.emplace(addr, id);
    return id;
  }
};
using prompt_source_impl = prompt_source_actor::stateful_pointer<prompt_source_state>;

// One-way messages have nobody to tell about a failed write: log it.
void report(prompt_source_impl self, const char* what, const status& s) {
  if (!s) aout(self) << "prompt source: " << what << ": " << s.error().message << "\n";
}

prompt_source_actor::behavior_type prompt_source(prompt_source_impl self, std::shared_ptr<prompt_cursor> cursor) {
  self->state.cursor = std::move(cursor);
  return {
      [self](next_atom, std::uint32_t n) -> caf::result<std::vector<protocol::prompt>> {
        auto holder = self->state.holder_of(self->current_sender() ? self->current_sender()->address() : caf::actor_addr{});
        auto prompts = self->state.cursor->next(n, holder);
        if (!prompts) return to_caf_error(prompts.error());
        return std::move(*prompts);
      },
      [self](handover_atom, const std::vector<std::uint64_t>& ids) { self->state.cursor->hand_over(ids); },
      [self](stored_atom, const std::vector<std::uint64_t>& ids) {
        report(self, "stored", self->state.cursor->stored(ids));
      },
      [self](requeue_atom, const std::vector<std::uint64_t>& ids) {
        auto count = self->state.cursor->requeue(ids);
        report(self, "requeue", count ? ok_status() : status(count.error()));
      },
      [self](requeue_atom, const caf::actor_addr& holder) -> caf::result<std::uint64_t> {
        auto it = self->state.holders.find(holder);
        if (it == self->state.holders.end()) return std::uint64_t{0};
        auto count = self->state.cursor->requeue_holder(it->second);
        if (!count) return to_caf_error(count.error());
        return *count;
      },
      [self](done_atom, const std::vector<std::uint64_t>& ids) -> caf::result<caf::ok_atom> {
        if (auto s = self->state.cursor->done(ids); !s) return to_caf_error(s.error());
        return caf::ok_atom::value;
      },
      [self](stats_atom) { return self->state.cursor->stats(); },
      // Outstanding prompts wait on generators, the grader and the learner: this actor holds no
      // work of its own, so it is watched for answering only.
      [self](progress_atom) -> progress_list {
        return {{"prompt source", "prompts", 0, self->state.cursor->stats().done, ""}};
      },
  };
}

}  // namespace

result<prompt_source_actor> spawn_prompt_source(caf::actor_system& sys, const prompt_source_config& config,
                                               const std::string& state_file, threading mode) {
  auto dataset = tasks::open_dataset(config.dataset, tasks::split::train);
  if (!dataset) return dataset.error();
  std::shared_ptr<const tasks::prompt_dataset> shared = std::move(*dataset);
  auto cursor = prompt_cursor::open(shared, config.shuffle_seed, config.epochs, state_file);
  if (!cursor) return cursor.error();
  std::shared_ptr<prompt_cursor> owned = std::move(*cursor);
  if (mode == threading::detached) return prompt_source_actor{sys.spawn<caf::detached>(prompt_source, owned)};
  return prompt_source_actor{sys.spawn(prompt_source, owned)};
}

}  // namespace aha::actors
