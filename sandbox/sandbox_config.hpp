// Settings of the sandbox: the default per-run limits, the uids runs use on the host, the pool's
// size and queue, and where cgroups live. Read from TOML via describe() (core/config.hpp); every
// field has a working default, so `sandbox_config{}` is a valid configuration.
// Not the isolation itself (sandbox/jail.hpp) nor the pool (sandbox/pool.hpp).
#pragma once

#include <cstdint>
#include <string>

#include "core/config.hpp"

namespace aha::sandbox {

// Bounds on one run. A request's non-zero fields override cpu_ms, wall_ms, memory_bytes and
// output_bytes, up to the operator's maxima (sandbox_config::max_*); the rest are set by the
// operator only.
struct run_limits {
  std::uint32_t cpu_ms = 2000;                     // CPU time of all threads and processes, ms
  std::uint32_t wall_ms = 5000;                    // wall clock from spawn to exit, ms
  std::uint64_t memory_bytes = 256ull << 20;       // memory cgroup limit (RLIMIT_AS without cgroups)
  std::uint64_t output_bytes = 1ull << 20;         // cap on stdout and on stderr, each, bytes
  std::uint32_t tasks = 64;                        // processes + threads (pids cgroup)
  std::uint32_t open_files = 64;                   // RLIMIT_NOFILE
  std::uint64_t file_bytes = 16ull << 20;          // RLIMIT_FSIZE: largest file the program may write
  std::uint64_t scratch_bytes = 32ull << 20;       // size of the writable /tmp (tmpfs)
  std::uint32_t scratch_inodes = 1024;             // files + directories in /tmp
  std::uint64_t shm_bytes = 16ull << 20;           // size of the private /dev/shm (tmpfs)
};

template <class V>
void describe(V& v, run_limits& c) {
  v.field("cpu_ms", c.cpu_ms, "CPU-time limit of all threads and children, milliseconds", config::range{1, 3.6e6});
  v.field("wall_ms", c.wall_ms, "wall-clock limit, milliseconds", config::range{1, 3.6e6});
  v.field("memory_bytes", c.memory_bytes, "memory limit, bytes", config::range{1 << 20, 1e12});
  v.field("output_bytes", c.output_bytes, "cap on stdout and on stderr each, bytes", config::range{0, 1 << 30});
  v.field("tasks", c.tasks, "processes and threads at once", config::range{1, 65536});
  v.field("open_files", c.open_files, "open file descriptors per process", config::range{8, 65536});
  v.field("file_bytes", c.file_bytes, "largest file the program may write, bytes", config::range{0, 1e12});
  v.field("scratch_bytes", c.scratch_bytes, "size of the writable /tmp, bytes", config::range{1 << 16, 1e12});
  v.field("scratch_inodes", c.scratch_inodes, "files and directories in /tmp", config::range{16, 1e7});
  v.field("shm_bytes", c.shm_bytes, "size of the private /dev/shm, bytes", config::range{1 << 12, 1e12});
}

struct sandbox_config {
  run_limits limits;                     // defaults for every run
  std::uint32_t workers = 0;             // concurrent runs; 0 = the number of cores
  std::uint32_t queue_capacity = 1024;   // runs waiting for a worker before submit() blocks
  // Where the host uids/gids of runs start. Each executor leases its own aligned block of 65536
  // uids at or above it (sandbox/uid_lease.hpp), so aha processes on one host never share one
  // without any setting; root inside the box maps to the block's first uid, the program of
  // worker slot s to first + 1 + s (so RLIMIT_NPROC is per run even without cgroups). Owns no file.
  std::uint32_t host_id_base = 3000000;
  // The most one run may get, whoever asks: a request (a dataset record's time_limit, a service
  // client) asking for more is clamped to these, in the executor, so every caller is covered
  // (executor::clamped_runs() counts such runs). The defaults above are capped by them as well.
  std::uint32_t max_cpu_ms = 30000;
  std::uint32_t max_wall_ms = 90000;
  std::uint64_t max_memory_bytes = 4ull << 30;
  std::uint64_t max_output_bytes = 64ull << 20;
  // "auto" (v1 controllers, else a v2 subtree that already delegates memory+pids), "none"
  // (rlimits only), or an absolute path to a v2 cgroup directory delegated to aha.
  std::string cgroups = "auto";
  // Python runs start from a warm interpreter per slot (sandbox/warm.hpp): each run still gets
  // fresh namespaces, root, limits and privileges, built as for a cold run, but skips the
  // interpreter's start-up. Other languages, and hosts with cgroup v2, always run cold. A run
  // the warm path cannot answer is run again (with a new interpreter if it died, else cold).
  // Costs one resident interpreter (~20 MB) per slot.
  bool warm = true;
  // Where warm runs clone their namespace holders from (sandbox/spawner.hpp): "" finds the
  // `aha-sandbox-spawner` executable next to aha (then in the build tree), a path names it,
  // "none" clones them from aha itself (slower: aha's page tables are copied per run, and the
  // run waits for its holder's teardown). Without the executable, warm runs clone from aha.
  std::string spawner;
};

template <class V>
void describe(V& v, sandbox_config& c) {
  v.section("limits", c.limits, "default limits of every run");
  v.field("workers", c.workers, "concurrent runs; 0 = number of cores", config::range{0, 4096});
  v.field("queue_capacity", c.queue_capacity, "queued runs before submit blocks", config::range{1, 1e7});
  v.field("host_id_base", c.host_id_base, "first host uid/gid used by runs", config::range{1000, 4e9});
  v.field("max_cpu_ms", c.max_cpu_ms, "most CPU time any run may get, milliseconds", config::range{1, 3.6e6});
  v.field("max_wall_ms", c.max_wall_ms, "most wall time any run may get, milliseconds", config::range{1, 3.6e6});
  v.field("max_memory_bytes", c.max_memory_bytes, "most memory any run may get, bytes", config::range{1 << 20, 1e12});
  v.field("max_output_bytes", c.max_output_bytes, "largest stdout/stderr cap any run may get, bytes",
          config::range{0, 1 << 30});
  v.field("cgroups", c.cgroups, "\"auto\", \"none\", or a delegated cgroup v2 directory");
  v.field("warm", c.warm, "Python runs fork from a warm interpreter per slot (fresh namespaces each run)");
  v.field("spawner", c.spawner, "warm runs' holder spawner: \"\" (next to aha), a path, or \"none\"");
}

}  // namespace aha::sandbox
