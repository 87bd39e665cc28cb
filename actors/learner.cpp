// The learner actor (actors/learner.hpp).
#include "actors/learner.hpp"

#include <algorithm>
#include <cmath>
#include <optional>

#include "actors/advantages.hpp"
#include "actors/learner_rank.hpp"
#include "core/fault_point.hpp"
#include "model/runtime.hpp"
#include "rewards/revision.hpp"

namespace aha::actors {
namespace {

using clock_type = std::chrono::steady_clock;

constexpr auto kRequestTimeout = std::chrono::seconds(120);

struct learner_state {
  learner_setup setup;
  std::vector<weights_sink_actor> subscribers;
  weights_ptr latest;
  std::uint64_t step = 0;
  std::uint64_t version = 0;
  clock_type::time_point started = clock_type::now();
  double idle_seconds = 0;   // waiting for batches
  double busy_seconds = 0;   // optimizer steps
  clock_type::time_point last_step_end = clock_type::now();
  std::uint64_t dropped_seen = 0;       // the replay buffer's dropped_stale counter, as last reported to the gate
  std::uint64_t rollouts_consumed = 0;  // rollouts of the groups this learner consumed (trained or not)
  // This step's wait for groups in flight that age out after it: since when, and whether it gave up.
  std::optional<clock_type::time_point> expiring_since;
  bool expiring_given_up = false;
  std::uint64_t expiring_give_ups = 0;  // steps that trained without their late groups
  std::unique_ptr<rank_leader> ranks;   // with grpo.learner.ranks > 1: the other ranks' leader
};
using self_ptr = learner_actor::stateful_pointer<learner_state>;

void fail(self_ptr self, const caf::error& failure) {
  aout(self) << "learner: " << describe(failure) << "\n";
  caf::anon_send(self->state.setup.peers.listener, failure);
  self->quit(failure);
}

void publish(self_ptr self) {
  auto& s = self->state;
  s.latest = s.setup.trainer->snapshot(s.version);
  for (auto& g : s.subscribers) self->send(g, weights_atom::value, s.latest);
}

// Drops the buffer counted that the gate has not heard of yet (the counter only grows).
std::uint64_t take_drops(learner_state& st, std::uint64_t dropped_total) {
  const std::uint64_t fresh = dropped_total - std::min(dropped_total, st.dropped_seen);
  st.dropped_seen = std::max(st.dropped_seen, dropped_total);
  return fresh;
}

// A short batch: the groups it lacks may be held back by slots of groups the buffer just dropped
// (a resumed run's stale leftovers, say), so the gate hears of drops before the fetch is retried.
void retry_after_drops(self_ptr self) {
  self->request(self->state.setup.peers.replay, kRequestTimeout, stats_atom::value)
      .then(
          [=](const replay_stats& replay) {
            auto& st = self->state;
            if (auto dropped = take_drops(st, replay.dropped_stale); dropped > 0) {
              self->send(st.setup.peers.gate, advance_atom::value, st.version, std::vector<std::uint64_t>{}, dropped);
            }
            self->send(self, work_atom::value);
          },
          [=](const caf::error& e) { fail(self, e); });
}

// 6-7 of a step whose consumption is durable: prompts done, the gate advanced by the groups
// consumed and by those the buffer dropped as stale since the last step (their slots come back
// here: the buffer counts drops, the learner is the one peer of the gate that hears of them),
// metrics, checkpoint.
void close_step(self_ptr self, std::vector<std::uint64_t> prompt_ids, std::vector<std::uint64_t> consumed_versions,
                std::uint64_t dropped_total, metric_map metrics) {
  auto& st = self->state;
  const std::uint64_t dropped = take_drops(st, dropped_total);
  // 6. Prompts done; the window moves.
  self->request(st.setup.peers.prompts, kRequestTimeout, done_atom::value, prompt_ids)
      .then([](caf::ok_atom) {}, [=](const caf::error& e) { fail(self, e); });
  self->send(st.setup.peers.gate, advance_atom::value, st.version, std::move(consumed_versions), dropped);
  // 7. Metrics and checkpoint.
  double wall = std::chrono::duration<double>(clock_type::now() - st.started).count();
  metrics["learner/idle_fraction"] = wall > 0 ? st.idle_seconds / wall : 0.0;
  metrics["learner/version"] = static_cast<double>(st.version);
  metrics["replay/dropped_stale"] = static_cast<double>(st.dropped_seen - st.setup.dropped_stale_before);
  metrics["learner/expiring_give_ups"] = static_cast<double>(st.expiring_give_ups);
  st.expiring_since.reset();
  st.expiring_given_up = false;
  if (st.setup.peers.metrics) self->send(st.setup.peers.metrics, record_atom::value, st.step, metrics);
  ++st.step;
  bool last = st.step >= st.setup.config.steps;
  bool due = st.setup.config.checkpoint_every > 0 && st.step % st.setup.config.checkpoint_every == 0;
  if ((due || last) && st.setup.checkpoint) {
    auto saved = st.setup.checkpoint(st.step, st.version);
    if (!saved) aout(self) << "learner: checkpoint failed: " << saved.error().message << "\n";
  }
  if (last) {
    if (st.ranks) {
      try {
        st.ranks->stop("");  // the other ranks exit with success
      } catch (const cluster::rank_lost& e) {
        aout(self) << "learner: " << e.what() << "\n";
      }
    }
    caf::anon_send(st.setup.peers.listener, done_atom::value, st.step, metrics["learner/idle_fraction"],
                   st.rollouts_consumed);
    return;
  }
  self->send(self, work_atom::value);
}

void finish_step(self_ptr self, const protocol::learner_batch& batch, metric_map metrics) {
  auto& s = self->state;
  std::vector<std::uint64_t> group_ids, prompt_ids, versions;
  for (const auto& g : batch.groups) {
    group_ids.push_back(g.group_id);
    prompt_ids.push_back(g.source.id);
    versions.push_back(g.min_weight_version);
  }
  // 5. Consumption is durable before anything else hears of the step.
  self->request(s.setup.peers.replay, kRequestTimeout, consume_atom::value, s.step, group_ids)
      .then(
          [=](caf::ok_atom) mutable {
            AHA_FAULT_POINT("learner.after_consume");  // tests: a crash between consumption and checkpoint
            for (const auto& g : batch.groups) self->state.rollouts_consumed += g.rollouts.size();
            // The buffer's drop counter, read after the consume: every drop of this step's fetches is in it.
            self->request(self->state.setup.peers.replay, kRequestTimeout, stats_atom::value)
                .then(
                    [=](const replay_stats& replay) mutable {
                      close_step(self, prompt_ids, versions, replay.dropped_stale, std::move(metrics));
                    },
                    [=](const caf::error& e) { fail(self, e); });
          },
          [=](const caf::error& e) { fail(self, e); });
}

// A rank was lost during step `step`: the step stops. If it had not updated the weights yet they
// are the last completed step's, and so is the checkpoint written now (its consumption was never
// recorded: a resume trains those groups again). The other ranks are told, the learner fails.
void rank_lost(self_ptr self, const std::string& what) {
  auto& st = self->state;
  std::string resume = "; the last checkpoint written resumes with --resume";
  if (!st.setup.trainer->step_updated() && st.setup.checkpoint) {
    if (auto saved = st.setup.checkpoint(st.step, st.version); saved) {
      resume = "; the checkpoint after step " + std::to_string(st.step) + " (weight version " +
               std::to_string(st.version) + ") resumes with --resume, with any number of ranks";
    }
  }
  try {
    st.ranks->stop("rank 0 lost a rank: " + what);
  } catch (const cluster::rank_lost&) {
    // That rank is the one gone; the others see the store close.
  }
  st.ranks.reset();
  fail(self, to_caf_error(errc::unavailable, "learner step " + std::to_string(st.step) + ": " + what + resume));
}

// With grpo.learner.ranks > 1, before the first step: rank 0 opens the rendezvous, waits for the
// other ranks (grpo.learner.rendezvous_timeout) and hands them its state. False after a failure.
bool join_ranks(self_ptr self) {
  auto& st = self->state;
  const auto& cfg = st.setup.config;
  cluster::data_parallel_config dp;
  dp.rendezvous = cfg.rendezvous;
  dp.rank = 0;
  dp.world = static_cast<int>(cfg.ranks);
  dp.timeout = cfg.rank_timeout;
  dp.rendezvous_timeout = cfg.rendezvous_timeout;
  aout(self) << "learner: waiting at " << cfg.rendezvous << " for " << (cfg.ranks - 1) << " more learner ranks\n";
  auto group = cluster::data_parallel_group::join(dp);
  if (!group) {
    fail(self, to_caf_error(group.error()));
    return false;
  }
  std::shared_ptr<cluster::data_parallel_group> shared(std::move(*group));
  st.ranks = std::make_unique<rank_leader>(shared, st.setup.trainer);
  try {
    st.ranks->sync_state();
  } catch (const cluster::rank_lost& e) {
    rank_lost(self, e.what());
    return false;
  }
  aout(self) << "learner: " << cfg.ranks << " learner ranks joined at " << cfg.rendezvous << "\n";
  return true;
}

void train(self_ptr self, protocol::learner_batch batch) {
  auto& s = self->state;
  metric_map metrics = batch_statistics(batch, s.version);
  // 2. Groups whose every grade failed carry no signal (consumed untrained, counted); with dynamic
  //    sampling, neither do groups whose graded rewards all agree.
  auto [informative, all_failed] = trainable_groups(batch, s.setup.config.dynamic_sampling);
  metrics["grading/groups_all_failed"] = static_cast<double>(all_failed);
  metrics["learner/groups_trained"] = static_cast<double>(informative.groups.size());
  // 3. The optimizer step (blocking: this actor is detached).
  auto started = clock_type::now();
  if (!informative.groups.empty()) {
    metric_map step_metrics;
    try {
      step_metrics = s.ranks ? s.ranks->grpo_step(informative) : s.setup.trainer->grpo_step(informative);
    } catch (const cluster::rank_lost& e) {
      rank_lost(self, e.what());
      return;
    }
    metrics.insert(step_metrics.begin(), step_metrics.end());
    ++s.version;
    // 4. Publish before the gate advances, so a generator sees the weights before the room.
    publish(self);
  }
  double seconds = std::chrono::duration<double>(clock_type::now() - started).count();
  s.busy_seconds += seconds;
  metrics["learner/step_seconds"] = seconds;
  finish_step(self, batch, std::move(metrics));
}

// How many of `in_flight` groups that age out after this step the batch must wait for: all of
// them (up to a batch) until `expiring_wait` has passed since the step first waited, then none.
std::uint32_t expiring_to_wait_for(self_ptr self, std::uint64_t in_flight) {
  auto& s = self->state;
  const auto& cfg = s.setup.config;
  if (in_flight == 0 || cfg.expiring_wait.count() == 0) return 0;
  const auto now = clock_type::now();
  if (!s.expiring_since) s.expiring_since = now;
  if (now - *s.expiring_since < cfg.expiring_wait) {
    return static_cast<std::uint32_t>(std::min<std::uint64_t>(in_flight, cfg.groups_per_step));
  }
  if (!s.expiring_given_up) {
    s.expiring_given_up = true;
    ++s.expiring_give_ups;
    aout(self) << "learner: step " << s.step << " waited " << cfg.expiring_wait.count() << " ms for " << in_flight
               << " groups of version " << (s.version - s.setup.max_staleness)
               << " still being sampled or graded; training without them (they will be dropped as stale)\n";
  }
  return 0;
}

void fetch(self_ptr self, std::uint64_t expiring_in_flight) {
  auto& s = self->state;
  const auto& cfg = s.setup.config;
  fetch_request request{s.step, s.version, cfg.groups_per_step, s.setup.max_staleness,
                        static_cast<std::uint32_t>(cfg.fetch_wait.count()),
                        expiring_to_wait_for(self, expiring_in_flight)};
  auto waiting_since = clock_type::now();
  self->request(s.setup.peers.replay, kRequestTimeout, fetch_atom::value, request)
      .then(
          [=](protocol::learner_batch batch) {
            auto& st = self->state;
            st.idle_seconds += std::chrono::duration<double>(clock_type::now() - waiting_since).count();
            if (batch.groups.size() < st.setup.config.groups_per_step) {
              retry_after_drops(self);
              return;
            }
            train(self, std::move(batch));
          },
          [=](const caf::error& e) { fail(self, e); });
}

void next_step(self_ptr self) {
  if (self->state.setup.config.ranks > 1 && !self->state.ranks && !join_ranks(self)) return;
  // 1. A batch within the staleness bound, holding the groups that age out after this step; short
  //    batches are retried (the groups are re-leased). The gate knows what is still in flight.
  self->request(self->state.setup.peers.gate, kRequestTimeout, expiring_atom::value, self->state.version)
      .then([=](std::uint64_t expiring_in_flight) { fetch(self, expiring_in_flight); },
            [=](const caf::error& e) { fail(self, e); });
}

learner_actor::behavior_type learner(self_ptr self, learner_setup setup) {
  model::set_threads(static_cast<int>(setup.config.threads));
  auto& s = self->state;
  s.setup = std::move(setup);
  s.step = s.setup.first_step;
  s.version = s.setup.weight_version;
  s.dropped_seen = s.setup.dropped_stale_before;
  s.latest = s.setup.trainer->snapshot(s.version);
  if (s.step >= s.setup.config.steps) {
    caf::anon_send(s.setup.peers.listener, done_atom::value, s.step, 0.0, std::uint64_t{0});
  } else {
    self->send(self, work_atom::value);
  }
  return {
      [=](subscribe_atom, weights_sink_actor generator) {
        self->state.subscribers.push_back(generator);
        self->send(generator, weights_atom::value, self->state.latest);
      },
      [=](work_atom) { next_step(self); },
      [=](progress_atom) -> progress_list { return {{"learner", "steps", 0, self->state.step, ""}}; },
  };
}

}  // namespace

metric_map batch_statistics(const protocol::learner_batch& batch, std::uint64_t learner_version) {
  metric_map m;
  double rewards = 0, rewards_sq = 0, n = 0, length = 0, accuracy = 0, accuracy_n = 0, format = 0, format_n = 0;
  double language = 0, language_n = 0;  // the language-consistency component, when the recipe weighs it
  double timeouts = 0, errors = 0, failed = 0, graded = 0, revisions = 0;
  std::map<std::uint64_t, double> lag_counts;
  for (const auto& g : batch.groups) {
    for (std::size_t i = 0; i < g.rollouts.size(); ++i) {
      const auto& r = g.rollouts[i];
      n += 1;
      length += static_cast<double>(r.completion_tokens.size());
      revisions += rewards::revises_itself(r.completion_text) ? 1 : 0;
      std::uint64_t lag = learner_version >= r.weight_version ? learner_version - r.weight_version : 0;
      lag_counts[lag] += 1;
      for (const auto& c : g.verdicts[i].components) {
        if (c.status == protocol::verdict_status::timeout) timeouts += 1;
        if (c.status == protocol::verdict_status::error) errors += 1;
      }
      // A failed grade is no score: out of the reward and accuracy statistics, as out of the loss.
      if (grading_failed(g.verdicts[i])) {
        failed += 1;
        continue;
      }
      rewards += g.rewards[i], rewards_sq += g.rewards[i] * g.rewards[i], graded += 1;
      for (const auto& c : g.verdicts[i].components) {
        if (c.kind == protocol::reward_kind::accuracy) accuracy += c.value, accuracy_n += 1;
        if (c.kind == protocol::reward_kind::format) format += c.value >= 1.0f ? 1 : 0, format_n += 1;
        if (c.kind == protocol::reward_kind::language) language += c.value, language_n += 1;
      }
    }
  }
  if (n == 0) return m;
  double mean = graded > 0 ? rewards / graded : 0.0;
  m["reward_mean"] = mean;
  m["reward_std"] = graded > 0 ? std::sqrt(std::max(0.0, rewards_sq / graded - mean * mean)) : 0.0;
  m["reward_timeouts"] = timeouts;
  m["reward_errors"] = errors;
  m["grading/failed_masked"] = failed;  // rollouts of this batch masked: no advantage share, no loss
  if (accuracy_n > 0) m["accuracy"] = accuracy / accuracy_n;
  if (format_n > 0) m["format_rate"] = format / format_n;
  if (language_n > 0) m["language_rate"] = language / language_n;  // mean share of words in the prompt's language
  m["response_length"] = length / n;  // R1-Zero's signatures over training: length and self-revision
  m["revision_rate"] = revisions / n;
  m["rollouts"] = n;
  for (const auto& [lag, count] : lag_counts) m["staleness/" + std::to_string(lag)] = count / n;
  return m;
}

trainable_batch trainable_groups(const protocol::learner_batch& batch, bool dynamic_sampling) {
  trainable_batch out;
  out.batch.step = batch.step;
  out.batch.learner_version = batch.learner_version;
  for (const auto& g : batch.groups) {
    auto failed = grading_failures(g.verdicts);
    if (std::all_of(failed.begin(), failed.end(), [](bool f) { return f; })) {
      ++out.groups_all_failed;
      continue;
    }
    if (dynamic_sampling && rewards_all_equal_excluding(g.rewards, failed)) continue;
    out.batch.groups.push_back(g);
  }
  return out;
}

learner_actor spawn_learner(caf::actor_system& system, learner_setup setup) {
  return system.spawn<caf::detached>(learner, std::move(setup));
}

}  // namespace aha::actors
