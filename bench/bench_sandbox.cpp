// `aha bench sandbox [--runs N] [--workers N]`: start-up cost of a trivial Python program run
// bare (posix_spawn, no isolation), under bubblewrap (all namespaces, like aha), under aha (cold:
// a new interpreter per run), under aha with warm runs whose holders aha clones itself
// (sandbox_config::spawner "none") and with warm runs as configured by default (holders cloned by
// the sandbox spawner, answered before their teardown), measured in the same process, in
// interleaved rounds; then warm runs back to back (each run's slot starts right after the last
// answer, so it waits for that holder's teardown), the warm runs' phases (executor::warm_phases,
// means), and each pool's throughput. Prints a table and, last, one JSON line: bare_ms,
// bwrap_ms, aha_ms, warm_ms, warm_no_spawner_ms, warm_back_to_back_ms (medians), runs_per_s,
// warm_runs_per_s and the ratios to bare.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "sandbox/pool.hpp"

extern char** environ;

namespace {

using clock_type = std::chrono::steady_clock;
constexpr const char* kProgram = "print(1)\n";

// Runs argv to completion, capturing stdout; true when it printed "1".
bool spawn_and_wait(const std::vector<std::string>& argv) {
  int out[2];
  if (pipe(out) != 0) return false;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  std::string text;
  char buffer[256];
  for (ssize_t n; (n = read(out[0], buffer, sizeof buffer)) > 0;) text.append(buffer, static_cast<std::size_t>(n));
  close(out[0]);
  int status = 0;
  if (rc == 0) waitpid(pid, &status, 0);
  return rc == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 && text == "1\n";
}

// Median wall milliseconds of each way of running, taken round-robin (one run of each per
// round) so that load from other processes on the machine falls on all of them alike.
// A way that fails once gets -1.
std::vector<double> interleaved_medians(int rounds, const std::vector<std::function<bool()>>& ways) {
  std::vector<std::vector<double>> ms(ways.size());
  std::vector<bool> failed(ways.size(), false);
  for (int round = 0; round < rounds; ++round) {
    for (std::size_t w = 0; w < ways.size(); ++w) {
      if (failed[w]) continue;
      auto start = clock_type::now();
      failed[w] = !ways[w]();
      ms[w].push_back(std::chrono::duration<double, std::milli>(clock_type::now() - start).count());
    }
  }
  std::vector<double> medians;
  for (std::size_t w = 0; w < ways.size(); ++w) {
    std::sort(ms[w].begin(), ms[w].end());
    medians.push_back(failed[w] ? -1 : ms[w][ms[w].size() / 2]);
  }
  return medians;
}

std::vector<std::string> bwrap_argv(const std::string& file) {
  return {"/usr/bin/bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--ro-bind", "/usr", "/usr",
          "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
          "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--ro-bind", file, "/tmp/main.py",
          "--clearenv", "/usr/bin/python3", "-I", "-B", "/tmp/main.py"};
}

// Median wall milliseconds of `runs` warm runs one after the other (nothing in between).
double back_to_back_median(aha::sandbox::pool& pool, const aha::protocol::sandbox_request& request, int runs) {
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    auto start = clock_type::now();
    if (pool.run(request).stdout_data != "1\n") return -1;
    ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - start).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

// Means per answered warm run of the phases between two snapshots, in milliseconds.
nlohmann::json phase_means(const aha::sandbox::executor::warm_phases& a, const aha::sandbox::executor::warm_phases& b) {
  const double n = static_cast<double>(std::max<std::uint64_t>(1, b.runs - a.runs));
  auto ms = [&](std::uint64_t x, std::uint64_t y) { return static_cast<double>(y - x) / 1e6 / n; };
  return {{"runs", b.runs - a.runs},
          {"prepare", ms(a.prepare_ns, b.prepare_ns)},
          {"clone", ms(a.clone_ns, b.clone_ns)},
          {"release", ms(a.release_ns, b.release_ns)},
          {"program", ms(a.program_ns, b.program_ns)},
          {"answer", ms(a.answer_ns, b.answer_ns)},
          {"of_which_reap", ms(a.reap_ns, b.reap_ns)},
          {"teardown_wait_at_start", ms(a.teardown_wait_ns, b.teardown_wait_ns)}};
}

std::string phase_line(const nlohmann::json& p) {
  std::ostringstream line;
  line.precision(2);
  line << std::fixed << "prepare " << p["prepare"].get<double>() << ", clone " << p["clone"].get<double>()
       << ", release " << p["release"].get<double>() << ", program " << p["program"].get<double>() << ", answer "
       << p["answer"].get<double>() << " (reap " << p["of_which_reap"].get<double>() << "); teardown wait at start "
       << p["teardown_wait_at_start"].get<double>() << " ms (" << p["runs"].get<std::uint64_t>() << " runs)";
  return line.str();
}

double pool_runs_per_second(aha::sandbox::pool& pool, int runs) {
  aha::protocol::sandbox_request request;
  request.source = kProgram;
  auto start = clock_type::now();
  std::vector<std::future<aha::protocol::sandbox_reply>> replies;
  for (int i = 0; i < runs; ++i) replies.push_back(pool.submit(request));
  for (auto& r : replies) {
    if (r.get().stdout_data != "1\n") return -1;
  }
  return runs / std::chrono::duration<double>(clock_type::now() - start).count();
}

int bench_sandbox(aha::cli::arguments& args) {
  auto runs_text = args.option("--runs"), workers_text = args.option("--workers");
  if (!args.unknown_options().empty()) return aha::cli::usage_error("bench sandbox", args.unknown_options());
  int runs = runs_text ? std::max(3, std::atoi(runs_text->c_str())) : 30;
  aha::sandbox::sandbox_config config;
  if (workers_text) config.workers = static_cast<std::uint32_t>(std::atoi(workers_text->c_str()));
  config.warm = false;  // the cold column: a new interpreter per run
  auto pool = aha::sandbox::pool::create(config);
  if (!pool) return std::cerr << "aha bench sandbox: " << pool.error().message << "\n", 1;
  aha::sandbox::sandbox_config warm_config = config;
  warm_config.warm = true;
  auto warm_pool = aha::sandbox::pool::create(warm_config);
  if (!warm_pool) return std::cerr << "aha bench sandbox: " << warm_pool.error().message << "\n", 1;
  aha::sandbox::sandbox_config own_config = warm_config;
  own_config.spawner = "none";  // holders cloned by aha, reaped before the answer (the path before the spawner)
  auto own_pool = aha::sandbox::pool::create(own_config);
  if (!own_pool) return std::cerr << "aha bench sandbox: " << own_pool.error().message << "\n", 1;

  std::string file = "/tmp/aha_bench_" + std::to_string(getpid()) + ".py";
  std::ofstream(file) << kProgram;
  aha::protocol::sandbox_request request;
  request.source = kProgram;
  // Warm the page cache for all three before timing.
  spawn_and_wait({"/usr/bin/python3", "-I", "-B", file});
  (*warm_pool)->run(request);  // starts the warm interpreter (and spawner) of the slot that takes it
  (*own_pool)->run(request);
  const auto& warm_runner = (*warm_pool)->runner();
  const auto& own_runner = (*own_pool)->runner();
  bool have_bwrap = access("/usr/bin/bwrap", X_OK) == 0;
  const auto warm_phases_0 = warm_runner.warm_phase_totals(), own_phases_0 = own_runner.warm_phase_totals();
  auto medians = interleaved_medians(runs, {
      [&] { return spawn_and_wait({"/usr/bin/python3", "-I", "-B", file}); },
      [&] { return have_bwrap && spawn_and_wait(bwrap_argv(file)); },
      [&] { return (*pool)->run(request).stdout_data == "1\n"; },
      [&] { return (*own_pool)->run(request).stdout_data == "1\n"; },
      [&] { return (*warm_pool)->run(request).stdout_data == "1\n"; }});
  const auto warm_phases_1 = warm_runner.warm_phase_totals(), own_phases_1 = own_runner.warm_phase_totals();
  double bare = medians[0], bwrap = medians[1], aha = medians[2], own = medians[3], warm = medians[4];
  double back_to_back = back_to_back_median(**warm_pool, request, runs);
  const auto warm_phases_2 = warm_runner.warm_phase_totals();
  const auto interleaved_phases = phase_means(warm_phases_0, warm_phases_1);
  const auto own_phases = phase_means(own_phases_0, own_phases_1);
  const auto back_to_back_phases = phase_means(warm_phases_1, warm_phases_2);
  double per_second = pool_runs_per_second(**pool, runs * 2);
  double warm_per_second = pool_runs_per_second(**warm_pool, runs * 2);
  std::remove(file.c_str());

  std::cout << "trivial python (print(1)), median of " << runs << " rounds (bare, bwrap, aha cold, aha warm without the spawner, aha warm in turn):\n"
            << "  bare (posix_spawn)  " << bare << " ms\n"
            << "  bubblewrap          " << bwrap << " ms" << (have_bwrap ? "" : " (bwrap not installed)")
            << (have_bwrap ? "  (" + std::to_string(bwrap / bare) + "x bare)" : "") << "\n"
            << "  aha sandbox (cold)  " << aha << " ms  (" << aha / bare << "x bare)\n"
            << "  aha warm, no spawner " << own << " ms  (" << own / bare << "x bare)\n"
            << "  aha sandbox (warm)  " << warm << " ms  (" << warm / bare << "x bare)\n"
            << "  aha warm back to back " << back_to_back << " ms  (" << back_to_back / bare << "x bare)\n"
            << "  phases, warm:          " << phase_line(interleaved_phases) << "\n"
            << "  phases, back to back:  " << phase_line(back_to_back_phases) << "\n"
            << "  phases, no spawner:    " << phase_line(own_phases) << "\n"
            << "  aha pool throughput " << per_second << " runs/s cold, " << warm_per_second << " runs/s warm, with "
            << (*pool)->workers() << " workers\n"
            << "  warm runs " << warm_runner.warm_runs() << ", handed to cold " << warm_runner.warm_fallbacks()
            << ", interpreters started " << warm_runner.zygotes_started() << ", holders cloned by the spawner "
            << warm_runner.spawner_clones() << " ("
            << (warm_runner.spawner_path().empty() ? std::string("no spawner found") : warm_runner.spawner_path())
            << ")\n";
  std::cout << nlohmann::json{{"bare_ms", bare},
                              {"bwrap_ms", bwrap},
                              {"aha_ms", aha},
                              {"warm_ms", warm},
                              {"warm_no_spawner_ms", own},
                              {"warm_back_to_back_ms", back_to_back},
                              {"warm_phases_ms", interleaved_phases},
                              {"back_to_back_phases_ms", back_to_back_phases},
                              {"no_spawner_phases_ms", own_phases},
                              {"runs_per_s", per_second},
                              {"warm_runs_per_s", warm_per_second},
                              {"aha_over_bare", aha / bare},
                              {"warm_over_bare", warm / bare},
                              {"bwrap_over_bare", bwrap / bare},
                              {"warm_fallbacks", warm_runner.warm_fallbacks()},
                              {"workers", (*pool)->workers()},
                              {"runs", runs}}
                   .dump()
            << "\n";
  return bare < 0 || aha < 0 || warm < 0 || own < 0 || back_to_back < 0 || per_second < 0 || warm_per_second < 0 ? 1 : 0;
}

}  // namespace

AHA_COMMAND("bench sandbox", "start-up latency bare vs bubblewrap vs aha, and aha's runs/s", bench_sandbox);
