// grader: fan-out of reward tasks to worker pools, deadlines, re-queueing, advantages, storage.
#include "actors/grader.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <cstdio>
#include <optional>

#include "sandbox/pool.hpp"

namespace aha::actors {
namespace {

using grader_impl = grader_actor::extend<caf::reacts_to<deadline_atom, std::uint64_t>>;
using clock_type = std::chrono::steady_clock;

// How long after its deadline a worker's reply is still waited for (the request's timeout).
constexpr auto kReplyGrace = std::chrono::seconds(30);

struct reward_task {
  std::uint64_t job = 0;
  std::uint32_t sample = 0;   // rollout index in the group
  std::uint32_t slot = 0;     // component index in that rollout's verdict
  std::uint32_t spec = 0;     // index into the specs
  std::uint32_t attempts = 0; // workers lost while running it
  std::optional<caf::actor_addr> probing;  // past its deadline on this remote worker, its node being probed
  clock_type::time_point queued_at = clock_type::now();
};

struct job_state {
  protocol::prompt prompt;
  std::vector<protocol::rollout> rollouts;                          // [G]
  std::vector<std::vector<protocol::reward_component>> components;  // [G][components of that rollout]
  std::size_t remaining = 0;                                        // tasks not finished
  bool store = true;                                                // grade (store) or score (no store)
  caf::typed_response_promise<protocol::scored_group> grade_promise;
  caf::typed_response_promise<std::vector<protocol::reward_verdict>> score_promise;
  clock_type::time_point started;
  protocol::scored_group group;                                     // kept until the replay ack
};

struct worker_slot {
  reward_worker_actor handle;
  std::optional<std::uint64_t> task;  // running task
  bool offered = false;               // offered from outside (a node's worker): dropped, not respawned, when lost
  caf::actor contact;                 // an offered worker's node: answers probe while reachable (may be invalid)
};

struct pool_state {
  std::vector<worker_slot> workers;
  std::deque<std::uint64_t> queue;  // task ids waiting for a worker
  std::uint64_t done = 0;           // tasks finished (any verdict), for the watchdog
};

struct grader_state {
  grader_config config;
  std::shared_ptr<const std::vector<reward_spec>> specs;
  replay_buffer_actor replay;
  threading mode = threading::detached;
  std::map<std::string, pool_state> pools;
  std::map<std::uint64_t, job_state> jobs;
  std::map<std::uint64_t, reward_task> tasks;  // unfinished tasks
  std::uint64_t next_job = 1;
  std::uint64_t next_task = 1;
  grader_stats counters;
  double grading_ms_total = 0;
  std::shared_ptr<std::vector<caf::actor>> all_workers;  // for shutdown
  static inline const char* name = "grader";
};

using self_ptr = grader_impl::stateful_pointer<grader_state>;

protocol::reward_component failed(protocol::verdict_status status, std::string detail) {
  protocol::reward_component c;
  c.status = status;
  c.detail = std::move(detail);
  return c;
}

reward_worker_actor new_worker(self_ptr self) {
  auto& st = self->state;
  auto worker = spawn_reward_worker(self->system(), st.specs, st.mode);
  self->monitor(worker);
  st.all_workers->push_back(caf::actor_cast<caf::actor>(worker));
  return worker;
}

void dispatch(self_ptr self, const std::string& pool_name);
void complete_job(self_ptr self, std::uint64_t job_id);

// The slot of worker `who` in `pool`, or end() when it was replaced or dropped. Slots are found
// by handle, never by index: offered slots are erased when their worker is lost.
std::vector<worker_slot>::iterator slot_of(pool_state& pool, const caf::actor_addr& who) {
  return std::find_if(pool.workers.begin(), pool.workers.end(),
                      [&](const worker_slot& w) { return caf::actor_cast<caf::actor_addr>(w.handle) == who; });
}

// A worker leaves its slot: an owned one is replaced by a fresh local worker; an offered one's
// slot is dropped (its owner, a node, offers a replacement if it wants). Returns the task it ran.
std::optional<std::uint64_t> vacate(self_ptr self, pool_state& pool, std::vector<worker_slot>::iterator slot) {
  auto& st = self->state;
  auto running = slot->task;
  if (slot->offered) {
    pool.workers.erase(slot);
    ++st.counters.remote_workers_lost;
  } else {
    slot->handle = new_worker(self);
    slot->task.reset();
  }
  return running;
}

// Records a task's component; completes the job when it was the last one.
void finish_task(self_ptr self, std::uint64_t task_id, protocol::reward_component c) {
  auto& st = self->state;
  auto it = st.tasks.find(task_id);
  if (it == st.tasks.end()) return;  // already finished (late result or late deadline)
  auto task = it->second;
  st.tasks.erase(it);
  const auto& spec = (*st.specs)[task.spec];
  ++st.pools.at(spec.pool).done;
  c.kind = spec.kind;
  c.weight = spec.weight;
  if (c.status == protocol::verdict_status::timeout) ++st.counters.reward_timeouts;
  if (c.status == protocol::verdict_status::error) ++st.counters.reward_errors;
  auto& job = st.jobs.at(task.job);
  job.components[task.sample][task.slot] = std::move(c);
  if (--job.remaining == 0) complete_job(self, task.job);
}

// Worker `who` died (a crash, or its node's process or connection is gone): it leaves its slot
// (vacate) and its task goes back to the front of the queue, for any worker of the pool, local
// or remote (or ends as an error after max_requeues).
void worker_lost(self_ptr self, const std::string& pool_name, const caf::actor_addr& who) {
  auto& st = self->state;
  auto& pool = st.pools.at(pool_name);
  auto slot = slot_of(pool, who);
  if (slot == pool.workers.end()) return;  // already replaced or dropped
  if (!slot->offered) ++st.counters.worker_restarts;
  if (auto running = vacate(self, pool, slot)) {
    auto it = st.tasks.find(*running);
    if (it != st.tasks.end()) {
      it->second.probing.reset();
      if (++it->second.attempts > st.config.max_requeues) {
        finish_task(self, *running, failed(protocol::verdict_status::error, "reward worker died while grading"));
      } else {
        st.pools.at(pool_name).queue.push_front(*running);
        ++st.counters.requeued;
      }
    }
  }
  dispatch(self, pool_name);
}

void run_on(self_ptr self, const std::string& pool_name, worker_slot& slot, std::uint64_t task_id) {
  auto& st = self->state;
  const auto& task = st.tasks.at(task_id);
  const auto& job = st.jobs.at(task.job);
  const auto deadline = (*st.specs)[task.spec].deadline;
  slot.task = task_id;
  auto who = caf::actor_cast<caf::actor_addr>(slot.handle);
  // The deadline message decides timeouts; the request's own timeout is only the backstop that
  // every request to a possibly remote actor needs (STACK.md: a dead peer never answers).
  self->request(slot.handle, deadline + kReplyGrace, work_atom::value, task.spec, job.prompt, job.rollouts[task.sample])
      .then(
          [self, pool_name, task_id, who](protocol::reward_component& c) {
            auto task = self->state.tasks.find(task_id);
            if (task != self->state.tasks.end() && task->second.probing) return;  // late: the probe decides
            auto& pool = self->state.pools.at(pool_name);
            auto slot = slot_of(pool, who);
            if (slot != pool.workers.end() && slot->task == task_id) {
              slot->task.reset();
              if (slot->offered && self->state.tasks.count(task_id)) ++self->state.counters.remote_tasks;
            }
            finish_task(self, task_id, std::move(c));
            dispatch(self, pool_name);
          },
          [self, pool_name, who](caf::error&) { worker_lost(self, pool_name, who); });
  self->delayed_send(self, deadline, deadline_atom::value, task_id);
}

// Pull: every idle worker takes the next queued task.
void dispatch(self_ptr self, const std::string& pool_name) {
  auto& pool = self->state.pools.at(pool_name);
  for (std::size_t i = 0; i < pool.workers.size() && !pool.queue.empty(); ++i) {
    if (pool.workers[i].task) continue;
    auto task_id = pool.queue.front();
    pool.queue.pop_front();
    if (self->state.tasks.count(task_id)) run_on(self, pool_name, pool.workers[i], task_id);
  }
}

// A task missed its deadline: timeout verdict; its worker is abandoned (killed: a remote one's
// node then offers a replacement) and leaves its slot (vacate).
void time_out(self_ptr self, std::uint64_t task_id) {
  auto& st = self->state;
  auto it = st.tasks.find(task_id);
  if (it == st.tasks.end()) return;
  auto spec = (*st.specs)[it->second.spec];
  for (auto& [pool_name, pool] : st.pools) {
    auto slot = std::find_if(pool.workers.begin(), pool.workers.end(),
                             [&](const worker_slot& w) { return w.task == task_id; });
    if (slot == pool.workers.end()) continue;
    self->send_exit(slot->handle, caf::exit_reason::kill);
    vacate(self, pool, slot);
  }
  finish_task(self, task_id, failed(protocol::verdict_status::timeout, spec.name + " missed its " +
                                                                       std::to_string(spec.deadline.count()) + "ms deadline"));
  dispatch(self, spec.pool);
}

// The probed node did not answer: the deadline passed because its worker could not be reached,
// not because the check was slow. The worker is abandoned and the task re-queued (at the front,
// like a lost worker's; an error verdict after max_requeues).
void unreachable(self_ptr self, std::uint64_t task_id, const caf::actor_addr& who) {
  auto& st = self->state;
  auto it = st.tasks.find(task_id);
  if (it == st.tasks.end() || it->second.probing != who) return;  // lost or decided meanwhile
  it->second.probing.reset();
  const auto pool_name = (*st.specs)[it->second.spec].pool;
  auto& pool = st.pools.at(pool_name);
  if (auto slot = slot_of(pool, who); slot != pool.workers.end()) {
    self->send_exit(slot->handle, caf::exit_reason::kill);
    vacate(self, pool, slot);
  }
  if (++it->second.attempts > st.config.max_requeues) {
    finish_task(self, task_id, failed(protocol::verdict_status::error, "reward worker's node unreachable"));
  } else {
    pool.queue.push_front(task_id);
    ++st.counters.requeued;
    ++st.counters.requeued_unreachable;
  }
  dispatch(self, pool_name);
}

// A task's deadline: on a local worker (or a remote one without a contact) it times out. On a
// node's worker the node is probed first: answered, the check really was slow (timeout); not
// answered within node_probe, the node is unreachable (a cut link not yet noticed by the
// connection timeout) and the task is re-queued rather than graded as a timeout.
void on_deadline(self_ptr self, std::uint64_t task_id) {
  auto& st = self->state;
  auto it = st.tasks.find(task_id);
  if (it == st.tasks.end() || it->second.probing) return;
  auto& pool = st.pools.at((*st.specs)[it->second.spec].pool);
  auto slot = std::find_if(pool.workers.begin(), pool.workers.end(), [&](const worker_slot& w) { return w.task == task_id; });
  if (slot == pool.workers.end() || !slot->offered || !slot->contact) return time_out(self, task_id);
  auto who = caf::actor_cast<caf::actor_addr>(slot->handle);
  it->second.probing = who;
  self->request(slot->contact, st.config.node_probe, probe_atom::value)
      .then(
          [self, task_id, who](caf::ok_atom) {
            auto task = self->state.tasks.find(task_id);
            if (task == self->state.tasks.end() || task->second.probing != who) return;
            task->second.probing.reset();
            time_out(self, task_id);
          },
          [self, task_id, who](caf::error&) { unreachable(self, task_id, who); });
}

std::vector<protocol::reward_verdict> verdicts_of(job_state& job, std::uint32_t grading_us) {
  std::vector<protocol::reward_verdict> out;
  for (std::size_t i = 0; i < job.rollouts.size(); ++i) {
    protocol::reward_verdict v;
    v.prompt_id = job.prompt.id;
    v.sample_index = job.rollouts[i].sample_index;
    v.components = std::move(job.components[i]);
    for (const auto& c : v.components) v.total += c.weight * c.value;
    v.grading_us = grading_us;
    out.push_back(std::move(v));
  }
  return out;
}

protocol::scored_group make_group(job_state& job, std::vector<protocol::reward_verdict> verdicts,
                                  const grader_config& config) {
  protocol::scored_group g;
  g.source = job.prompt;
  g.rollouts = std::move(job.rollouts);
  g.verdicts = std::move(verdicts);
  for (const auto& v : g.verdicts) g.rewards.push_back(v.total);
  // A timeout or error is no grade: those rollouts stay out of the group's mean and std (advantage 0),
  // and the trainer, reading the same statuses, gives them no loss weight.
  g.advantages = group_advantages_excluding(g.rewards, grading_failures(g.verdicts),
                                            {config.std_normalise, config.advantage_eps});
  g.min_weight_version = g.rollouts.front().weight_version;
  for (const auto& r : g.rollouts) g.min_weight_version = std::min(g.min_weight_version, r.weight_version);
  g.created_unix_us = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  return g;
}

void complete_job(self_ptr self, std::uint64_t job_id) {
  auto& st = self->state;
  auto& job = st.jobs.at(job_id);
  auto elapsed = std::chrono::duration<double, std::milli>(clock_type::now() - job.started).count();
  st.grading_ms_total += elapsed;
  ++st.counters.groups;
  st.counters.rollouts += job.rollouts.size();
  auto verdicts = verdicts_of(job, static_cast<std::uint32_t>(elapsed * 1000));
  if (!job.store) {
    job.score_promise.deliver(std::move(verdicts));
    st.jobs.erase(job_id);
    return;
  }
  job.group = make_group(job, std::move(verdicts), st.config);
  for (const auto& v : job.group.verdicts) st.counters.grading_failures_masked += grading_failed(v) ? 1 : 0;
  self->request(st.replay, st.config.store_timeout, caf::put_atom::value, job.group)
      .then(
          [self, job_id](std::uint64_t group_id) {
            auto& job = self->state.jobs.at(job_id);
            job.group.group_id = group_id;
            job.grade_promise.deliver(std::move(job.group));
            self->state.jobs.erase(job_id);
          },
          [self, job_id](caf::error& e) {
            self->state.jobs.at(job_id).grade_promise.deliver(std::move(e));
            self->state.jobs.erase(job_id);
          });
}

// Creates a job and its tasks; returns an error when the grader is full or the input is empty.
caf::error accept(self_ptr self, protocol::prompt& prompt, std::vector<protocol::rollout>& rollouts, job_state& job) {
  auto& st = self->state;
  if (rollouts.empty()) return to_caf_error(errc::invalid_argument, "grader: a group needs at least one rollout");
  if (st.jobs.size() >= st.config.max_pending_groups) {
    return to_caf_error(errc::resource_limit, "grader: " + std::to_string(st.jobs.size()) + " groups pending (max_pending_groups)");
  }
  auto job_id = st.next_job++;
  job.prompt = std::move(prompt);
  job.rollouts = std::move(rollouts);
  job.components.resize(job.rollouts.size());
  job.started = clock_type::now();
  std::vector<std::string> touched;
  for (std::uint32_t i = 0; i < job.rollouts.size(); ++i) {
    for (std::uint32_t s = 0; s < st.specs->size(); ++s) {
      const auto& spec = (*st.specs)[s];
      if (!spec.applies_to(job.prompt.task)) continue;
      auto slot = static_cast<std::uint32_t>(job.components[i].size());
      job.components[i].emplace_back();
      auto task_id = st.next_task++;
      st.tasks[task_id] = reward_task{job_id, i, slot, s, 0};
      st.pools.at(spec.pool).queue.push_back(task_id);
      touched.push_back(spec.pool);
      ++job.remaining;
    }
  }
  st.jobs.emplace(job_id, std::move(job));
  if (st.jobs.at(job_id).remaining == 0) {
    complete_job(self, job_id);
    return caf::none;
  }
  for (const auto& pool : touched) dispatch(self, pool);
  return caf::none;
}

// Per pool: tasks queued or running, tasks finished, and the oldest task with where it runs.
progress_list pool_progress(self_ptr self) {
  auto& st = self->state;
  progress_list out;
  const auto now = clock_type::now();
  for (const auto& [name, pool] : st.pools) {
    progress_report r{"grader pool " + name, "tasks", pool.queue.size(), pool.done, ""};
    std::optional<std::uint64_t> oldest;
    std::string where = "queued";
    auto consider = [&](std::uint64_t id, const std::string& at) {
      if (!st.tasks.count(id)) return;
      if (!oldest || st.tasks.at(id).queued_at < st.tasks.at(*oldest).queued_at) oldest = id, where = at;
    };
    for (auto id : pool.queue) consider(id, "queued");
    for (const auto& w : pool.workers) {
      if (!w.task) continue;
      ++r.held;
      auto worker = caf::actor_cast<caf::actor>(w.handle);
      consider(*w.task, w.offered ? "on a remote worker (node " + caf::to_string(worker.node()).substr(0, 12) + ")"
                                  : "on a local worker");
    }
    if (oldest) {
      const auto& task = st.tasks.at(*oldest);
      auto age = std::chrono::duration_cast<std::chrono::seconds>(now - task.queued_at).count();
      r.oldest = "task " + std::to_string(*oldest) + " (" + (*st.specs)[task.spec].name + ", prompt " +
                 std::to_string(st.jobs.at(task.job).prompt.id) + ") " + where + ", " + std::to_string(age) + " s old";
    }
    out.push_back(std::move(r));
  }
  return out;
}

grader_impl::behavior_type grader(self_ptr self, grader_config config, replay_buffer_actor replay,
                                  std::shared_ptr<const std::vector<reward_spec>> specs,
                                  std::map<std::string, std::uint32_t> pool_sizes, threading mode) {
  auto& st = self->state;
  st.config = std::move(config);
  st.replay = std::move(replay);
  st.specs = std::move(specs);
  st.mode = mode;
  st.all_workers = std::make_shared<std::vector<caf::actor>>();
  for (const auto& [name, size] : pool_sizes) {
    auto& pool = st.pools[name];
    for (std::uint32_t i = 0; i < size; ++i) pool.workers.push_back(worker_slot{new_worker(self), std::nullopt});
  }
  auto workers = st.all_workers;
  self->attach_functor([workers] {
    for (auto& w : *workers) caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
  });
  self->set_down_handler([self](caf::down_msg& msg) {
    auto& all = *self->state.all_workers;  // forget dead workers (replaced ones pile up otherwise)
    all.erase(std::remove_if(all.begin(), all.end(), [&](const caf::actor& w) { return w.address() == msg.source; }),
              all.end());
    for (auto& [pool_name, pool] : self->state.pools) worker_lost(self, pool_name, msg.source);
  });
  return {
      [self](grade_atom, protocol::prompt& prompt, std::vector<protocol::rollout>& rollouts)
          -> caf::result<protocol::scored_group> {
        job_state job;
        job.store = true;
        job.grade_promise = self->make_response_promise<protocol::scored_group>();
        auto promise = job.grade_promise;
        // Once a promise exists the handler's return value is ignored: refusals go through it.
        if (auto refused = accept(self, prompt, rollouts, job)) promise.deliver(std::move(refused));
        return promise;
      },
      [self](score_atom, protocol::prompt& prompt, std::vector<protocol::rollout>& rollouts)
          -> caf::result<std::vector<protocol::reward_verdict>> {
        job_state job;
        job.store = false;
        job.score_promise = self->make_response_promise<std::vector<protocol::reward_verdict>>();
        auto promise = job.score_promise;
        if (auto refused = accept(self, prompt, rollouts, job)) promise.deliver(std::move(refused));
        return promise;
      },
      [self](deadline_atom, std::uint64_t task_id) { on_deadline(self, task_id); },
      [self](offer_atom, const std::string& pool_name, caf::actor worker, caf::actor contact) -> caf::result<caf::ok_atom> {
        auto pool = self->state.pools.find(pool_name);
        if (pool == self->state.pools.end()) {
          return to_caf_error(errc::invalid_argument, "grader: no worker pool '" + pool_name + "'");
        }
        if (!worker) return to_caf_error(errc::invalid_argument, "grader: an invalid worker was offered");
        self->monitor(worker);
        pool->second.workers.push_back(
            worker_slot{caf::actor_cast<reward_worker_actor>(worker), std::nullopt, true, std::move(contact)});
        dispatch(self, pool_name);
        return caf::ok_atom::value;
      },
      [self](stats_atom) {
        auto& st = self->state;
        auto out = st.counters;
        out.pending_groups = st.jobs.size();
        for (const auto& [name, pool] : st.pools) {
          out.queued_tasks += pool.queue.size();
          for (const auto& w : pool.workers) {
            out.in_flight_tasks += w.task ? 1 : 0;
            out.remote_workers += w.offered ? 1 : 0;
            out.remote_in_flight_tasks += (w.offered && w.task) ? 1 : 0;
          }
        }
        out.grading_ms_mean = out.groups ? st.grading_ms_total / static_cast<double>(out.groups) : 0.0;
        return out;
      },
      [self](progress_atom) { return pool_progress(self); },
      [self](restart_atom, const std::string& pool_name) -> caf::result<std::uint32_t> {
        auto pool = self->state.pools.find(pool_name);
        if (pool == self->state.pools.end()) {
          return to_caf_error(errc::invalid_argument, "grader: no worker pool '" + pool_name + "'");
        }
        // A stuck worker may be blocked in a call: it is killed and forgotten, never waited for
        // (its late reply, if any, finds its task re-queued or finished).
        std::vector<caf::actor_addr> busy;
        for (const auto& w : pool->second.workers) {
          if (w.task) busy.push_back(caf::actor_cast<caf::actor_addr>(w.handle));
        }
        for (const auto& who : busy) {
          auto slot = slot_of(pool->second, who);
          if (slot == pool->second.workers.end()) continue;
          self->send_exit(slot->handle, caf::exit_reason::kill);
          worker_lost(self, pool_name, who);
        }
        return static_cast<std::uint32_t>(busy.size());
      },
  };
}

}  // namespace

result<grader_actor> spawn_grader(caf::actor_system& sys, const grader_config& config, replay_buffer_actor replay,
                                  std::vector<reward_spec> specs, std::map<std::string, std::uint32_t> pool_sizes,
                                  threading mode) {
  for (const auto& spec : specs) {
    if (!pool_sizes.count(spec.pool) || pool_sizes.at(spec.pool) == 0) {
      return make_error(errc::invalid_argument, "grader: reward '" + spec.name + "' runs on pool '" + spec.pool +
                                                    "', which has no workers");
    }
    if (!spec.fn) return make_error(errc::invalid_argument, "grader: reward '" + spec.name + "' has no function");
  }
  specs = bounded_by_deadlines(std::move(specs));
  auto shared = std::make_shared<const std::vector<reward_spec>>(std::move(specs));
  // The grader itself never blocks (workers do): it runs on the scheduler in every mode.
  return grader_actor{sys.spawn(grader, config, std::move(replay), shared, std::move(pool_sizes), mode)};
}

result<grader_actor> spawn_builtin_grader(caf::actor_system& sys, const grader_config& config, replay_buffer_actor replay) {
  std::shared_ptr<sandbox::pool> sandbox;
  std::string sandbox_problem;
  if (config.rewards.accuracy_weight > 0) {
    auto created = sandbox::pool::create(config.sandbox);
    if (created) {
      sandbox = std::move(*created);
    } else if (config.require_sandbox) {
      return make_error(created.error().code, "grader: the sandbox cannot start: " + created.error().message +
                                                  " (set grader.require_sandbox = false to run math-only)");
    } else {
      sandbox_problem = created.error().message;
      std::fprintf(stderr, "aha grader: warning: no sandbox (%s); code and countdown rewards will be errors\n",
                   sandbox_problem.c_str());
    }
  }
  auto specs = make_builtin_rewards(config.rewards, sandbox, sandbox_problem);
  if (!specs) return specs.error();
  return spawn_grader(sys, config, std::move(replay), std::move(*specs),
                      {{"cpu", config.cpu_workers}, {"sandbox", config.sandbox_workers}, {"checker", config.checker_workers}}, threading::detached);
}

}  // namespace aha::actors
