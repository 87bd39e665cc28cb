// cgroup v1/v2 plumbing for per-run limits (see cgroup.hpp).
#include "sandbox/cgroup.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace aha::sandbox {
namespace {

constexpr const char* kParentName = "aha_sandbox";

bool is_dir(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

std::string read_small(const std::string& path) {
  char buffer[4096];
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  ssize_t n = read(fd, buffer, sizeof buffer);
  close(fd);
  return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
}

status write_file(const std::string& path, const std::string& value) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return make_error(errc::io_error, "cgroup: open " + path + ": " + std::strerror(errno));
  ssize_t n = write(fd, value.data(), value.size());
  int saved = errno;
  close(fd);
  if (n != static_cast<ssize_t>(value.size())) {
    return make_error(errc::io_error, "cgroup: write " + value + " to " + path + ": " + std::strerror(saved));
  }
  return ok_status();
}

// The value after `key ` in a "key value" per line file (memory.events, oom_control, cpu.stat).
std::uint64_t keyed_value(const std::string& text, const std::string& key) {
  std::istringstream in(text);
  std::string k;
  std::uint64_t v = 0;
  while (in >> k >> v) {
    if (k == key) return v;
  }
  return 0;
}

std::uint64_t number_in(const std::string& path) { return std::strtoull(read_small(path).c_str(), nullptr, 10); }

// Just-killed tasks may keep a group busy for a moment.
void remove_group(const std::string& dir) {
  for (int attempt = 0; attempt < 500 && rmdir(dir.c_str()) != 0 && errno == EBUSY; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

bool make_parent(const std::string& dir) { return mkdir(dir.c_str(), 0755) == 0 || errno == EEXIST; }

// v1: for each controller, "/sys/fs/cgroup/<hierarchy><own path>/aha_sandbox".
bool detect_v1(cgroup_layout& layout) {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    auto a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    std::string hierarchy = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    std::string dir = "/sys/fs/cgroup/" + hierarchy + (path == "/" ? "" : path);
    std::istringstream names(hierarchy);
    for (std::string name; std::getline(names, name, ',');) {
      std::string* slot = name == "memory" ? &layout.memory : name == "pids" ? &layout.pids
                          : name == "cpuacct" ? &layout.cpuacct : nullptr;
      if (slot && is_dir(dir)) *slot = dir + "/" + kParentName;
    }
  }
  if (layout.memory.empty() || layout.pids.empty() || layout.cpuacct.empty()) return false;
  return make_parent(layout.memory) && make_parent(layout.pids) && make_parent(layout.cpuacct);
}

// v2: a directory whose subtree delegates memory and pids to the groups aha creates in it.
bool usable_v2(const std::string& dir) {
  std::string controllers = read_small(dir + "/cgroup.subtree_control");
  return controllers.find("memory") != std::string::npos && controllers.find("pids") != std::string::npos;
}

bool detect_v2(cgroup_layout& layout) {
  std::string own = read_small("/proc/self/cgroup");
  auto at = own.find("0::");
  if (at == std::string::npos) return false;
  std::string path = own.substr(at + 3);
  path = path.substr(0, path.find('\n'));
  std::string dir = "/sys/fs/cgroup" + (path == "/" ? "" : path);
  if (!usable_v2(dir)) return false;
  std::string parent = dir + "/" + kParentName;
  if (!make_parent(parent)) return false;
  // aha owns this directory, so it may delegate the controllers one level further down.
  write_file(parent + "/cgroup.subtree_control", "+memory +pids +cpu");
  layout.unified = parent;
  return usable_v2(parent);
}

}  // namespace

cgroup_layout cgroup_layout::detect(const std::string& setting) {
  cgroup_layout layout;
  if (setting == "none") {
    layout.reason = "cgroups disabled by configuration";
  } else if (setting != "auto") {
    if (usable_v2(setting)) layout.kind = cgroup_kind::v2, layout.unified = setting;
    layout.reason = layout.kind == cgroup_kind::v2 ? "v2: " + setting : setting + " does not delegate memory+pids";
  } else if (detect_v1(layout)) {
    layout.kind = cgroup_kind::v1;
    layout.reason = "v1: " + layout.memory;
  } else if (cgroup_layout v2; detect_v2(v2)) {
    layout = v2;
    layout.kind = cgroup_kind::v2;
    layout.reason = "v2: " + layout.unified;
  } else {
    layout = cgroup_layout{};
    layout.reason = "no usable cgroup (RLIMIT_AS and per-process RLIMIT_CPU instead)";
  }
  return layout;
}

run_cgroup::run_cgroup(const cgroup_layout& layout, const std::string& name) : kind_(layout.kind) {
  if (kind_ == cgroup_kind::v1) {
    memory_ = layout.memory + "/" + name, pids_ = layout.pids + "/" + name, cpuacct_ = layout.cpuacct + "/" + name;
  } else {
    memory_ = pids_ = cpuacct_ = layout.unified + "/" + name;
  }
}

result<std::unique_ptr<run_cgroup>> run_cgroup::create(const cgroup_layout& layout, const std::string& name,
                                                       const run_limits& limits) {
  std::unique_ptr<run_cgroup> group(new run_cgroup(layout, name));
  for (const std::string* dir : {&group->memory_, &group->pids_, &group->cpuacct_}) {
    if (mkdir(dir->c_str(), 0755) != 0 && errno != EEXIST) {
      return make_error(errc::io_error, "cgroup: mkdir " + *dir + ": " + std::strerror(errno));
    }
  }
  if (auto applied = group->apply(limits); !applied) return applied.error();
  return group;
}

status run_cgroup::apply(const run_limits& limits) {
  std::string memory = std::to_string(limits.memory_bytes), tasks = std::to_string(limits.tasks);
  if (kind_ == cgroup_kind::v2) {
    if (auto w = write_file(memory_ + "/memory.max", memory); !w) return w;
    write_file(memory_ + "/memory.swap.max", "0");  // absent without swap: fine
    return write_file(pids_ + "/pids.max", tasks);
  }
  // memory.memsw.limit (memory+swap) must stay >= memory.limit: order the writes accordingly.
  std::string limit = memory_ + "/memory.limit_in_bytes", memsw = memory_ + "/memory.memsw.limit_in_bytes";
  bool has_memsw = access(memsw.c_str(), F_OK) == 0;
  status written = write_file(limit, memory);
  if (has_memsw) {
    bool limit_done = written.ok();  // else it was raised above memsw: memsw first, then retry
    written = write_file(memsw, memory);
    if (written && !limit_done) written = write_file(limit, memory);
  }
  if (!written) return written;
  // A fresh start for the run's counters; memory held over (page cache) is taken as the base.
  write_file(cpuacct_ + "/cpuacct.usage", "0");
  write_file(memory_ + "/memory.max_usage_in_bytes", "0");
  memory_base_ = number_in(memory_ + "/memory.usage_in_bytes");
  oom_base_ = oom_kills();
  tasks_ = limits.tasks;
  return write_task_limit();
}

status run_cgroup::write_task_limit() const {
  std::uint32_t extra = (resident_ ? 1 : 0) + (zygote_ > 0 ? kWarmTasks : 0);
  return write_file(pids_ + "/pids.max", std::to_string(tasks_ + extra));
}

status run_cgroup::host_zygote(pid_t pid) {
  if (kind_ != cgroup_kind::v1) return make_error(errc::invalid_argument, "cgroup: warm interpreters need v1");
  if (auto attached = attach(pid); !attached) return attached;
  zygote_ = pid;
  return write_task_limit();
}

status run_cgroup::make_resident() {
  if (kind_ != cgroup_kind::v1) return make_error(errc::invalid_argument, "cgroup: resident threads need v1");
  std::string tid = std::to_string(gettid());
  for (const std::string* dir : {&memory_, &pids_, &cpuacct_}) {
    if (auto written = write_file(*dir + "/tasks", tid); !written) return written;
  }
  resident_ = true;
  return ok_status();
}

// Processes in the group other than aha itself (whose resident thread may be a member) and the
// slot's warm interpreter.
std::vector<pid_t> run_cgroup::foreign_processes() const {
  std::vector<pid_t> pids;
  std::istringstream procs(read_small(pids_ + "/cgroup.procs"));
  for (pid_t pid; procs >> pid;) {
    if (pid != getpid() && pid != zygote_) pids.push_back(pid);
  }
  return pids;
}

bool run_cgroup::wait_empty(std::chrono::milliseconds limit) const {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!foreign_processes().empty()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

status run_cgroup::reuse(const run_limits& limits) {
  if (!reusable()) return make_error(errc::internal, "cgroup: v2 groups serve one run");
  for (int attempt = 0; !foreign_processes().empty(); ++attempt) {
    if (attempt == 100) return make_error(errc::resource_limit, "cgroup: " + pids_ + " still has tasks");
    kill_all();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return apply(limits);
}

run_cgroup::~run_cgroup() {
  if (zygote_ > 0) kill(zygote_, SIGKILL);  // the group goes, and its warm interpreter with it
  kill_all();
  for (const std::string* dir : {&memory_, &pids_, &cpuacct_}) {
    if (dir != &memory_ && *dir == memory_) continue;  // v2: one directory
    remove_group(*dir);
  }
}

status run_cgroup::attach(pid_t pid) const {
  std::string text = std::to_string(pid);
  for (const std::string* dir : {&memory_, &pids_, &cpuacct_}) {
    if (dir != &memory_ && *dir == memory_) continue;
    if (auto written = write_file(*dir + "/cgroup.procs", text); !written) return written;
  }
  return ok_status();
}

std::uint64_t run_cgroup::cpu_ns() const {
  if (kind_ == cgroup_kind::v1) return number_in(cpuacct_ + "/cpuacct.usage");
  return keyed_value(read_small(cpuacct_ + "/cpu.stat"), "usage_usec") * 1000;
}

std::uint64_t run_cgroup::peak_memory_bytes() const {
  std::uint64_t peak = number_in(memory_ + (kind_ == cgroup_kind::v1 ? "/memory.max_usage_in_bytes" : "/memory.peak"));
  return peak > memory_base_ ? peak - memory_base_ : 0;
}

std::uint64_t run_cgroup::oom_kills() const {
  if (kind_ == cgroup_kind::v1) return keyed_value(read_small(memory_ + "/memory.oom_control"), "oom_kill");
  return keyed_value(read_small(memory_ + "/memory.events"), "oom_kill");
}

bool run_cgroup::oom_killed() const { return oom_kills() > oom_base_; }

void run_cgroup::kill_all() const {
  if (kind_ == cgroup_kind::v2 && write_file(pids_ + "/cgroup.kill", "1")) return;
  for (pid_t pid : foreign_processes()) kill(pid, SIGKILL);
}

void sweep_stale_cgroups(const cgroup_layout& layout) {
  std::vector<std::string> parents = {layout.memory, layout.pids, layout.cpuacct, layout.unified};
  for (const auto& parent : parents) {
    if (parent.empty()) continue;
    DIR* dir = opendir(parent.c_str());
    if (!dir) continue;
    while (dirent* entry = readdir(dir)) {
      pid_t owner = static_cast<pid_t>(std::strtol(entry->d_name, nullptr, 10));
      if (entry->d_type != DT_DIR || owner <= 0 || kill(owner, 0) == 0 || errno != ESRCH) continue;
      std::string group = parent + "/" + entry->d_name;
      std::istringstream procs(read_small(group + "/cgroup.procs"));
      for (pid_t pid; procs >> pid;) kill(pid, SIGKILL);
      remove_group(group);
    }
    closedir(dir);
  }
}

}  // namespace aha::sandbox
