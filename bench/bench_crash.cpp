// `aha bench crash [CONFIG] [--kills N] [--seed S] [--steps N] [--max-delay SECONDS] [--keep]
// [--set key=value ...]`: the crash harness. Starts `aha train` as a child process on a tiny, fast
// run (built in; or CONFIG), SIGKILLs it after seeded random delays (landing in start-up, SFT,
// GRPO and checkpointing), resumes it with --resume until it finishes, then audits the run from
// its artifacts only: the replay store (read-only), the prompt cursor, the checkpoints'
// trainer_state.json, metrics.jsonl. One line per kill, the audit, and a last JSON line
// {"kills", "lost", "duplicated", "resumes", "wall_seconds", ...}. Tested by tests/crash.test.cpp.
//
// What the audit counts (docs/resume.md has the reasoning):
//   schedule   the prompt ids the cursor handed out fresh, in its seeded order (the first
//              epoch * dataset size + position of them); re-issues hand out the same ids again.
//   duplicated prompt ids trained twice: two or more consumed groups in the final store, or a
//              group consumed at step s before a checkpoint a kill left (so the resumed model
//              carries it) and later unconsumed or consumed at another step. Prompts with two
//              live (not dropped) stored groups of which at most one was consumed are counted
//              apart (stored_twice: a wrongful re-issue whose copy is still unconsumed). Groups the
//              replay buffer dropped as too stale (their prompts asked again, by design; the drop
//              is persisted in the store) are counted as `dropped`, not as the prompt's groups.
//   lost       scheduled prompt ids with no consumed group that nothing still holds at the end
//              (not outstanding in the cursor, no unconsumed group in the store).
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "actors/prompt_source.hpp"
#include "actors/replay_store.hpp"
#include "actors/run_config.hpp"
#include "cli/command.hpp"
#include "model/hf_checkpoint.hpp"
#include "model/optimizer.hpp"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using aha::actors::replay_entry;
using clock_type = std::chrono::steady_clock;

// The tiny run: the built-in model on arithmetic, short completions, four held-out prompts (every
// start evaluates them), a checkpoint every second GRPO step. About 0.1 s per GRPO step on one core.
constexpr const char* kTinyRun = R"(# written by `aha bench crash`
[run]
name = "bench_crash"
seed = 3
threads = 1
max_wall = "10m"
[prompts.dataset]
tasks = ["arithmetic"]
eval_size = 8
[generator]
group_size = 4
prompts_per_batch = 2
max_new_tokens = 16
[sft]
steps = 10
batch_size = 8
[grpo.learner]
groups_per_step = 2
checkpoint_every = 2
[eval]
prompts = 4
max_new_tokens = 16
[metrics]
progress = false
)";

struct crash_options {
  std::uint64_t kills = 20;
  std::uint64_t seed = 1;
  std::uint64_t steps = 0;   // GRPO steps; 0 = 20 per kill (at least 40)
  double max_delay = 3.0;    // seconds: each kill comes 0.1 s .. max_delay after its life starts
  bool keep = false;         // keep the work folder (the run, each life's log)
};

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

nlohmann::json read_json(const fs::path& path) {
  auto j = nlohmann::json::parse(read_text(path), nullptr, false);
  return j.is_discarded() ? nlohmann::json() : j;
}

// ---- one life of the child -------------------------------------------------------------------

// Starts `aha train` with its stdout and stderr appended to `log`; returns the pid (or -1).
pid_t start_life(const std::vector<std::string>& words, const fs::path& log) {
  std::vector<char*> argv;
  for (const auto& w : words) argv.push_back(const_cast<char*>(w.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&files, 1, 2);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &files, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&files);
  return rc == 0 ? pid : -1;
}

struct life_end {
  bool killed = false;
  int exit_code = -1;  // when it exited by itself
  bool at_cap = false;  // killed for having gone far enough, before its delay ran out
  double seconds = 0;
};

// Waits for the child up to `deadline` seconds after `started`, or until `far_enough()` (checked
// every 20 ms), and SIGKILLs it then. `before_kill` runs just before the signal (to see what the
// child was doing).
template <class Far, class F>
life_end wait_or_kill(pid_t pid, clock_type::time_point started, double deadline, Far far_enough, F before_kill) {
  life_end end;
  for (int poll = 1;; ++poll) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      end.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    const bool far = poll % 10 == 0 && far_enough();
    if (far || seconds_since(started) >= deadline) {
      before_kill();
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      end.killed = true;
      end.at_cap = far;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  end.seconds = seconds_since(started);
  return end;
}

// Where a life was when it was killed, from its own log and the checkpoint's scratch folder (one
// this life wrote into: a kill mid-save leaves the folder until the next save clears it).
std::string phase_of(const fs::path& run, const fs::path& log, fs::file_time_type life_start) {
  std::error_code ec;
  const auto scratch = fs::last_write_time(run / "checkpoint.tmp", ec);
  if (!ec && scratch >= life_start) return "checkpoint";
  const auto text = read_text(log);
  const auto last = text.rfind("life ");  // this life's part of the log starts with a marker line
  const auto part = last == std::string::npos ? text : text.substr(last);
  if (part.find("eval after GRPO:") != std::string::npos) return "end";
  if (part.find("eval after SFT:") != std::string::npos || part.find("eval resumed:") != std::string::npos) return "grpo";
  if (part.find("eval initial:") != std::string::npos) return "sft";
  return "start-up";
}

// ---- the artifacts ---------------------------------------------------------------------------

struct store_view {
  std::map<std::uint64_t, replay_entry> entries;     // group id -> index entry
  std::map<std::uint64_t, std::uint64_t> prompt_of;  // group id -> prompt id
};

aha::result<store_view> read_store(const fs::path& dir) {
  store_view view;
  if (!fs::exists(dir)) return view;
  aha::actors::replay_store_options options;
  options.dir = dir.string();
  options.read_only = true;
  auto store = aha::actors::replay_store::open(options);
  if (!store) return store.error();
  view.entries = (*store)->entries();
  for (const auto& [id, entry] : view.entries) {
    auto group = (*store)->get(id);
    if (!group) return group.error();
    view.prompt_of[id] = group->source.id;
  }
  return view;
}

// The checkpoint's trainer_state.json, read without touching the folder (an interrupted swap
// leaves the complete previous checkpoint in checkpoint.old; the next start restores it).
nlohmann::json read_checkpoint_state(const fs::path& run) {
  auto state = read_json(run / "checkpoint" / "trainer_state.json");
  if (state.is_object()) return state;
  return read_json(run / "checkpoint.old" / "trainer_state.json");
}

// GRPO steps a checkpoint carries (0 for none, or one after SFT).
std::uint64_t checkpointed_steps(const nlohmann::json& state) {
  if (!state.is_object() || state.value("stage", std::string()) != "grpo") return 0;
  return state.value("grpo_step", std::uint64_t{0});
}

// Consumption that a checkpoint made part of the model: group id -> step. A group in it that is
// later seen unconsumed, or consumed at another step, was trained twice.
struct lineage {
  std::map<std::uint64_t, std::uint64_t> committed;
  std::set<std::uint64_t> retrained;  // group ids

  void observe(const store_view& store, std::uint64_t checkpoint_steps) {
    for (const auto& [id, step] : committed) {
      auto it = store.entries.find(id);
      if (it != store.entries.end() && (!it->second.consumed || it->second.consumed_step != step)) retrained.insert(id);
    }
    for (const auto& [id, entry] : store.entries) {
      if (entry.consumed && entry.consumed_step < checkpoint_steps) committed.emplace(id, entry.consumed_step);
    }
  }
};

// ---- the audit -------------------------------------------------------------------------------

struct audit {
  std::uint64_t scheduled = 0, consumed_groups = 0, outstanding = 0, lost = 0;
  std::uint64_t stored_twice = 0, trained_twice = 0, retrained = 0, duplicated = 0;
  std::uint64_t dropped = 0;           // groups dropped as too stale (never trained; prompt asked again)
  std::uint64_t short_steps = 0;       // GRPO steps without exactly groups_per_step consumed groups
  std::uint64_t metrics_missing = 0;   // GRPO steps without a metrics record
  std::uint64_t checkpoint_step = 0, checkpoint_version = 0, optimizer_steps = 0;
  bool model_loads = false, checkpoint_ok = false;
  std::string problems;                // what failed to read
};

// The fresh-issue order of the cursor: its first `count` prompt ids.
std::set<std::uint64_t> schedule_of(const aha::actors::run_config& config, std::uint64_t count, std::string& problems) {
  std::set<std::uint64_t> ids;
  auto dataset = aha::actors::tasks::open_dataset(config.prompts.dataset, aha::actors::tasks::split::train);
  if (!dataset) return problems += "dataset: " + dataset.error().message + "; ", ids;
  std::shared_ptr<const aha::actors::tasks::prompt_dataset> shared = std::move(*dataset);
  auto cursor = aha::actors::prompt_cursor::open(shared, config.prompts.shuffle_seed, config.prompts.epochs, "");
  if (!cursor) return problems += "cursor: " + cursor.error().message + "; ", ids;
  while (ids.size() < count) {
    auto batch = (*cursor)->next(static_cast<std::uint32_t>(std::min<std::uint64_t>(count - ids.size(), 1024)));
    if (!batch || batch->empty()) break;
    for (const auto& p : *batch) ids.insert(p.id);
  }
  return ids;
}

// Prompts counted by the books: consumed groups per prompt, and what still holds one.
void audit_prompts(const aha::actors::run_config& config, const fs::path& run, const store_view& store, audit& a) {
  std::map<std::uint64_t, std::uint64_t> groups, consumed;  // prompt id -> count
  std::set<std::uint64_t> held;                               // prompts something still holds
  std::map<std::uint64_t, std::uint64_t> per_step;
  for (const auto& [id, entry] : store.entries) {
    const auto prompt = store.prompt_of.at(id);
    if (entry.dropped) {
      ++a.dropped;
      continue;
    }
    ++groups[prompt];
    if (entry.consumed) ++consumed[prompt], ++per_step[entry.consumed_step], ++a.consumed_groups;
    else held.insert(prompt);
  }
  auto cursor = read_json(run / config.prompts.state_file);
  if (!cursor.is_object()) a.problems += "no prompt cursor; ";
  for (const char* key : {"outstanding", "stored"}) {
    for (auto id : cursor.value(key, std::vector<std::uint64_t>{})) held.insert(id);
  }
  const std::uint64_t fresh = cursor.value("epoch", std::uint64_t{0}) * cursor.value("dataset_size", std::uint64_t{0}) +
                              cursor.value("position", std::uint64_t{0});
  const auto schedule = schedule_of(config, fresh, a.problems);
  a.scheduled = schedule.size();
  for (auto id : schedule) {
    if (consumed.count(id)) continue;
    if (held.count(id)) ++a.outstanding; else ++a.lost;
  }
  for (const auto& [prompt, n] : groups) a.stored_twice += n > 1 && consumed[prompt] <= 1 ? 1 : 0;
  for (const auto& [prompt, n] : consumed) a.trained_twice += n > 1 ? 1 : 0;
  for (std::uint64_t step = 0; step < config.grpo.learner.steps; ++step) {
    if (per_step[step] != config.grpo.learner.groups_per_step) ++a.short_steps;
  }
}

// The final checkpoint: all steps, the SFT steps, a model that loads, an optimizer in step.
void audit_checkpoint(const aha::actors::run_config& config, const fs::path& run, audit& a) {
  const auto dir = run / "checkpoint";
  auto state = read_json(dir / "trainer_state.json");
  a.checkpoint_step = checkpointed_steps(state);
  a.checkpoint_version = state.is_object() ? state.value("weight_version", std::uint64_t{0}) : 0;
  auto model = aha::model::load_pretrained(dir.string());
  a.model_loads = model.ok();
  if (!model) a.problems += "model: " + model.error().message + "; ";
  if (model) {
    aha::model::optimizer optimizer((*model)->parameters(), {});
    if (auto loaded = optimizer.load((dir / "optimizer.pt").string()); loaded) {
      a.optimizer_steps = static_cast<std::uint64_t>(optimizer.steps_taken());
    } else {
      a.problems += "optimizer: " + loaded.error().message + "; ";
    }
  }
  a.checkpoint_ok = a.model_loads && a.checkpoint_step == config.grpo.learner.steps &&
                    state.value("sft_steps", std::uint64_t{0}) == config.sft.steps &&
                    a.optimizer_steps == a.checkpoint_version && a.checkpoint_version <= a.checkpoint_step;
}

// GRPO steps that left no metrics record (a record carries learner/version).
std::uint64_t metrics_missing(const aha::actors::run_config& config, const fs::path& run) {
  std::set<std::uint64_t> seen;
  std::ifstream in(run / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);  // a kill may cut the last line short
    if (j.is_object() && j.contains("learner/version")) seen.insert(j.value("step", std::uint64_t{0}));
  }
  std::uint64_t missing = 0;
  for (std::uint64_t step = 0; step < config.grpo.learner.steps; ++step) missing += seen.count(step) ? 0 : 1;
  return missing;
}

audit audit_run(const aha::actors::run_config& config, const fs::path& run, lineage& history) {
  audit a;
  auto store = read_store(run / config.replay.dir);
  if (!store) {
    a.problems += "replay store: " + store.error().message + "; ";
    return a;
  }
  history.observe(*store, config.grpo.learner.steps);
  audit_prompts(config, run, *store, a);
  // A prompt counts once in `duplicated`, however many ways it was trained twice.
  std::map<std::uint64_t, std::uint64_t> consumed;  // prompt id -> consumed groups
  for (const auto& [id, entry] : store->entries) consumed[store->prompt_of.at(id)] += entry.consumed ? 1 : 0;
  std::set<std::uint64_t> duplicated, retrained;
  for (const auto& [prompt, n] : consumed) {
    if (n > 1) duplicated.insert(prompt);
  }
  for (auto id : history.retrained) {
    auto it = store->prompt_of.find(id);
    retrained.insert(it != store->prompt_of.end() ? it->second : ~id);  // an evicted group still counts
  }
  a.retrained = retrained.size();
  duplicated.insert(retrained.begin(), retrained.end());
  a.duplicated = duplicated.size();
  audit_checkpoint(config, run, a);
  a.metrics_missing = metrics_missing(config, run);
  return a;
}

// ---- the harness ------------------------------------------------------------------------------

std::string checkpoint_label(const nlohmann::json& state) {
  if (!state.is_object()) return "none";
  if (state.value("stage", std::string()) != "grpo") return "sft";
  return "grpo " + std::to_string(checkpointed_steps(state));
}

// The lives of the run: kill `options.kills` of them, then let the last one finish. Returns
// false when the run did not finish (a life failed thrice in a row, or hung).
struct harness_result {
  std::uint64_t kills = 0, lives = 0, failed_lives = 0;
  std::uint64_t at_cap = 0;  // kills that came at a life's progress cap, not its delay
  std::map<std::string, std::uint64_t> phases;  // where the kills landed
  bool finished = false;
};

harness_result run_lives(const crash_options& options, const aha::actors::run_config& config,
                         const std::vector<std::string>& train_words, const fs::path& work, lineage& history) {
  const fs::path run = config.run.dir;
  std::mt19937_64 rng(options.seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  // On a slow or busy machine a life may never get past start-up: after kNoProgress kills in a
  // row that found the checkpoint unchanged, the delays stretch by half (printed when they do).
  constexpr int kNoProgress = 4;
  double max_delay = std::max(0.2, options.max_delay);
  int stuck = 0;
  std::string last_checkpoint = "none";
  // A life that is not to be killed gets the run's own wall bound and a minute, then counts as hung.
  const double hang_guard = std::chrono::duration<double>(config.run.max_wall).count() + 60;
  harness_result out;
  std::cout << std::right << std::setw(5) << "kill" << std::setw(6) << "life" << std::setw(9) << "after s" << std::setw(6) << "by" << "  "
            << std::left << std::setw(12) << "phase" << std::setw(12) << "checkpoint" << std::right << std::setw(8)
            << "groups" << std::setw(10) << "consumed" << "\n";
  for (std::uint64_t failures_in_row = 0; failures_in_row < 3;) {
    const fs::path log = work / ("life-" + std::to_string(++out.lives) + ".log");
    const bool to_kill = out.kills < options.kills;
    const double deadline = to_kill ? 0.1 + unit(rng) * (max_delay - 0.1) : hang_guard;
    // On a fast machine one life could finish the run with kills left: a life that checkpoints
    // past 1.5 times its share of the remaining steps is killed there (`by`: "cap", not "delay").
    const std::uint64_t at = checkpointed_steps(read_checkpoint_state(run));
    const std::uint64_t left = config.grpo.learner.steps - std::min(at, config.grpo.learner.steps);
    const std::uint64_t cap = at + std::max<std::uint64_t>(2, 3 * left / (2 * (options.kills - out.kills + 1)));
    auto far_enough = [&] { return to_kill && checkpointed_steps(read_checkpoint_state(run)) >= cap; };
    const auto started = clock_type::now();
    const auto life_start = fs::file_time_type::clock::now();
    const pid_t pid = start_life(train_words, log);
    if (pid < 0) return std::cerr << "aha bench crash: cannot start " << train_words[0] << "\n", out;
    std::string phase;
    auto end = wait_or_kill(pid, started, deadline, far_enough, [&] { phase = phase_of(run, log, life_start); });
    if (end.killed && !to_kill) return std::cerr << "aha bench crash: life " << out.lives << " hung; log " << log << "\n", out;
    if (end.killed) {
      ++out.kills;
      ++out.phases[phase];
      out.at_cap += end.at_cap ? 1 : 0;
      auto store = read_store(run / config.replay.dir);
      if (!store) return std::cerr << "aha bench crash: " << store.error().message << "\n", out;
      const auto state = read_checkpoint_state(run);
      history.observe(*store, checkpointed_steps(state));
      std::uint64_t consumed = 0;
      for (const auto& [id, entry] : store->entries) consumed += entry.consumed ? 1 : 0;
      std::cout << std::right << std::setw(5) << out.kills << std::setw(6) << out.lives << std::setw(9) << std::fixed
                << std::setprecision(2) << end.seconds << std::setw(6) << (end.at_cap ? "cap" : "delay") << "  " << std::left << std::setw(12) << phase << std::setw(12)
                << checkpoint_label(state) << std::right << std::setw(8) << store->entries.size() << std::setw(10)
                << consumed << "\n";
      failures_in_row = 0;
      stuck = checkpoint_label(state) == last_checkpoint ? stuck + 1 : 0;
      last_checkpoint = checkpoint_label(state);
      if (stuck >= kNoProgress) {
        max_delay *= 1.5;
        stuck = 0;
        std::cout << "(no progress in " << kNoProgress << " lives: delays now up to " << std::setprecision(1) << max_delay << " s)\n";
      }
      continue;
    }
    if (end.exit_code == 0) {
      out.finished = true;
      return out;
    }
    ++out.failed_lives;
    ++failures_in_row;
    const auto text = read_text(log);
    std::cout << "life " << out.lives << " failed (exit " << end.exit_code << "): "
              << text.substr(text.size() - std::min<std::size_t>(text.size(), 600)) << "\n";
  }
  return out;
}

bool parse_options(aha::cli::arguments& args, crash_options& options, std::string& problem) {
  try {
    if (auto v = args.option("--kills")) options.kills = std::stoull(*v);
    if (auto v = args.option("--seed")) options.seed = std::stoull(*v);
    if (auto v = args.option("--steps")) options.steps = std::stoull(*v);
    if (auto v = args.option("--max-delay")) options.max_delay = std::stod(*v);
  } catch (const std::exception&) {
    problem = "--kills, --seed and --steps take whole numbers, --max-delay seconds";
    return false;
  }
  options.keep = args.flag("--keep");
  if (options.steps == 0) options.steps = std::max<std::uint64_t>(40, 20 * options.kills);
  return true;
}

void print_audit(const audit& a, const harness_result& h, const aha::actors::run_config& config, double wall) {
  std::cout << std::fixed << std::setprecision(1) << "run: " << config.grpo.learner.steps << " GRPO steps x "
            << config.grpo.learner.groups_per_step << " groups after " << config.sft.steps << " SFT steps; " << h.kills
            << " kills over " << h.lives << " lives (" << h.failed_lives << " failed), " << wall << " s\n"
            << "schedule: " << a.scheduled << " prompts handed out fresh; " << a.scheduled - a.outstanding - a.lost
            << " consumed, " << a.outstanding << " still outstanding at the end, " << a.lost << " lost\n"
            << "duplicated: " << a.duplicated << " prompts trained twice (" << a.trained_twice << " with two consumed groups, "
            << a.retrained << " whose checkpointed group was trained again); " << a.stored_twice
            << " prompts asked again while a live group of theirs was stored; " << a.dropped
            << " groups dropped as stale (their prompts asked again)\n"
            << "checkpoint: GRPO step " << a.checkpoint_step << "/" << config.grpo.learner.steps << ", weight version "
            << a.checkpoint_version << ", optimizer steps " << a.optimizer_steps << ", model "
            << (a.model_loads ? "loads" : "does not load") << "; " << a.short_steps << " steps without exactly "
            << config.grpo.learner.groups_per_step << " consumed groups, " << a.metrics_missing << " without metrics\n";
  if (!a.problems.empty()) std::cout << "audit problems: " << a.problems << "\n";
}

int bench_crash(aha::cli::arguments& args) {
  crash_options options;
  std::string problem;
  auto overrides = args.options("--set");
  if (!parse_options(args, options, problem)) return aha::cli::usage_error("bench crash", problem);
  auto positional = args.positionals();
  if (auto unknown = args.unknown_options(); !unknown.empty()) return aha::cli::usage_error("bench crash", unknown);
  if (positional.size() > 1) return aha::cli::usage_error("bench crash", "at most one CONFIG");
  const auto wall_start = clock_type::now();
  const fs::path work = fs::temp_directory_path() / ("aha-bench-crash-" + std::to_string(::getpid()));
  fs::remove_all(work);
  fs::create_directories(work);
  std::string recipe = positional.empty() ? (work / "crash.toml").string() : positional[0];
  if (positional.empty()) std::ofstream(recipe) << kTinyRun;
  overrides.push_back("run.dir=" + (work / "run").string());
  overrides.push_back("grpo.learner.steps=" + std::to_string(options.steps));
  overrides.push_back("grpo.optimizer.total_steps=" + std::to_string(options.steps));
  auto config = aha::config::load<aha::actors::run_config>(recipe, overrides);
  if (!config) return std::cerr << config.error().message << "\n", 2;
  aha::actors::resolve(*config);  // the cursor's shuffle seed, as the child derives it
  // Every life is `aha train CONFIG --resume`: the first starts the run, the others continue it.
  std::vector<std::string> train_words = {fs::read_symlink("/proc/self/exe").string(), "train", recipe, "--resume"};
  for (const auto& o : overrides) train_words.insert(train_words.end(), {"--set", o});
  lineage history;
  auto lives = run_lives(options, *config, train_words, work, history);
  audit a;
  if (lives.finished) a = audit_run(*config, config->run.dir, history);
  const double wall = seconds_since(wall_start);
  print_audit(a, lives, *config, wall);
  nlohmann::json figures{{"kills", lives.kills}, {"lost", a.lost}, {"duplicated", a.duplicated},
                         {"resumes", lives.lives - 1}, {"wall_seconds", wall}, {"finished", lives.finished},
                         {"failed_lives", lives.failed_lives}, {"kills_at_cap", lives.at_cap}, {"seed", options.seed}, {"steps", options.steps},
                         {"scheduled", a.scheduled}, {"outstanding", a.outstanding},
                         {"consumed_groups", a.consumed_groups}, {"stored_twice", a.stored_twice}, {"dropped", a.dropped},
                         {"trained_twice", a.trained_twice}, {"retrained", a.retrained},
                         {"short_steps", a.short_steps}, {"metrics_missing", a.metrics_missing},
                         {"checkpoint_ok", a.checkpoint_ok}, {"phases", lives.phases}};
  std::cout << figures.dump() << "\n";
  if (options.keep) {
    std::cerr << "aha bench crash: the run and each life's log are in " << work.string() << "\n";
  } else {
    std::error_code ignored;
    fs::remove_all(work, ignored);
  }
  return lives.finished && a.problems.empty() ? 0 : 1;
}

}  // namespace

AHA_COMMAND("bench crash", "SIGKILL a training run at seeded random moments, resume it, audit what survived",
            bench_crash);
