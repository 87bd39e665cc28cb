// The parent side of a run: prepare the plan, clone into fresh namespaces, map ids, attach the
// cgroup, release the child, watch wall/CPU/output limits, reap, and turn it all into a verdict.
#include "sandbox/executor.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

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
};

std::int64_t thread_cpu_ns() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return std::int64_t{t.tv_sec} * 1000000000 + t.tv_nsec;
}

// CPU time of the run's processes: the group's, less this thread's when it is a member too.
std::uint64_t program_cpu_ns(const running& run) {
  std::uint64_t total = run.group->cpu_ns();
  if (run.thread_cpu_base < 0) return total;
  auto own = static_cast<std::uint64_t>(thread_cpu_ns() - run.thread_cpu_base);
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

void kill_run(running& run, kill_reason why) {
  if (run.killed == kill_reason::none) run.killed = why;
  kill(run.pid, SIGKILL);  // the pid namespace's init: the kernel kills every process in it
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
    pollfd fds[3] = {{run.pidfd.fd, POLLIN, 0}, {run.out.open ? run.out.fd.fd : -1, POLLIN, 0},
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
  if (stop_applies(stop)) return sandbox_error(request, "cancelled before the run started");
  if (slot >= uid_lease::kBlockSize - 1) return sandbox_error(request, "slot " + std::to_string(slot) + " out of range");
  const language* lang = find_language(request.language);
  if (!lang) return sandbox_error(request, "unknown language '" + request.language + "'; known: " + language_names());
  bool clamped = false;
  const run_limits limits = effective_limits(config_, request, &clamped);
  if (clamped) ++clamped_runs_;
  std::unique_ptr<run_cgroup> group;
  if (cgroups_.kind != cgroup_kind::none) {
    auto taken = take_cgroup(slot, limits);
    if (!taken) return sandbox_error(request, taken.error().message);
    group = std::move(*taken);
  }
  // 2. Pipes and the plan the child follows.
  auto out = make_pipe(), err = make_pipe(), sync = make_pipe(), report = make_pipe();
  auto input = make_stdin(request.stdin_data);
  if (!out || !err || !sync || !report || !input) return sandbox_error(request, "could not create pipes");
  jail_plan plan;
  plan.new_root = kNewRoot;
  plan.steps = system_steps_;
  add_run_steps(plan.steps, limits, *lang, request.source);
  plan.rlimits = make_rlimits(limits, group != nullptr);
  plan.compile_args = lang->compile_argv;
  plan.run_args = lang->run_argv;
  plan.run_args.insert(plan.run_args.end(), request.args.begin(), request.args.end());
  plan.environment = {"PATH=/usr/bin:/bin", "HOME=/tmp", "TMPDIR=/tmp", "LANG=C.UTF-8"};
  plan.prepare_pointers();
  plan.filter = &filter_view_;
  plan.stdin_fd = input->fd, plan.stdout_fd = out->write.fd, plan.stderr_fd = err->write.fd;
  plan.sync_read_fd = sync->read.fd, plan.sync_write_fd = sync->write.fd, plan.report_fd = report->write.fd;
  // 3. Clone, then map ids and attach the cgroup before releasing the child.
  running run;
  run.group = group.get();
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
  fill_reply(reply, run, wait_status, usage, group.get(), limits);
  std::string failure = released ? child_failure(run) : released.error().message;
  if (!failure.empty()) reply.status = run_status::sandbox_error, reply.error = failure;
  if (run.killed == kill_reason::stopped) {
    reply.status = run_status::sandbox_error;
    reply.error = stop.cancelled && stop.cancelled->load() ? "cancelled by the caller"
                                                           : "cancelled: the caller's deadline passed";
  }
  if (group) return_cgroup(slot, std::move(group));
  return reply;
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
  std::string name = std::to_string(getpid()) + "-" + std::to_string(next_run_++);
  return run_cgroup::create(cgroups_, name, limits);
}

void executor::return_cgroup(std::uint32_t slot, std::unique_ptr<run_cgroup> group) const {
  if (!group->reusable()) return;  // destroyed here
  std::lock_guard<std::mutex> lock(slot_mutex_);
  slot_cgroups_[slot] = std::move(group);
}

}  // namespace aha::sandbox
