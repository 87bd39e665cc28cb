// The parent side of a run: prepare the plan, clone into fresh namespaces, map ids, attach the
// cgroup, release the child, watch wall/CPU/output limits, reap, and turn it all into a verdict.
// Warm runs (run_warm) clone a holder of the namespaces instead and let the slot's warm
// interpreter fork the program into them (sandbox/warm.hpp); the watch and the verdict are shared.
#include "sandbox/executor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include <nlohmann/json.hpp>

#include "sandbox/language.hpp"
#include "sandbox/root_layout.hpp"

namespace aha::sandbox {
namespace {

using clock = std::chrono::steady_clock;
using protocol::run_status;

constexpr int kCloneFlags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC |
                            CLONE_NEWUTS | CLONE_NEWCGROUP;
constexpr auto kCpuPoll = std::chrono::milliseconds(10);
// The slot this thread adopted (executor::adopt_thread), or -1; and whether it is a resident
// member of that slot's cgroup.
thread_local std::int64_t t_netns_slot = -1;
thread_local bool t_resident = false;
// Cgroup names are "<pid>-<n>", n counted per process (two executors of one process must never
// share a group).
std::atomic<std::uint64_t> g_next_group{0};

// Owns a file descriptor.
struct fd_guard {
  int fd = -1;
  fd_guard() = default;
  explicit fd_guard(int f) : fd(f) {}
  fd_guard(fd_guard&& o) noexcept : fd(std::exchange(o.fd, -1)) {}
  fd_guard& operator=(fd_guard&& o) noexcept {
    if (this != &o) reset(), fd = std::exchange(o.fd, -1);
    return *this;
  }
  ~fd_guard() { reset(); }
  void reset() {
    if (fd >= 0) close(fd);
    fd = -1;
  }
};

struct pipe_pair {
  fd_guard read, write;
};

result<pipe_pair> make_pipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return make_error(errc::io_error, std::string("pipe2: ") + std::strerror(errno));
  return pipe_pair{fd_guard(fds[0]), fd_guard(fds[1])};
}

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

// stdin as a sealed-size memory file: the program reads it at its own pace, no writer to babysit.
result<fd_guard> make_stdin(const std::string& data) {
  fd_guard fd(memfd_create("aha-stdin", MFD_CLOEXEC));
  if (fd.fd < 0) return make_error(errc::io_error, errno_text("memfd_create"));
  for (std::size_t done = 0; done < data.size();) {
    ssize_t n = write(fd.fd, data.data() + done, data.size() - done);
    if (n <= 0) return make_error(errc::io_error, errno_text("write stdin"));
    done += static_cast<std::size_t>(n);
  }
  lseek(fd.fd, 0, SEEK_SET);
  return fd;
}

// The streams the parent reads, each capped.
struct captured_stream {
  fd_guard fd;
  std::string data;
  bool truncated = false;
  bool open = true;
};

// Reads what is available now; false once the stream is over its cap.
bool pump(captured_stream& s, std::uint64_t cap) {
  char buffer[65536];
  while (s.open) {
    ssize_t n = read(s.fd.fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return true;  // EAGAIN: nothing more right now
    if (n == 0) {
      s.open = false;
      return true;
    }
    std::size_t room = cap > s.data.size() ? static_cast<std::size_t>(cap - s.data.size()) : 0;
    s.data.append(buffer, std::min(room, static_cast<std::size_t>(n)));
    if (static_cast<std::size_t>(n) > room) {
      s.truncated = true;
      return false;
    }
  }
  return true;
}

enum class kill_reason { none, wall, cpu, output, stopped };

struct running {
  pid_t pid = -1;
  fd_guard pidfd;
  captured_stream out, err;
  fd_guard report;
  clock::time_point start;
  kill_reason killed = kill_reason::none;
  const run_cgroup* group = nullptr;
  std::int64_t thread_cpu_base = -1;  // set when this thread is a member of the group
  int done_fd = -1;                   // readable once the program is over: the pidfd (cold), the status pipe (warm)
  const zygote* warm = nullptr;       // warm: the slot's interpreter, a member of the group
  std::uint64_t warm_cpu_base = 0;
};

std::int64_t thread_cpu_ns() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return std::int64_t{t.tv_sec} * 1000000000 + t.tv_nsec;
}

// CPU time of the run's processes: the group's, less this thread's when it is a member too.
std::uint64_t program_cpu_ns(const running& run) {
  std::uint64_t total = run.group->cpu_ns();
  std::uint64_t own = run.thread_cpu_base < 0 ? 0 : static_cast<std::uint64_t>(thread_cpu_ns() - run.thread_cpu_base);
  if (run.warm) own += run.warm->cpu_ns() - run.warm_cpu_base;  // the interpreter's fork, not the program
  return total > own ? total - own : 0;
}

std::vector<std::pair<int, rlim_t>> make_rlimits(const run_limits& l, bool memory_cgroup) {
  std::vector<std::pair<int, rlim_t>> r = {
      {RLIMIT_CPU, l.cpu_ms / 1000 + 2},  // backstop; the cgroup watch is precise
      {RLIMIT_FSIZE, l.file_bytes},       {RLIMIT_NOFILE, l.open_files}, {RLIMIT_CORE, 0},
      {RLIMIT_NPROC, l.tasks},            {RLIMIT_STACK, 16ull << 20},   {RLIMIT_MSGQUEUE, 0},
      {RLIMIT_MEMLOCK, 0}};
  // Without a memory cgroup, bound the address space instead (over-counts: see README).
  if (!memory_cgroup) r.push_back({RLIMIT_AS, l.memory_bytes});
  return r;
}

status write_id_maps(pid_t pid, const uid_lease& lease, std::uint32_t slot) {
  std::string map = "0 " + std::to_string(lease.root_uid()) + " 1\n1000 " + std::to_string(lease.slot_uid(slot)) + " 1\n";
  for (const char* file : {"uid_map", "gid_map"}) {
    std::string path = "/proc/" + std::to_string(pid) + "/" + file;
    int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
    bool written = fd >= 0 && write(fd, map.data(), map.size()) == static_cast<ssize_t>(map.size());
    int saved = errno;
    if (fd >= 0) close(fd);
    if (!written) return make_error(errc::io_error, "write " + path + ": " + std::strerror(saved));
  }
  return ok_status();
}

protocol::sandbox_reply sandbox_error(const protocol::sandbox_request& request, std::string message) {
  protocol::sandbox_reply reply;
  reply.request_id = request.request_id;
  reply.status = run_status::sandbox_error;
  reply.error = std::move(message);
  return reply;
}

}  // namespace

run_limits effective_limits(const sandbox_config& config, const protocol::sandbox_request& request, bool* clamped) {
  run_limits limits = config.limits;
  if (request.cpu_ms) limits.cpu_ms = request.cpu_ms;
  if (request.wall_ms) limits.wall_ms = request.wall_ms;
  if (request.memory_bytes) limits.memory_bytes = request.memory_bytes;
  if (request.output_bytes) limits.output_bytes = request.output_bytes;
  if (clamped) {
    *clamped = request.cpu_ms > config.max_cpu_ms || request.wall_ms > config.max_wall_ms ||
               request.memory_bytes > config.max_memory_bytes || request.output_bytes > config.max_output_bytes;
  }
  limits.cpu_ms = std::min(limits.cpu_ms, config.max_cpu_ms);
  limits.wall_ms = std::min(limits.wall_ms, config.max_wall_ms);
  limits.memory_bytes = std::min(limits.memory_bytes, config.max_memory_bytes);
  limits.output_bytes = std::min(limits.output_bytes, config.max_output_bytes);
  return limits;
}

executor::executor(sandbox_config config, seccomp_program filter, cgroup_layout cgroups, uid_lease lease)
    : config_(std::move(config)), lease_(std::move(lease)), filter_(std::move(filter)), cgroups_(std::move(cgroups)) {
  filter_view_ = filter_.view();
  system_steps_ = system_steps();
  if (config_.warm) spawner_path_ = find_spawner(config_.spawner);
  if (cgroups_.kind == cgroup_kind::v1) {  // aha's own groups: the parents of the aha_sandbox directories
    for (const std::string* dir : {&cgroups_.memory, &cgroups_.pids, &cgroups_.cpuacct}) {
      std::string procs = dir->substr(0, dir->rfind('/')) + "/cgroup.procs";
      if (std::find(home_cgroups_.begin(), home_cgroups_.end(), procs) == home_cgroups_.end()) {
        home_cgroups_.push_back(procs);
      }
    }
  }
}

result<std::shared_ptr<executor>> executor::create(const sandbox_config& config) {
  if (geteuid() != 0) {
    return make_error(errc::unavailable, "sandbox: needs root (to map uids and create namespaces and cgroups)");
  }
  auto filter = build_seccomp_program();
  if (!filter) return filter.error();
  auto lease = uid_lease::acquire(config.host_id_base);
  if (!lease) return lease.error();
  cgroup_layout cgroups = cgroup_layout::detect(config.cgroups);
  sweep_stale_cgroups(cgroups);
  return std::shared_ptr<executor>(new executor(config, std::move(*filter), std::move(cgroups), std::move(*lease)));
}

namespace {

// clone(2) like fork, with the namespaces. Signals stay blocked across it so that no handler of
// the parent runs in the child; the child clears handlers and mask before exec.
pid_t clone_child(const jail_plan& plan, bool new_network) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int flags = new_network ? kCloneFlags : kCloneFlags & ~CLONE_NEWNET;
  long pid = syscall(SYS_clone, flags | SIGCHLD, nullptr, nullptr, nullptr, nullptr);
  if (pid == 0) jail_main(plan);
  int saved = errno;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = saved;
  return static_cast<pid_t>(pid);
}

// SIGKILL through the pidfd when there is one: a warm run's holder is the spawner's child, not
// ours, so its pid could be reused once it is gone; a pidfd always means this process.
void kill_process(const running& run) {
  if (run.pidfd.fd >= 0) syscall(SYS_pidfd_send_signal, run.pidfd.fd, SIGKILL, nullptr, 0);
  else kill(run.pid, SIGKILL);
}

void kill_run(running& run, kill_reason why) {
  if (run.killed == kill_reason::none) run.killed = why;
  kill_process(run);  // the pid namespace's init: the kernel kills every process in it
}

// Whether a warm run left files in its tmpfs mounts (the scratch /tmp beyond the source the
// holder wrote, or /dev/shm), seen through the live holder's root. Such pages are charged to the
// slot's group until the holder's mount namespace is gone; when statfs fails, assume they are.
bool left_files(pid_t holder, std::size_t source_bytes) {
  const std::string root = "/proc/" + std::to_string(holder) + "/root";
  struct statfs tmp {}, shm {};
  if (statfs((root + "/tmp").c_str(), &tmp) != 0 || statfs((root + "/dev/shm").c_str(), &shm) != 0) return true;
  const std::uint64_t block = static_cast<std::uint64_t>(tmp.f_bsize);
  const std::uint64_t source_blocks = (source_bytes + block - 1) / block;
  // Inodes in use: the mount's root directory, and in /tmp the source.
  return tmp.f_blocks - tmp.f_bfree > source_blocks || tmp.f_files - tmp.f_ffree > 2 ||
         shm.f_blocks != shm.f_bfree || shm.f_files - shm.f_ffree > 1;
}

// Whether the process of a pidfd has exited (its pidfd is readable then).
bool exited(int pidfd) {
  pollfd p{pidfd, POLLIN, 0};
  return pidfd >= 0 && poll(&p, 1, 0) == 1;
}

bool stop_applies(const run_stop& stop) {
  return (stop.cancelled && stop.cancelled->load()) || (stop.kill_at != clock::time_point{} && clock::now() >= stop.kill_at);
}

// Waits for the program to exit while enforcing wall time, CPU time (cgroup) and output caps, and
// the caller's stop (deadline or cancel flag).
void supervise(running& run, const run_limits& limits, const run_stop& stop) {
  const run_cgroup* group = run.group;
  auto deadline = run.start + std::chrono::milliseconds(limits.wall_ms);
  const bool stop_first = stop.kill_at != clock::time_point{} && stop.kill_at < deadline;
  if (stop_first) deadline = stop.kill_at;
  const std::uint64_t cpu_limit_ns = std::uint64_t{limits.cpu_ms} * 1000000;
  while (true) {
    auto now = clock::now();
    if (now >= deadline) return kill_run(run, stop_first ? kill_reason::stopped : kill_reason::wall);
    if (stop.cancelled && stop.cancelled->load()) return kill_run(run, kill_reason::stopped);
    if (group && program_cpu_ns(run) > cpu_limit_ns) return kill_run(run, kill_reason::cpu);
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) + std::chrono::milliseconds(1);
    if (group || stop.cancelled) wait = std::min<std::chrono::milliseconds>(wait, kCpuPoll);
    pollfd fds[3] = {{run.done_fd, POLLIN, 0}, {run.out.open ? run.out.fd.fd : -1, POLLIN, 0},
                     {run.err.open ? run.err.fd.fd : -1, POLLIN, 0}};
    if (poll(fds, 3, static_cast<int>(wait.count())) < 0 && errno != EINTR) return kill_run(run, kill_reason::wall);
    if (!pump(run.out, limits.output_bytes) || !pump(run.err, limits.output_bytes)) {
      return kill_run(run, kill_reason::output);
    }
    if (fds[0].revents) return;
  }
}

run_status decide(const running& run, int wait_status, const run_cgroup* group, const run_limits& limits,
                  std::uint32_t cpu_ms) {
  if (run.killed == kill_reason::output || run.out.truncated || run.err.truncated) return run_status::output_limit;
  if (run.killed == kill_reason::wall || run.killed == kill_reason::cpu) return run_status::time_limit;
  if (group && group->oom_killed()) return run_status::memory_limit;
  if (WIFSIGNALED(wait_status)) {
    int sig = WTERMSIG(wait_status);
    if (sig == SIGXCPU || (sig == SIGKILL && cpu_ms >= limits.cpu_ms)) return run_status::time_limit;
    return run_status::runtime_error;
  }
  if (WEXITSTATUS(wait_status) == 0) return run_status::ok;
  // An allocation refused by the memory limit surfaces as Python's MemoryError.
  if (run.err.data.find("MemoryError") != std::string::npos) return run_status::memory_limit;
  return run_status::runtime_error;
}

// A setup failure the child reported before exec, if any.
std::string child_failure(const running& run) {
  jail_failure failure;
  if (read(run.report.fd, &failure, sizeof failure) != sizeof failure) return {};
  const char* stage = failure.stage >= 0 && failure.stage < kJailStageCount ? kJailStages[failure.stage] : "?";
  return std::string("sandbox setup failed at '") + stage + "': " + std::strerror(failure.error);
}

void fill_reply(protocol::sandbox_reply& reply, running& run, int wait_status, const rusage& usage,
                const run_cgroup* group, const run_limits& limits) {
  auto tv_ms = [](const timeval& t) { return std::uint64_t(t.tv_sec) * 1000 + std::uint64_t(t.tv_usec) / 1000; };
  reply.wall_ms = static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - run.start).count());
  reply.cpu_ms = static_cast<std::uint32_t>(group ? program_cpu_ns(run) / 1000000
                                                  : tv_ms(usage.ru_utime) + tv_ms(usage.ru_stime));
  reply.peak_memory_bytes = group ? group->peak_memory_bytes() : std::uint64_t(usage.ru_maxrss) * 1024;
  reply.exit_code = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
  reply.signal = WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : 0;
  reply.status = decide(run, wait_status, group, limits, reply.cpu_ms);
  reply.stdout_data = std::move(run.out.data);
  reply.stderr_data = std::move(run.err.data);
  reply.stdout_truncated = run.out.truncated;
  reply.stderr_truncated = run.err.truncated;
}

}  // namespace

protocol::sandbox_reply executor::run(const protocol::sandbox_request& request, std::uint32_t slot,
                                      const run_stop& stop) const {
  // 1. Resolve the language and limits; create the cgroup.
  const auto entered = clock::now();
  if (stop_applies(stop)) return sandbox_error(request, "cancelled before the run started");
  if (slot >= uid_lease::kBlockSize - 1) return sandbox_error(request, "slot " + std::to_string(slot) + " out of range");
  const language* lang = find_language(request.language);
  if (!lang) return sandbox_error(request, "unknown language '" + request.language + "'; known: " + language_names());
  bool clamped = false;
  const run_limits limits = effective_limits(config_, request, &clamped);
  if (clamped) ++clamped_runs_;
  // The previous run's holder of this slot may still be tearing its namespaces down (a warm run
  // answers before that): its tmpfs pages are charged to the slot's group until then.
  await_teardown(slot);
  std::unique_ptr<run_cgroup> group;
  if (cgroups_.kind != cgroup_kind::none) {
    auto taken = take_cgroup(slot, limits);
    if (!taken) return sandbox_error(request, taken.error().message);
    group = std::move(*taken);
  }
  protocol::sandbox_reply reply;
  // Warm: a run the warm path did not answer is not lost. A process of aha's side died under it
  // (its interpreter killed or OOM-picked, its spawner or holder killed): once more warm, with new
  // ones; any other warm failure: run it cold. The program's output of a failed attempt went to
  // no one, and its processes are gone.
  for (int attempt = 0; config_.warm && lang->name == "python" && cgroups_.kind != cgroup_kind::v2; ++attempt) {
    bool again = false;
    if (auto warm = run_warm(request, slot, stop, limits, *lang, group.get(), entered, again)) {
      ++warm_runs_;
      if (group) return_cgroup(slot, std::move(group));
      return std::move(*warm);
    }
    await_teardown(slot);
    if (group && !group->reuse(limits)) group.reset();
    if (!group && cgroups_.kind != cgroup_kind::none) {
      auto taken = take_cgroup(slot, limits);
      if (!taken) return sandbox_error(request, taken.error().message);
      group = std::move(*taken);
    }
    if (!again || attempt == 1) {
      ++warm_fallbacks_;
      break;
    }
    ++warm_retries_;
  }
  reply = run_cold(request, slot, stop, limits, *lang, group.get());
  if (group) return_cgroup(slot, std::move(group));
  return reply;
}

protocol::sandbox_reply executor::run_cold(const protocol::sandbox_request& request, std::uint32_t slot,
                                           const run_stop& stop, const run_limits& limits, const language& lang,
                                           run_cgroup* group) const {
  // 2. Pipes and the plan the child follows.
  auto out = make_pipe(), err = make_pipe(), sync = make_pipe(), report = make_pipe();
  auto input = make_stdin(request.stdin_data);
  if (!out || !err || !sync || !report || !input) return sandbox_error(request, "could not create pipes");
  jail_plan plan;
  plan.new_root = kNewRoot;
  plan.steps = system_steps_;
  add_run_steps(plan.steps, limits, lang, request.source);
  plan.rlimits = make_rlimits(limits, group != nullptr);
  plan.compile_args = lang.compile_argv;
  plan.run_args = lang.run_argv;
  plan.run_args.insert(plan.run_args.end(), request.args.begin(), request.args.end());
  plan.environment = {"PATH=/usr/bin:/bin", "HOME=/tmp", "TMPDIR=/tmp", "LANG=C.UTF-8"};
  plan.prepare_pointers();
  plan.filter = &filter_view_;
  plan.stdin_fd = input->fd, plan.stdout_fd = out->write.fd, plan.stderr_fd = err->write.fd;
  plan.sync_read_fd = sync->read.fd, plan.sync_write_fd = sync->write.fd, plan.report_fd = report->write.fd;
  // 3. Clone, then map ids and attach the cgroup before releasing the child.
  running run;
  run.group = group;
  // A resident thread's children are born in the group: no migration (see make_resident).
  const bool born_inside = group && group->resident() && t_resident && t_netns_slot == std::int64_t{slot};
  if (born_inside) run.thread_cpu_base = thread_cpu_ns();
  run.start = clock::now();
  run.pid = clone_child(plan, t_netns_slot != static_cast<std::int64_t>(slot));
  if (run.pid < 0) return sandbox_error(request, errno_text("clone"));
  out->write.reset(), err->write.reset(), report->write.reset(), sync->read.reset(), input->reset();
  run.out.fd = std::move(out->read), run.err.fd = std::move(err->read), run.report = std::move(report->read);
  for (int fd : {run.out.fd.fd, run.err.fd.fd, run.report.fd}) fcntl(fd, F_SETFL, O_NONBLOCK);
  run.pidfd = fd_guard(static_cast<int>(syscall(SYS_pidfd_open, run.pid, 0)));
  run.done_fd = run.pidfd.fd;
  status released = write_id_maps(run.pid, lease_, slot);
  if (released && group && !born_inside) released = group->attach(run.pid);
  if (released && (run.pidfd.fd < 0 || write(sync->write.fd, "g", 1) != 1)) {
    released = make_error(errc::io_error, errno_text("release the child"));
  }
  // 4. Watch the run, reap it, and judge.
  if (released) supervise(run, limits, stop);
  else kill(run.pid, SIGKILL);
  int wait_status = 0;
  rusage usage{};
  while (wait4(run.pid, &wait_status, 0, &usage) < 0 && errno == EINTR) {
  }
  pump(run.out, limits.output_bytes), pump(run.err, limits.output_bytes);
  protocol::sandbox_reply reply;
  reply.request_id = request.request_id;
  fill_reply(reply, run, wait_status, usage, group, limits);
  std::string failure = released ? child_failure(run) : released.error().message;
  if (!failure.empty()) reply.status = run_status::sandbox_error, reply.error = failure;
  if (run.killed == kill_reason::stopped) {
    reply.status = run_status::sandbox_error;
    reply.error = stop.cancelled && stop.cancelled->load() ? "cancelled by the caller"
                                                           : "cancelled: the caller's deadline passed";
  }
  return reply;
}

namespace {

// The warm helper's records on the status pipe, read to its end (the helper exits right after
// writing): "S" + the program's wait status and usage, and/or "E" + why a warm setup step failed.
// Bounded by `guard`: once the program is gone (a limit kills its namespace) the record follows
// at once, so the guard only matters when the helper itself is stuck.
std::string read_status_records(int fd, std::chrono::milliseconds guard) {
  std::string records;
  const auto until = clock::now() + guard;
  char buffer[4096];
  while (true) {
    ssize_t n = read(fd, buffer, sizeof buffer);
    if (n > 0) {
      records.append(buffer, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) return records;
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return records;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - clock::now());
    if (left.count() <= 0) return records;
    pollfd p{fd, POLLIN, 0};
    poll(&p, 1, static_cast<int>(left.count()));
  }
}

struct warm_status {
  std::int32_t wait_status = 0;
  std::int64_t utime_us = 0, stime_us = 0, maxrss_kb = 0;
};

// The "S" record, when the records hold one and no "E" (a failed warm step: run again cold).
std::optional<warm_status> finished(const std::string& records) {
  constexpr std::size_t kRecord = 1 + 4 + 3 * 8;  // "<iqqq" in warm_zygote.py
  if (records.size() != kRecord || records[0] != 'S') return std::nullopt;
  warm_status s;
  std::memcpy(&s.wait_status, records.data() + 1, 4);
  std::memcpy(&s.utime_us, records.data() + 5, 8);
  std::memcpy(&s.stime_us, records.data() + 13, 8);
  std::memcpy(&s.maxrss_kb, records.data() + 21, 8);
  return s;
}

// What the warm helper reads before it enters the run (so that the zygote never sees it).
std::string warm_spec(const std::vector<std::pair<int, rlim_t>>& rlimits, const language& lang,
                      const protocol::sandbox_request& request) {
  nlohmann::json limits = nlohmann::json::array();
  for (const auto& [resource, value] : rlimits) limits.push_back({resource, value});
  // run_argv is {"/usr/bin/python3", "-I", "-B", "/tmp/main.py"}: the program's own argv follows the flags.
  std::vector<std::string> argv(lang.run_argv.begin() + 3, lang.run_argv.end());
  argv.insert(argv.end(), request.args.begin(), request.args.end());
  return nlohmann::json{{"rlimits", limits}, {"uid", 1000}, {"gid", 1000}, {"workdir", "/tmp"}, {"argv", argv}}
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

pid_t executor::warm_zygote(std::uint32_t slot) const {
  std::lock_guard<std::mutex> lock(slot_mutex_);
  auto found = zygotes_.find(slot);
  return found == zygotes_.end() ? 0 : found->second->pid();
}

// The slot's interpreter, alive and a member of `group` (started or moved in as needed); null
// when none can be had (the run goes cold).
std::unique_ptr<zygote> executor::take_zygote(std::uint32_t slot, run_cgroup* group) const {
  std::unique_ptr<zygote> z;
  {
    std::lock_guard<std::mutex> lock(slot_mutex_);
    auto found = zygotes_.find(slot);
    if (found != zygotes_.end()) z = std::move(found->second), zygotes_.erase(found);
  }
  if (z && !z->alive()) z.reset();  // killed or crashed: a new one below
  if (!z) {
    auto started = zygote::start(filter_view_, home_cgroups_);
    if (!started) return nullptr;
    z = std::move(*started);
    ++zygotes_started_;
  }
  if (group && group->zygote() != z->pid() && !group->host_zygote(z->pid())) return nullptr;
  return z;
}

std::optional<protocol::sandbox_reply> executor::run_warm(const protocol::sandbox_request& request,
                                                          std::uint32_t slot, const run_stop& stop,
                                                          const run_limits& limits, const language& lang,
                                                          run_cgroup* group, clock::time_point entered,
                                                          bool& again) const {
  std::unique_ptr<zygote> z = take_zygote(slot, group);
  if (!z) return std::nullopt;
  // 1. The holder's plan: the cold run's namespaces and root, then hold them (jail_plan::hold).
  auto out = make_pipe(), err = make_pipe(), sync = make_pipe(), report = make_pipe(), ready = make_pipe(),
       done = make_pipe();
  auto input = make_stdin(request.stdin_data);
  auto rlimits = make_rlimits(limits, group != nullptr);
  auto spec = make_stdin(warm_spec(rlimits, lang, request));
  if (!out || !err || !sync || !report || !ready || !done || !input || !spec) return std::nullopt;
  jail_plan plan;
  plan.new_root = kNewRoot;
  plan.steps = system_steps_;
  add_run_steps(plan.steps, limits, lang, request.source);
  plan.hold = true;
  plan.prepare_pointers();
  plan.sync_read_fd = sync->read.fd, plan.sync_write_fd = sync->write.fd, plan.report_fd = report->write.fd;
  plan.ready_fd = ready->write.fd;
  // 2. Clone the holder: by the slot's spawner (a small address space: a cheap clone; the holder
  //    is its child, in aha's own cgroups); else by aha itself (born in the group when this
  //    thread is resident; else left outside it: the program's process, forked by the member
  //    interpreter, is what the group must hold).
  running run;
  run.group = group;
  const bool resident_here = group && group->resident() && t_resident && t_netns_slot == std::int64_t{slot};
  if (resident_here) run.thread_cpu_base = thread_cpu_ns();
  if (group) run.warm = z.get(), run.warm_cpu_base = z->cpu_ns();
  const auto clone_start = clock::now();
  std::unique_ptr<spawner> cloner = take_spawner(slot);
  const bool by_spawner = cloner != nullptr;
  if (by_spawner) {
    run.start = clock::now();
    auto held = cloner->clone_holder(plan, sync->read.fd, report->write.fd, ready->write.fd);
    if (!held) {
      // Dead, stuck or failing: it is killed, and the run tried again warm with a new one. Never
      // with these pipes: a holder it may have cloned before dying could still read them.
      cloner.reset();
      again = true;
      return_zygote(slot, std::move(z));
      return std::nullopt;
    }
    run.pid = held->pid, run.pidfd = fd_guard(held->pidfd);
    ++spawner_clones_;
  } else {
    run.start = clock::now();
    run.pid = clone_child(plan, t_netns_slot != static_cast<std::int64_t>(slot));
    if (run.pid < 0) return std::nullopt;
    run.pidfd = fd_guard(static_cast<int>(syscall(SYS_pidfd_open, run.pid, 0)));
  }
  report->write.reset(), ready->write.reset(), sync->read.reset();
  const auto cloned = clock::now();
  // 3. Hand the run to the interpreter, map the holder's ids and release it.
  const int fds[7] = {run.pidfd.fd, ready->read.fd, input->fd, out->write.fd, err->write.fd, done->write.fd, spec->fd};
  const bool handed = run.pidfd.fd >= 0 && z->fork_run(fds);
  ready->read.reset(), input->reset(), out->write.reset(), err->write.reset(), done->write.reset(), spec->reset();
  run.out.fd = std::move(out->read), run.err.fd = std::move(err->read), run.report = std::move(report->read);
  fd_guard status_pipe = std::move(done->read);
  for (int fd : {run.out.fd.fd, run.err.fd.fd, status_pipe.fd}) fcntl(fd, F_SETFL, O_NONBLOCK);
  run.done_fd = status_pipe.fd;
  const bool released = handed && write_id_maps(run.pid, lease_, slot).ok() && write(sync->write.fd, "g", 1) == 1;
  const auto release_done = clock::now();
  // 4. Watch the run until the helper reports the program's end.
  if (released) supervise(run, limits, stop);
  std::string records = released ? read_status_records(status_pipe.fd, std::chrono::seconds(5)) : std::string();
  const auto reported = clock::now();
  // A holder that is gone although aha never killed it died under the run (its spawner died, and
  // with it the holder by PDEATHSIG): the helper then killed the program, so the record says
  // nothing about it. Checked before aha's own kill below.
  const bool holder_lost = released && run.killed == kill_reason::none && exited(run.pidfd.fd);
  // 5. End the namespaces. The record was read to its end, so the program's pid namespace is gone
  //    (the helper reaped its init) and the helper has closed its files; the group empty (below)
  //    means the helper has exited too. What is left is the holder, which is trusted and runs
  //    nothing: a holder of the spawner is only signalled, and the kernel tears its namespaces
  //    down while the answer goes out (README "Warm runs": why the next run shares nothing with
  //    it). One cloned by aha must be reaped here.
  // Only a live holder that aha has not signalled may be looked at through /proc/<pid> (its pid is
  // not reused while it lives); any other is awaited by the slot's next run (at once, usually:
  // an ended holder has already unmounted everything).
  const bool leftovers = by_spawner && group &&
                         (!released || run.killed != kill_reason::none || holder_lost ||
                          left_files(run.pid, request.source.size()));
  kill_process(run);
  std::uint64_t reap_ns = 0;
  if (leftovers) {
    defer_teardown(slot, run.pidfd.fd);  // the slot's next run waits for it (await_teardown)
    run.pidfd.fd = -1;
  } else if (!by_spawner) {
    const auto reap_start = clock::now();
    while (waitpid(run.pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    reap_ns = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - reap_start).count());
  }
  // Like a cold run, answer only once every process of the run is gone.
  if (group) group->wait_empty(std::chrono::seconds(1));
  pump(run.out, limits.output_bytes), pump(run.err, limits.output_bytes);
  if (cloner && cloner->alive()) return_spawner(slot, std::move(cloner));
  protocol::sandbox_reply reply;
  reply.request_id = request.request_id;
  if (run.killed == kill_reason::stopped) {  // as a cold run answers it
    reply.status = run_status::sandbox_error;
    reply.error = stop.cancelled && stop.cancelled->load() ? "cancelled by the caller"
                                                           : "cancelled: the caller's deadline passed";
    return_zygote(slot, std::move(z));
    return reply;
  }
  auto status = finished(records);
  if (!status || holder_lost) {
    // No verdict from the warm path: its interpreter died (before or during the run: the status
    // pipe ends when it and the run's helper are gone), its holder died, or a warm step failed.
    // A dead interpreter or holder: run it again warm; else cold. A live interpreter is kept.
    again = holder_lost || !z->alive();
    if (z->alive()) return_zygote(slot, std::move(z));
    return std::nullopt;
  }
  rusage usage{};
  usage.ru_utime = {static_cast<time_t>(status->utime_us / 1000000), static_cast<suseconds_t>(status->utime_us % 1000000)};
  usage.ru_stime = {static_cast<time_t>(status->stime_us / 1000000), static_cast<suseconds_t>(status->stime_us % 1000000)};
  usage.ru_maxrss = status->maxrss_kb;
  fill_reply(reply, run, status->wait_status, usage, group, limits);
  return_zygote(slot, std::move(z));
  const auto answered = clock::now();
  auto ns = [](clock::time_point a, clock::time_point b) {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
  };
  std::lock_guard<std::mutex> lock(phases_mutex_);
  ++phases_.runs;
  phases_.prepare_ns += ns(entered, clone_start), phases_.clone_ns += ns(clone_start, cloned);
  phases_.release_ns += ns(cloned, release_done), phases_.program_ns += ns(release_done, reported);
  phases_.answer_ns += ns(reported, answered), phases_.reap_ns += reap_ns;
  return reply;
}

void executor::defer_teardown(std::uint32_t slot, int pidfd) const {
  std::lock_guard<std::mutex> lock(slot_mutex_);
  {
    std::lock_guard<std::mutex> count(phases_mutex_);
    ++phases_.teardowns_deferred;
  }
  auto [pending, fresh] = teardowns_.try_emplace(slot, pidfd);
  if (!fresh) {  // a concurrent run of the slot's left one: the later holder is awaited
    close(pending->second);
    pending->second = pidfd;
  }
}

// Waits (up to 2 s) until the slot's last holder has exited: by then the kernel has unmounted
// its tmpfs mounts (exit_task_namespaces runs before the exit is signalled on the pidfd), so the
// group's memory no longer holds the previous run's files when this run's counters start.
void executor::await_teardown(std::uint32_t slot) const {
  int pidfd = -1;
  {
    std::lock_guard<std::mutex> lock(slot_mutex_);
    auto found = teardowns_.find(slot);
    if (found == teardowns_.end()) return;
    pidfd = found->second;
    teardowns_.erase(found);
  }
  const auto start = clock::now();
  pollfd p{pidfd, POLLIN, 0};
  while (poll(&p, 1, 2000) < 0 && errno == EINTR) {
  }
  close(pidfd);
  const auto waited = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - start).count());
  std::lock_guard<std::mutex> lock(phases_mutex_);
  phases_.teardown_wait_ns += waited;
}

executor::warm_phases executor::warm_phase_totals() const {
  std::lock_guard<std::mutex> lock(phases_mutex_);
  return phases_;
}

pid_t executor::warm_spawner(std::uint32_t slot) const {
  std::lock_guard<std::mutex> lock(slot_mutex_);
  auto found = spawners_.find(slot);
  return found == spawners_.end() ? 0 : found->second->pid();
}

// The slot's spawner, alive (started when needed, in the calling thread's network namespace);
// null when there is no spawner executable, or one would not start (then never again: warm runs
// clone from aha rather than pay a failed start each).
std::unique_ptr<spawner> executor::take_spawner(std::uint32_t slot) const {
  if (spawner_path_.empty() || spawner_broken_.load()) return nullptr;
  std::unique_ptr<spawner> s;
  {
    std::lock_guard<std::mutex> lock(slot_mutex_);
    auto found = spawners_.find(slot);
    if (found != spawners_.end()) s = std::move(found->second), spawners_.erase(found);
  }
  if (s && !s->alive()) s.reset();
  if (!s) {
    auto started = spawner::start(spawner_path_, home_cgroups_, t_netns_slot == std::int64_t{slot});
    if (!started) {
      spawner_broken_ = true;
      return nullptr;
    }
    s = std::move(*started);
    ++spawners_started_;
  }
  return s;
}

void executor::return_spawner(std::uint32_t slot, std::unique_ptr<spawner> s) const {
  std::lock_guard<std::mutex> lock(slot_mutex_);
  auto& kept = spawners_[slot];
  if (!kept) kept = std::move(s);  // else a concurrent run of this slot made another: this one goes
}

void executor::return_zygote(std::uint32_t slot, std::unique_ptr<zygote> z) const {
  std::lock_guard<std::mutex> lock(slot_mutex_);
  auto& kept = zygotes_[slot];
  if (!kept) kept = std::move(z);  // else a concurrent run of this slot made another: this one goes
}

status executor::adopt_thread(std::uint32_t slot) const {
  if (auto joined = join_slot_network(slot); !joined) return joined;
  t_netns_slot = slot;
  // Never the main thread: the OOM killer of a v1 group walks thread-group leaders, and would
  // then weigh all of aha against the program.
  if (cgroups_.kind != cgroup_kind::v1 || gettid() == getpid()) return ok_status();
  auto group = take_cgroup(slot, effective_limits(config_, protocol::sandbox_request{}));
  if (!group) return group.error();
  status resident = (*group)->make_resident();
  t_resident = resident.ok();
  return_cgroup(slot, std::move(*group));
  return resident;
}

status executor::join_slot_network(std::uint32_t slot) const {
  std::lock_guard<std::mutex> lock(slot_mutex_);
  auto found = slot_netns_.find(slot);
  if (found != slot_netns_.end()) {
    if (setns(found->second, CLONE_NEWNET) != 0) return make_error(errc::io_error, errno_text("setns"));
    return ok_status();
  }
  if (unshare(CLONE_NEWNET) != 0) return make_error(errc::io_error, errno_text("unshare(CLONE_NEWNET)"));
  int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(errc::io_error, errno_text("open /proc/thread-self/ns/net"));
  slot_netns_[slot] = fd;
  return ok_status();
}

executor::~executor() {
  for (auto& [slot, fd] : slot_netns_) close(fd);
  for (auto& [slot, fd] : teardowns_) close(fd);
}

result<std::unique_ptr<run_cgroup>> executor::take_cgroup(std::uint32_t slot, const run_limits& limits) const {
  std::unique_ptr<run_cgroup> kept;
  {
    std::lock_guard<std::mutex> lock(slot_mutex_);
    auto found = slot_cgroups_.find(slot);
    if (found != slot_cgroups_.end()) kept = std::move(found->second), slot_cgroups_.erase(found);
  }
  if (kept && kept->reuse(limits)) return kept;
  kept.reset();  // not reusable: removed, and a fresh one made
  std::string name = std::to_string(getpid()) + "-" + std::to_string(g_next_group++);
  return run_cgroup::create(cgroups_, name, limits);
}

void executor::return_cgroup(std::uint32_t slot, std::unique_ptr<run_cgroup> group) const {
  if (!group->reusable()) return;  // destroyed here
  std::lock_guard<std::mutex> lock(slot_mutex_);
  slot_cgroups_[slot] = std::move(group);
}

}  // namespace aha::sandbox
