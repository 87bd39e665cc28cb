// The generator actor (actors/generator.hpp).
#include "actors/generator.hpp"

#include <chrono>

#include "core/fault_point.hpp"
#include "model/runtime.hpp"

namespace aha::actors {
namespace {

using clock_type = std::chrono::steady_clock;

protocol::finish_reason to_protocol(model::finish_reason reason) {
  switch (reason) {
    case model::finish_reason::stop_token: return protocol::finish_reason::stop_token;
    case model::finish_reason::stop_string: return protocol::finish_reason::stop_string;
    case model::finish_reason::length: return protocol::finish_reason::length;
  }
  return protocol::finish_reason::aborted;
}

std::uint64_t unix_micros() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

struct generator_state {
  generator_setup setup;
  std::unique_ptr<model::engine> engine;
  model::sampling_params sampling;
  weights_ptr pending;              // newest snapshot not yet swapped in
  std::uint64_t learner_version = 0;  // as last reported by the gate
  std::uint32_t outstanding = 0;    // groups at the grader
  bool busy = false;                // a batch is between acquire and hand-over
  bool stopping = false;
  bool awaiting_weights = false;    // its weights are too old for the learner: waiting for newer ones
  std::uint64_t batches = 0;
  std::uint64_t rollouts = 0;       // handed to the grader
  double generated_tokens = 0;
  double generating_seconds = 0;
};

using self_ptr = generator_actor::stateful_pointer<generator_state>;

model::sampling_params sampling_of(const generator_config& c, const model::tokenizer& tok, std::uint64_t seed) {
  model::sampling_params p;
  p.temperature = c.temperature;
  p.top_p = c.top_p;
  p.top_k = c.top_k;
  p.max_new_tokens = c.max_new_tokens;
  p.seed = seed;
  add_stop_criteria(p, tok, c.stop_strings);
  return p;
}

void swap_in_weights(self_ptr self) {
  auto& s = self->state;
  if (!s.pending) return;
  load_snapshot(s.engine->model(), *s.pending);
  s.setup.weight_version = s.pending->version;
  s.pending.reset();
}

void schedule_work(self_ptr self) {
  auto& s = self->state;
  if (s.busy || s.stopping) return;
  if (s.outstanding + s.setup.config.prompts_per_batch > s.setup.config.max_outstanding_groups) return;
  s.busy = true;
  self->send(self, work_atom::value);
}

// Gives prompts whose groups (sampled with weights `version`) will never be stored back to the
// source, and their window slots to the gate.
void requeue(self_ptr self, const std::vector<protocol::prompt>& prompts, std::uint64_t version) {
  std::vector<std::uint64_t> ids;
  for (const auto& p : prompts) ids.push_back(p.id);
  self->send(self->state.setup.peers.prompts, requeue_atom::value, ids);
  self->send(self->state.setup.peers.gate, release_atom::value, static_cast<std::uint32_t>(ids.size()), version);
}

// Samples G completions for each prompt and hands each group to the grader.
void sample_and_hand_over(self_ptr self, const std::vector<protocol::prompt>& prompts) {
  auto& s = self->state;
  const auto& cfg = s.setup.config;
  std::vector<std::vector<std::int32_t>> rows_prompt;
  for (const auto& p : prompts)
    rows_prompt.push_back(p.tokens.empty() ? prompt_tokens(*s.setup.tokenizer, p.text) : p.tokens);
  s.sampling.seed += 1;  // a fresh, reproducible stream per batch
  const std::uint64_t version = s.setup.weight_version;  // the weights these groups are sampled with
  auto started = clock_type::now();
  // One prefill per prompt, shared by its group (completions are prompt-major).
  auto completions = s.engine->generate_groups(rows_prompt, cfg.group_size, s.sampling, s.setup.tokenizer.get());
  double seconds = std::chrono::duration<double>(clock_type::now() - started).count();
  if (!completions) {
    aout(self) << s.setup.name << ": generation failed: " << completions.error().message << "\n";
    requeue(self, prompts, version);
    return;
  }
  AHA_FAULT_POINT("generator.before_hand_over");  // tests: die holding a sampled batch
  s.generating_seconds += seconds;
  auto generation_us = static_cast<std::uint32_t>(seconds * 1e6);
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    std::vector<model::completion> group(completions->begin() + static_cast<std::ptrdiff_t>(i * cfg.group_size),
                                         completions->begin() + static_cast<std::ptrdiff_t>((i + 1) * cfg.group_size));
    for (const auto& c : group) s.generated_tokens += static_cast<double>(c.tokens.size());
    auto rollouts = make_rollouts(prompts[i], rows_prompt[i], group, *s.setup.tokenizer, s.setup.weight_version,
                                  s.setup.name, generation_us);
    ++s.outstanding;
    s.rollouts += rollouts.size();
    self->request(s.setup.peers.grader, cfg.grade_timeout, grade_atom::value, prompts[i], std::move(rollouts))
        .then(
            [=](const protocol::scored_group&) {
              --self->state.outstanding;
              schedule_work(self);
            },
            [=, prompt = prompts[i]](const caf::error& failure) {
              // The group is lost: its prompt goes back to the source (re-issued to whoever asks
              // next) and its slot in the staleness window is given back.
              aout(self) << self->state.setup.name << ": grading failed: " << describe(failure) << "\n";
              --self->state.outstanding;
              requeue(self, {prompt}, version);
              schedule_work(self);
            });
  }
  // The grader has them now: this generator's death no longer loses these groups.
  std::vector<std::uint64_t> ids;
  for (const auto& p : prompts) ids.push_back(p.id);
  self->send(s.setup.peers.prompts, handover_atom::value, std::move(ids));
}

void run_batch(self_ptr self) {
  auto& s = self->state;
  swap_in_weights(self);
  const std::uint32_t n = s.setup.config.prompts_per_batch;
  // 1. Room in the staleness window for groups sampled with these weights (the reply is the
  //    learner's version; older weights without room are refused: wait for newer ones).
  const std::uint64_t asked_with = s.setup.weight_version;
  self->request(s.setup.peers.gate, caf::infinite, acquire_atom::value, n, asked_with)
      .then([=](std::uint64_t learner_version) {
        auto& st = self->state;
        st.learner_version = learner_version;
        swap_in_weights(self);  // weights published before the learner advanced the gate are here now
        // The gate booked the batch at the older of the two versions; it is sampled with these weights.
        const std::uint64_t booked = std::min(asked_with, learner_version);
        const std::uint64_t version = st.setup.weight_version;
        if (version != booked) self->send(st.setup.peers.gate, restamp_atom::value, n, booked, version);
        // 2. Prompts.
        self->request(st.setup.peers.prompts, std::chrono::seconds(60), next_atom::value, n)
            .then(
                [=](const std::vector<protocol::prompt>& prompts) {
                  auto& s2 = self->state;
                  if (prompts.size() < n) {
                    self->send(s2.setup.peers.gate, release_atom::value, static_cast<std::uint32_t>(n - prompts.size()),
                               version);
                  }
                  // 3. Sample and hand over; then the next batch.
                  if (!prompts.empty()) sample_and_hand_over(self, prompts);
                  ++s2.batches;
                  s2.busy = false;
                  if (prompts.empty()) s2.stopping = true;  // a finite dataset ran out
                  schedule_work(self);
                },
                [=](const caf::error& failure) {
                  aout(self) << self->state.setup.name << ": no prompts: " << describe(failure) << "\n";
                  self->send(self->state.setup.peers.gate, release_atom::value, n, version);
                  self->state.busy = false;
                  self->delayed_send(self, std::chrono::seconds(1), work_atom::value);
                });
      },
      [=](const caf::error&) {
        // Refused: these weights are older than the learner's and their groups have no room left
        // to be trained in time (a replica on another host whose next version is on the way, or a
        // request that waited while the learner moved on). Sample again with the newer ones.
        auto& st = self->state;
        st.busy = false;
        if (st.pending && st.pending->version > asked_with) {
          schedule_work(self);
        } else {
          st.awaiting_weights = true;
        }
      });
}

generator_actor::behavior_type generator(self_ptr self, generator_setup setup) {
  model::set_threads(static_cast<int>(setup.config.threads));
  auto& s = self->state;
  s.setup = std::move(setup);
  const auto& cfg = s.setup.config;
  s.sampling = sampling_of(cfg, *s.setup.tokenizer, s.setup.seed);
  const std::int64_t rows = static_cast<std::int64_t>(cfg.prompts_per_batch) * cfg.group_size;
  s.engine = std::make_unique<model::engine>(s.setup.replica, rows,
                                             std::min<std::int64_t>(s.setup.replica->config().max_position_embeddings, 4096));
  schedule_work(self);
  return {
      [=](weights_atom, weights_ptr snapshot) {
        auto& st = self->state;
        if (!st.pending || snapshot->version > st.pending->version) st.pending = std::move(snapshot);
        if (st.awaiting_weights) {
          st.awaiting_weights = false;
          schedule_work(self);
        }
      },
      [=](work_atom) {
        if (self->state.stopping) return;
        self->state.busy = true;
        run_batch(self);
      },
      [=](stop_atom) {
        self->state.stopping = true;
        self->quit();
      },
      [=](progress_atom) -> progress_list {
        const auto& st = self->state;
        return {{st.setup.name, "batches", 0, st.batches, ""}, {st.setup.name, "rollouts", 0, st.rollouts, ""}};
      },
  };
}

}  // namespace

std::vector<std::int32_t> prompt_tokens(const model::tokenizer& tokenizer, const std::string& text) {
  std::vector<std::int32_t> tokens;
  if (tokenizer.bos_id() >= 0) tokens.push_back(tokenizer.bos_id());
  auto body = tokenizer.encode(text);
  tokens.insert(tokens.end(), body.begin(), body.end());
  return tokens;
}

void add_stop_criteria(model::sampling_params& params, const model::tokenizer& tokenizer,
                       const std::vector<std::string>& stop_strings) {
  if (tokenizer.eos_id() >= 0) params.stop_token_ids.push_back(tokenizer.eos_id());
  for (const auto& s : stop_strings) {
    if (auto id = tokenizer.token_id(s)) params.stop_token_ids.push_back(*id);
    else params.stop_strings.push_back(s);
  }
}

std::vector<protocol::rollout> make_rollouts(const protocol::prompt& prompt, const std::vector<std::int32_t>& tokens,
                                             const std::vector<model::completion>& completions,
                                             const model::tokenizer& tokenizer, std::uint64_t weight_version,
                                             const std::string& generator, std::uint32_t generation_us) {
  std::vector<protocol::rollout> rollouts;
  const std::uint64_t now = unix_micros();
  for (std::size_t g = 0; g < completions.size(); ++g) {
    protocol::rollout r;
    r.prompt_id = prompt.id;
    r.sample_index = static_cast<std::uint32_t>(g);
    r.prompt_tokens = tokens;
    r.completion_tokens = completions[g].tokens;
    r.behaviour_logprobs = completions[g].logprobs;
    // The text graded is what the model wrote: a final end-of-sequence token is not part of it.
    std::size_t visible = completions[g].tokens.size();
    if (visible > 0 && completions[g].tokens.back() == tokenizer.eos_id()) --visible;
    r.completion_text = tokenizer.decode(completions[g].tokens.data(), visible);
    r.weight_version = weight_version;
    r.finish = to_protocol(completions[g].finish);
    r.created_unix_us = now;
    r.generation_us = generation_us;
    r.generator = generator;
    rollouts.push_back(std::move(r));
  }
  return rollouts;
}

generator_actor spawn_generator(caf::actor_system& system, generator_setup setup) {
  if (setup.where == threading::scheduled) return system.spawn(generator, std::move(setup));
  return system.spawn<caf::detached>(generator, std::move(setup));
}

}  // namespace aha::actors
