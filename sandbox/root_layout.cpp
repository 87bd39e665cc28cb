// Builds the mount steps of the sandbox's root (see root_layout.hpp).
#include "sandbox/root_layout.hpp"

#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace aha::sandbox {
namespace {

constexpr const char* kSystemPaths[] = {"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};
// /etc is not bound whole: only what the dynamic loader and interpreters read.
constexpr const char* kEtcPaths[] = {"/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives",
                                     "/etc/python3", "/etc/python3.11", "/etc/python3.12"};
const std::string kPasswd = "root:x:0:0::/:/bin/sh\nsandbox:x:1000:1000::/tmp:/bin/sh\n";
const std::pair<const char*, const char*> kDevLinks[] = {
    {"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"}};
const std::string kGroup = "root:x:0:\nsandbox:x:1000:\n";

std::string under_root(const std::string& path) { return std::string(kNewRoot) + path; }

// Flags a read-only remount of a bind must keep: the kernel locks those of the source mount.
unsigned long locked_flags(const char* path) {
  struct statvfs vfs {};
  unsigned long flags = MS_NOSUID | MS_NODEV;
  if (statvfs(path, &vfs) != 0) return flags;
  if (vfs.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
  if (vfs.f_flag & ST_NOATIME) flags |= MS_NOATIME;
  if (vfs.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
  if (vfs.f_flag & ST_RELATIME) flags |= MS_RELATIME;
  return flags;
}

// A host path as a step: symlinks are recreated, directories and files bound read-only.
void add_host_path(std::vector<mount_step>& steps, const char* path) {
  struct stat st {};
  if (lstat(path, &st) != 0) return;
  mount_step step;
  step.target = under_root(path);
  if (S_ISLNK(st.st_mode)) {
    char link[4096];
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n <= 0) return;
    step.what = mount_step::kind::symlink;
    step.source.assign(link, static_cast<std::size_t>(n));
  } else if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) {
    step.what = S_ISDIR(st.st_mode) ? mount_step::kind::bind_dir : mount_step::kind::bind_file;
    step.source = path;
    step.flags = locked_flags(path);
  } else {
    return;
  }
  steps.push_back(std::move(step));
}

mount_step tmpfs_step(const std::string& target, const std::string& options, unsigned long flags) {
  mount_step step;
  step.what = mount_step::kind::tmpfs;
  step.target = under_root(target);
  step.source = options;
  step.flags = flags;
  return step;
}

}  // namespace

std::vector<mount_step> system_steps() {
  std::vector<mount_step> steps;
  for (const char* path : kSystemPaths) add_host_path(steps, path);
  steps.push_back({mount_step::kind::mkdir, "", under_root("/etc")});
  for (const char* path : kEtcPaths) add_host_path(steps, path);
  steps.push_back({mount_step::kind::write_file, "", under_root("/etc/passwd"), 0, &kPasswd});
  steps.push_back({mount_step::kind::write_file, "", under_root("/etc/group"), 0, &kGroup});
  return steps;
}

void add_run_steps(std::vector<mount_step>& steps, const run_limits& limits, const language& lang,
                   const std::string& source) {
  constexpr unsigned long kSafe = MS_NOSUID | MS_NODEV;
  steps.push_back(tmpfs_step("/dev", "size=64k,nr_inodes=64,mode=0755", kSafe | MS_NOEXEC));
  for (const char* device : {"null", "zero", "full", "random", "urandom"}) {
    steps.push_back({mount_step::kind::bind_device, std::string("/dev/") + device, under_root(std::string("/dev/") + device)});
  }
  for (const auto& [name, link] : kDevLinks) {
    steps.push_back({mount_step::kind::symlink, link, under_root(std::string("/dev/") + name)});
  }
  steps.push_back(tmpfs_step("/dev/shm", "size=" + std::to_string(limits.shm_bytes) + ",nr_inodes=64,mode=1777",
                             kSafe | MS_NOEXEC));
  steps.push_back({mount_step::kind::remount_ro, "", under_root("/dev"), kSafe | MS_NOEXEC});
  steps.push_back({mount_step::kind::proc, "", under_root("/proc")});
  steps.push_back(tmpfs_step("/tmp", "size=" + std::to_string(limits.scratch_bytes) + ",nr_inodes=" +
                                         std::to_string(limits.scratch_inodes) + ",mode=1777", kSafe));
  steps.push_back({mount_step::kind::write_file, "", under_root(lang.source_path), 0, &source});
}

}  // namespace aha::sandbox
