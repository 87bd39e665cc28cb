// Derived settings of a run (actors/run_config.hpp).
#include "actors/run_config.hpp"

#include <cctype>
#include <set>
#include <thread>

#include "cluster/data_parallel.hpp"

namespace aha::actors {

std::vector<std::string> resolve(run_config& config) {
  std::vector<std::string> notes;
  if (config.run.dir.empty()) {
    config.run.dir = "runs/" + config.run.name;
    notes.push_back("run.dir = \"" + config.run.dir + "\" (from run.name)");
  }
  if (config.run.mode == run_mode::sync && config.run.max_staleness != 0) {
    config.run.max_staleness = 0;
    notes.push_back("run.max_staleness = 0 (mode = \"sync\" alternates strictly)");
  }
  // run.seed seeds everything, the built-in data included, unless a data seed is set.
  if (config.prompts.dataset.seed == 0) {
    config.prompts.dataset.seed = config.run.seed;
    notes.push_back("prompts.dataset.seed = " + std::to_string(config.run.seed) + " (run.seed)");
  }
  if (config.prompts.shuffle_seed == 0) {
    config.prompts.shuffle_seed = config.run.seed;
    notes.push_back("prompts.shuffle_seed = " + std::to_string(config.run.seed) + " (run.seed)");
  }
  if (config.run.threads == 0) {
    config.run.threads = std::max(1u, std::thread::hardware_concurrency());
    notes.push_back("run.threads = " + std::to_string(config.run.threads) + " (the number of cores)");
  }
  if (config.grpo.optimizer.total_steps == 0 && config.grpo.learner.steps > 0) {
    config.grpo.optimizer.total_steps = static_cast<std::int64_t>(config.grpo.learner.steps);
    notes.push_back("grpo.optimizer.total_steps = " + std::to_string(config.grpo.learner.steps) + " (grpo.learner.steps)");
  }
  if (config.sft.optimizer.total_steps == 0 && config.sft.steps > 0) {
    config.sft.optimizer.total_steps = static_cast<std::int64_t>(config.sft.steps);
    notes.push_back("sft.optimizer.total_steps = " + std::to_string(config.sft.steps) + " (sft.steps)");
  }
  return notes;
}

const char* stage_kind_name(stage_kind kind) {
  switch (kind) {
    case stage_kind::sft: return "sft";
    case stage_kind::grpo: return "grpo";
    case stage_kind::rejection_sample: return "rejection_sample";
    case stage_kind::distill: return "distill";
    case stage_kind::eval: return "eval";
    case stage_kind::none: break;
  }
  return "none";
}

run_config stage_view(const run_config& config, std::size_t index) {
  const stage_spec& stage = config.stages.at(index);
  run_config out = config;
  out.stages.clear();
  out.prompts = stage.config.prompts;
  out.generator = stage.config.generator;
  out.grader = stage.config.grader;
  out.sft = stage.config.sft;
  out.grpo = stage.config.grpo;
  out.eval = stage.config.eval;
  // A stage's rollouts and cursor are its own: a later GRPO stage starts with an empty buffer and
  // a resumed one finds exactly its groups.
  const std::string folder = "stages/" + stage.name + "/";
  out.replay.dir = folder + config.replay.dir;
  if (!out.prompts.state_file.empty()) out.prompts.state_file = folder + out.prompts.state_file;
  // The stage's copy was taken before the run's derived settings: derive its own.
  resolve(out);
  return out;
}

namespace {

bool file_safe(const std::string& name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  }
  return true;
}

// Checks the [[stages]] entries themselves (each one's sections are checked by validate_run).
void validate_stages(const run_config& config, std::vector<std::string>& problems) {
  std::set<std::string> names;
  for (std::size_t i = 0; i < config.stages.size(); ++i) {
    const auto& s = config.stages[i];
    const std::string at = "stages[" + std::to_string(i) + "] \"" + s.name + "\": ";
    if (!file_safe(s.name)) problems.push_back(at + "name must be letters, digits, '_' or '-' (it names stages/<name>/)");
    if (!names.insert(s.name).second) problems.push_back(at + "name is used by an earlier stage; names must be unique");
    if (s.kind == stage_kind::none) {
      problems.push_back(at + "missing kind: one of sft, grpo, rejection_sample, distill, eval");
      continue;
    }
    if (s.kind != stage_kind::sft && (!s.data.empty() || !s.from_stage.empty())) {
      problems.push_back(at + "data and from_stage belong to sft stages, not " + stage_kind_name(s.kind));
    }
    if (!s.data.empty() && !s.from_stage.empty()) {
      problems.push_back(at + "set data or from_stage, not both");
    }
    if (!s.from_stage.empty()) {
      bool found = false;
      for (std::size_t j = 0; j < i; ++j) {
        const auto kind = config.stages[j].kind;
        found = found || (config.stages[j].name == s.from_stage &&
                          (kind == stage_kind::rejection_sample || kind == stage_kind::distill));
      }
      if (!found) {
        problems.push_back(at + "from_stage = \"" + s.from_stage + "\" names no earlier rejection_sample or distill stage");
      }
    }
    // A distill stage samples its teacher's traces with the same settings and filters.
    if (s.kind == stage_kind::rejection_sample || s.kind == stage_kind::distill) {
      if (!(s.rejection.temperature > 0)) {
        problems.push_back(at + "rejection.temperature must be > 0 (k samples at temperature 0 are k copies)");
      }
      if (s.rejection.keep > s.rejection.samples) {
        problems.push_back(at + "rejection.keep = " + std::to_string(s.rejection.keep) +
                           " is more than rejection.samples = " + std::to_string(s.rejection.samples));
      }
    }
  }
  if (!config.stages.empty() && !config.cluster.listen.empty()) {
    problems.push_back("cluster.listen: nodes join one grader, and each of [[stages]] has its own; "
                       "run a pipeline without cluster.listen (or a recipe without [[stages]])");
  }
}

// The checks of one runnable configuration (the run's, or one stage's view); `prefix` names it.
void validate_run(const run_config& config, bool trains_grpo, const std::string& prefix,
                  std::vector<std::string>& problems) {
  auto add = [&](const std::string& line) { problems.push_back(prefix + line); };
  const auto& gen = config.generator;
  const std::uint64_t window =
      static_cast<std::uint64_t>(config.grpo.learner.groups_per_step) * (std::uint64_t{config.run.max_staleness} + 1);
  if (trains_grpo && gen.prompts_per_batch > window) {
    // The gate admits a batch only when all of it can be consumed within eta: a larger one never is.
    add("generator.prompts_per_batch = " + std::to_string(gen.prompts_per_batch) +
                       " is larger than the staleness window grpo.learner.groups_per_step x (run.max_staleness + 1) = " +
                       std::to_string(window) + ": use at most " + std::to_string(window) +
                       ", or raise groups_per_step or max_staleness");
  }
  if (trains_grpo && gen.max_outstanding_groups < gen.prompts_per_batch) {
    add("generator.max_outstanding_groups = " + std::to_string(gen.max_outstanding_groups) +
                       " is smaller than generator.prompts_per_batch = " + std::to_string(gen.prompts_per_batch) +
                       ": a generator would never start a batch; use at least " + std::to_string(gen.prompts_per_batch));
  }
  if (trains_grpo && !(gen.temperature > 0)) {
    add("generator.temperature = " + std::to_string(gen.temperature) +
                       ": GRPO samples and trains at this temperature and needs it > 0 (e.g. 1.0); "
                       "greedy decoding belongs to eval.temperature = 0");
  }
  const auto& learner = config.grpo.learner;
  if (trains_grpo && learner.ranks > 1) {
    if (learner.rendezvous.empty()) {
      add("grpo.learner.ranks = " + std::to_string(learner.ranks) +
          " needs grpo.learner.rendezvous = \"IP:PORT\" (where rank 0 meets the `aha learner-rank` processes)");
    } else if (auto endpoint = cluster::parse_endpoint(learner.rendezvous); !endpoint) {
      add("grpo.learner.rendezvous: " + endpoint.error().message);
    } else if (endpoint->first.rfind("127.", 0) != 0 && endpoint->first != "localhost" && !config.cluster.plaintext) {
      // c10d's store and Gloo speak plain, unauthenticated TCP (the node wire has TLS; this does not).
      add("grpo.learner.rendezvous = " + learner.rendezvous +
          " is not loopback: the learner ranks' traffic is neither encrypted nor authenticated; "
          "set cluster.plaintext = true for a network you trust");
    }
  }
  for (auto k : config.eval.pass_at) {
    if (k < 1 || k > config.eval.samples) {
      add("eval.pass_at holds " + std::to_string(k) + ": each k must be in [1, eval.samples = " +
                         std::to_string(config.eval.samples) + "] (pass@k needs at least k samples per prompt)");
    }
  }
}

}  // namespace

status validate(const run_config& config) {
  std::vector<std::string> problems;
  if (config.stages.empty()) {
    validate_run(config, config.grpo.learner.steps > 0, "", problems);
  } else {
    // With [[stages]] the sections above are only the stages' defaults: each stage's view is checked.
    validate_stages(config, problems);
    for (std::size_t i = 0; i < config.stages.size() && problems.empty(); ++i) {
      if (stage_view(config, i).grpo.learner.ranks > 1) {
        problems.push_back("stages[" + std::to_string(i) + "]: grpo.learner.ranks > 1 needs a recipe without [[stages]] "
                           "(`aha learner-rank` follows the top-level sections)");
      }
    }
    const bool entries_ok = problems.empty();  // a stage without a kind has no view to check
    for (std::size_t i = 0; i < config.stages.size() && entries_ok; ++i) {
      const auto& s = config.stages[i];
      validate_run(stage_view(config, i), s.kind == stage_kind::grpo && s.config.grpo.learner.steps > 0,
                   "stages[" + std::to_string(i) + "] \"" + s.name + "\": ", problems);
    }
  }
  if (problems.empty()) return ok_status();
  std::string message;
  for (const auto& p : problems) message += (message.empty() ? "" : "\n") + p;
  return make_error(errc::invalid_argument, message);
}

}  // namespace aha::actors
