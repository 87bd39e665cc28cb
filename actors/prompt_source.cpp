// prompt_source: the cursor (shuffled epochs, re-issue after restart, JSON state file) and its actor.
#include "actors/prompt_source.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace aha::actors {
namespace {
constexpr const char* kCursorFormat = "aha.prompt_cursor/1";
}

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

result<std::vector<protocol::prompt>> prompt_cursor::next(std::uint32_t n) {
  std::vector<protocol::prompt> out;
  while (out.size() < n && !reissue_.empty()) {
    auto id = reissue_.front();
    reissue_.pop_front();
    if (outstanding_.count(id)) out.push_back(prompt_of(id));
  }
  while (out.size() < n) {
    if (position_ >= order_.size()) {
      if (epochs_ != 0 && epoch_ + 1 >= epochs_) break;
      enter_epoch(epoch_ + 1);
    }
    auto id = prompt_id_of(epoch_, order_[position_++]);
    outstanding_.insert(id);
    out.push_back(prompt_of(id));
  }
  issued_ += out.size();
  if (auto s = save(); !s) return s.error();
  return out;
}

status prompt_cursor::done(const std::vector<std::uint64_t>& ids) {
  for (auto id : ids) done_ += outstanding_.erase(id);
  return save();
}

prompt_source_stats prompt_cursor::stats() const {
  return prompt_source_stats{epoch_, issued_, done_, outstanding_.size(), dataset_->size()};
}

status prompt_cursor::save() const {
  if (state_file_.empty()) return ok_status();
  nlohmann::json j = {{"format", kCursorFormat}, {"seed", seed_},       {"dataset_size", dataset_->size()},
                      {"epoch", epoch_},         {"position", position_}, {"issued", issued_},
                      {"done", done_},           {"outstanding", std::vector<std::uint64_t>(outstanding_.begin(), outstanding_.end())}};
  auto tmp = state_file_ + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump() << "\n";
    if (!out.flush()) return make_error(errc::io_error, "prompt source: cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, state_file_, ec);  // atomic: a crash leaves the old or the new file
  if (ec) return make_error(errc::io_error, "prompt source: rename to " + state_file_ + ": " + ec.message());
  return ok_status();
}

status prompt_cursor::load() {
  std::ifstream in(state_file_);
  std::stringstream text;
  text << in.rdbuf();
  auto j = nlohmann::json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("format", std::string()) != kCursorFormat) {
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
  for (auto id : j.value("outstanding", std::vector<std::uint64_t>{})) {
    outstanding_.insert(id);
    reissue_.push_back(id);
  }
  return ok_status();
}

namespace {

prompt_source_actor::behavior_type prompt_source(prompt_source_actor::pointer self,
                                                 std::shared_ptr<prompt_cursor> cursor) {
  return {
      [cursor](next_atom, std::uint32_t n) -> caf::result<std::vector<protocol::prompt>> {
        auto prompts = cursor->next(n);
        if (!prompts) return to_caf_error(prompts.error());
        return std::move(*prompts);
      },
      [cursor](done_atom, const std::vector<std::uint64_t>& ids) -> caf::result<caf::ok_atom> {
        if (auto s = cursor->done(ids); !s) return to_caf_error(s.error());
        return caf::ok_atom::value;
      },
      [cursor](stats_atom) { return cursor->stats(); },
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
