// replay_buffer actor: group commit of puts, staleness-gated leasing of groups to the learner,
// atomic consumption, eviction by the soft size bound.
#include "actors/replay_buffer.hpp"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <map>
#include <optional>
#include <set>

#include "actors/replay_store.hpp"

namespace aha::actors {
namespace {

// Internal messages on top of the public interface: commit now; a waiting fetch's deadline.
using replay_buffer_impl =
    replay_buffer_actor::extend<caf::reacts_to<caf::flush_atom>, caf::reacts_to<wake_atom, std::uint64_t>>;

struct pending_put {
  protocol::scored_group group;
  caf::typed_response_promise<std::uint64_t> promise;
};

struct pending_fetch {
  fetch_request request;
  caf::typed_response_promise<protocol::learner_batch> promise;
  std::uint64_t token = 0;
};

struct replay_state {
  std::shared_ptr<replay_store> store;
  replay_buffer_config config;
  std::deque<pending_put> puts;
  bool commit_scheduled = false;
  std::set<std::uint64_t> ready;                  // unconsumed, unleased, not stale (ids = age order)
  std::map<std::uint64_t, std::uint64_t> leases;  // group id -> learner step it was served for
  std::set<std::uint64_t> stale;                  // unconsumed, too old for the learner
  std::optional<pending_fetch> waiting;
  std::uint64_t next_token = 1;
  replay_stats counters;
  prompt_source_actor prompts;  // told which prompts are stored, and which to re-issue; may be invalid
  static inline const char* name = "replay_buffer";
};

using self_ptr = replay_buffer_impl::stateful_pointer<replay_state>;

// Returns leases of steps >= step to the ready set (a retried or restarted fetch).
void release_leases(replay_state& st, std::uint64_t step) {
  for (auto it = st.leases.begin(); it != st.leases.end();) {
    if (it->second >= step) {
      st.ready.insert(it->first);
      it = st.leases.erase(it);
    } else {
      ++it;
    }
  }
}

// A stale group is never trained on, so its prompt must be asked again: tells the prompt source.
void requeue_prompts_of(replay_state& st, const std::vector<std::uint64_t>& stale_ids) {
  if (!st.prompts || stale_ids.empty()) return;
  std::vector<std::uint64_t> prompt_ids;
  for (auto id : stale_ids) {
    if (auto group = st.store->get(id)) prompt_ids.push_back(group->source.id);
  }
  caf::anon_send(st.prompts, requeue_atom::value, std::move(prompt_ids));
}

// Picks up to batch_groups fresh ready groups, oldest weight version first (ties: storage order);
// marks too-old ones stale. Grading finishes out of order, so a group made earlier can be stored
// after newer ones; serving by version rather than arrival lets it be trained before it ages out.
std::vector<std::uint64_t> select(replay_state& st, const fetch_request& request) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> by_version;  // (weight version, id)
  by_version.reserve(st.ready.size());
  for (auto id : st.ready) by_version.emplace_back(st.store->entries().at(id).weight_version, id);
  std::sort(by_version.begin(), by_version.end());
  std::vector<std::uint64_t> chosen, stale;
  for (const auto& [version, id] : by_version) {
    if (version + request.max_staleness < request.learner_version) {
      st.stale.insert(id);
      stale.push_back(id);
      ++st.counters.dropped_stale;
      st.ready.erase(id);
    } else if (chosen.size() < request.batch_groups) {
      chosen.push_back(id);
    } else {
      break;  // the rest are newer: fresh enough for now
    }
  }
  if (!stale.empty()) {
    // Persisted before the prompts are asked again: a restart must not serve these groups too.
    if (auto marked = st.store->mark_dropped(stale); !marked) {
      std::fprintf(stderr, "aha replay buffer: dropped groups not persisted (a restart may serve them): %s\n",
                   marked.error().message.c_str());
    }
  }
  requeue_prompts_of(st, stale);
  return chosen;
}

// Leases `ids` to the request's step and reads their groups.
result<protocol::learner_batch> lease(replay_state& st, const fetch_request& request,
                                      const std::vector<std::uint64_t>& ids) {
  protocol::learner_batch batch;
  batch.step = request.step;
  batch.learner_version = request.learner_version;
  for (auto id : ids) {
    auto group = st.store->get(id);
    if (!group) return group.error();
    batch.groups.push_back(std::move(*group));
  }
  for (auto id : ids) {
    st.ready.erase(id);
    st.leases[id] = request.step;
  }
  ++st.counters.fetches;
  if (ids.size() < request.batch_groups) ++st.counters.short_fetches;
  return batch;
}

// Whether `ids` (oldest first) is a batch the learner may train now: full, and holding the groups
// of the version that ages out after this step the learner waits for (the rest are in flight).
bool complete(const replay_state& st, const fetch_request& request, const std::vector<std::uint64_t>& ids) {
  if (ids.size() < request.batch_groups) return false;
  std::uint32_t expiring = 0;
  for (auto id : ids) {
    if (st.store->entries().at(id).weight_version + request.max_staleness <= request.learner_version) ++expiring;
  }
  return expiring >= std::min(request.expiring_groups, request.batch_groups);
}

// Answers with `ids` (select()'s pick); a full batch that lacks groups the learner waits for is
// answered empty instead (training it would let them age out): the learner asks again.
void answer(replay_state& st, const fetch_request& request, std::vector<std::uint64_t> ids,
            caf::typed_response_promise<protocol::learner_batch>& promise) {
  if (ids.size() >= request.batch_groups && !complete(st, request, ids)) ids.clear();
  auto batch = lease(st, request, ids);
  if (batch) {
    promise.deliver(std::move(*batch));
  } else {
    promise.deliver(to_caf_error(batch.error()));
  }
}

// Answers the waiting fetch when a full batch is ready (or `force`: its deadline passed).
void serve_waiting(replay_state& st, bool force) {
  if (!st.waiting) return;
  auto ids = select(st, st.waiting->request);
  if (!force && !complete(st, st.waiting->request, ids)) return;
  auto waiting = std::move(*st.waiting);
  st.waiting.reset();
  answer(st, waiting.request, std::move(ids), waiting.promise);
}

void evict_if_needed(replay_state& st) {
  if (!st.store->over_bound()) return;
  auto evicted = st.store->evict(st.stale);
  if (!evicted) return;  // the bound is soft: try again after the next commit
  for (auto id : *evicted) st.stale.erase(id);
  st.counters.evicted += evicted->size();
}

void commit(replay_state& st) {
  while (!st.puts.empty()) {
    std::size_t n = std::min<std::size_t>(st.puts.size(), st.config.max_commit_groups);
    std::vector<protocol::scored_group> groups;
    for (std::size_t i = 0; i < n; ++i) groups.push_back(std::move(st.puts[i].group));
    auto ids = st.store->append(groups);
    if (ids) ++st.counters.commits;
    if (ids && st.prompts) {
      // Durable now: the prompts' holders may die without their prompts being asked again.
      std::vector<std::uint64_t> prompt_ids;
      for (const auto& g : groups) prompt_ids.push_back(g.source.id);
      caf::anon_send(st.prompts, stored_atom::value, std::move(prompt_ids));
    }
    for (std::size_t i = 0; i < n; ++i) {
      auto& promise = st.puts.front().promise;
      if (ids) {
        st.ready.insert(ids->at(i));
        st.counters.max_weight_version = std::max(st.counters.max_weight_version, groups[i].min_weight_version);
        ++st.counters.puts;
        promise.deliver(ids->at(i));
      } else {
        promise.deliver(to_caf_error(ids.error()));
      }
      st.puts.pop_front();
    }
  }
  evict_if_needed(st);
}

replay_stats current_stats(const replay_state& st) {
  auto out = st.counters;
  out.stored_groups = st.store->entries().size();
  out.ready_groups = st.ready.size();
  out.leased_groups = st.leases.size();
  out.stale_groups = st.stale.size();
  out.consumed_groups = out.stored_groups - out.ready_groups - out.leased_groups - out.stale_groups;
  out.stored_bytes = st.store->stored_bytes();
  out.last_learner_step = st.store->learner_step();
  return out;
}

replay_buffer_impl::behavior_type replay_buffer(self_ptr self, std::shared_ptr<replay_store> store,
                                                replay_buffer_config config, prompt_source_actor prompts) {
  auto& st = self->state;
  st.store = std::move(store);
  st.config = std::move(config);
  st.prompts = std::move(prompts);
  for (const auto& [id, entry] : st.store->entries()) {
    if (entry.dropped) {
      st.stale.insert(id);  // dropped before a restart: never served, evictable
    } else if (!entry.consumed) {
      st.ready.insert(id);
    }
  }
  return {
      [self](caf::put_atom, protocol::scored_group& group) -> caf::result<std::uint64_t> {
        auto& st = self->state;
        auto promise = self->make_response_promise<std::uint64_t>();
        st.puts.push_back(pending_put{std::move(group), promise});
        if (!st.commit_scheduled) {
          st.commit_scheduled = true;
          if (st.config.commit_window.count() > 0) {
            self->delayed_send(self, st.config.commit_window, caf::flush_atom::value);
          } else {
            self->send(self, caf::flush_atom::value);  // queued behind puts already waiting
          }
        }
        return promise;
      },
      [self](caf::flush_atom) {
        auto& st = self->state;
        st.commit_scheduled = false;
        commit(st);
        serve_waiting(st, false);
      },
      [self](fetch_atom, const fetch_request& request) -> caf::result<protocol::learner_batch> {
        auto& st = self->state;
        serve_waiting(st, true);  // one learner: a new fetch supersedes a waiting one
        release_leases(st, request.step);
        auto promise = self->make_response_promise<protocol::learner_batch>();
        auto ids = select(st, request);
        if (request.max_wait_ms == 0 || complete(st, request, ids)) {
          answer(st, request, std::move(ids), promise);
          return promise;
        }
        st.waiting = pending_fetch{request, promise, st.next_token++};
        self->delayed_send(self, std::chrono::milliseconds(request.max_wait_ms), wake_atom::value, st.waiting->token);
        return promise;
      },
      [self](wake_atom, std::uint64_t token) {
        auto& st = self->state;
        if (st.waiting && st.waiting->token == token) serve_waiting(st, true);
      },
      [self](consume_atom, std::uint64_t step, const std::vector<std::uint64_t>& ids) -> caf::result<caf::ok_atom> {
        auto& st = self->state;
        if (auto done = st.store->consume(step, ids); !done) return to_caf_error(done.error());
        for (auto id : ids) {
          st.leases.erase(id);
          st.ready.erase(id);
          st.stale.erase(id);
        }
        evict_if_needed(st);
        return caf::ok_atom::value;
      },
      [self](stats_atom) -> replay_stats { return current_stats(self->state); },
      // Its own work is committing puts (a waiting fetch waits on producers, not on this actor).
      [self](progress_atom) -> progress_list {
        auto& st = self->state;
        return {{"replay buffer", "puts", st.puts.size(), st.counters.puts, ""}};
      },
  };
}

}  // namespace

result<replay_buffer_actor> spawn_replay_buffer(caf::actor_system& sys, const replay_buffer_config& config,
                                               threading mode, prompt_source_actor prompts) {
  replay_store_options options{config.dir, config.sync, config.max_bytes.bytes, config.max_groups};
  auto opened = replay_store::open(options);
  if (!opened) return opened.error();
  std::shared_ptr<replay_store> store = std::move(*opened);
  if (mode == threading::detached) {
    return replay_buffer_actor{sys.spawn<caf::detached>(replay_buffer, store, config, prompts)};
  }
  return replay_buffer_actor{sys.spawn(replay_buffer, store, config, prompts)};
}

}  // namespace aha::actors
