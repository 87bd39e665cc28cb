// `aha bench sandbox [--runs N] [--workers N]`: start-up cost of a trivial Python program run
// bare (posix_spawn, no isolation), under bubblewrap (all namespaces, like aha), under aha (cold:
// a new interpreter per run) and under aha with warm runs (sandbox_config::warm: forked from a
// warm interpreter, fresh namespaces per run), measured in the same process, in interleaved
// rounds; then each pool's throughput. Prints a table and, last, one JSON line: bare_ms,
// bwrap_ms, aha_ms, warm_ms (medians), runs_per_s, warm_runs_per_s and the ratios to bare.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>

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

  std::string file = "/tmp/aha_bench_" + std::to_string(getpid()) + ".py";
  std::ofstream(file) << kProgram;
  aha::protocol::sandbox_request request;
  request.source = kProgram;
  // Warm the page cache for all three before timing.
  spawn_and_wait({"/usr/bin/python3", "-I", "-B", file});
  (*warm_pool)->run(request);  // starts the warm interpreter of the slot that takes it
  bool have_bwrap = access("/usr/bin/bwrap", X_OK) == 0;
  auto medians = interleaved_medians(runs, {
      [&] { return spawn_and_wait({"/usr/bin/python3", "-I", "-B", file}); },
      [&] { return have_bwrap && spawn_and_wait(bwrap_argv(file)); },
      [&] { return (*pool)->run(request).stdout_data == "1\n"; },
      [&] { return (*warm_pool)->run(request).stdout_data == "1\n"; }});
  double bare = medians[0], bwrap = medians[1], aha = medians[2], warm = medians[3];
  double per_second = pool_runs_per_second(**pool, runs * 2);
  double warm_per_second = pool_runs_per_second(**warm_pool, runs * 2);
  const auto& warm_runner = (*warm_pool)->runner();
  std::remove(file.c_str());

  std::cout << "trivial python (print(1)), median of " << runs << " rounds (bare, bwrap, aha, aha warm in turn):\n"
            << "  bare (posix_spawn)  " << bare << " ms\n"
            << "  bubblewrap          " << bwrap << " ms" << (have_bwrap ? "" : " (bwrap not installed)")
            << (have_bwrap ? "  (" + std::to_string(bwrap / bare) + "x bare)" : "") << "\n"
            << "  aha sandbox (cold)  " << aha << " ms  (" << aha / bare << "x bare)\n"
            << "  aha sandbox (warm)  " << warm << " ms  (" << warm / bare << "x bare)\n"
            << "  aha pool throughput " << per_second << " runs/s cold, " << warm_per_second << " runs/s warm, with "
            << (*pool)->workers() << " workers\n"
            << "  warm runs " << warm_runner.warm_runs() << ", handed to cold " << warm_runner.warm_fallbacks()
            << ", interpreters started " << warm_runner.zygotes_started() << "\n";
  std::cout << nlohmann::json{{"bare_ms", bare},
                              {"bwrap_ms", bwrap},
                              {"aha_ms", aha},
                              {"warm_ms", warm},
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
  return bare < 0 || aha < 0 || warm < 0 || per_second < 0 || warm_per_second < 0 ? 1 : 0;
}

}  // namespace

AHA_COMMAND("bench sandbox", "start-up latency bare vs bubblewrap vs aha, and aha's runs/s", bench_sandbox);
