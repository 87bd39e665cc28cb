// What the sandboxed program sees as "/": read-only binds of the system directories the
// interpreters need (/usr and the /bin, /lib... links), a few /etc files, a minimal /dev, a
// private /dev/shm, a fresh /proc, no /sys, and a size-limited writable /tmp holding the source.
// Produces mount_steps for sandbox/jail.cpp; resolving the host side happens once per executor.
#pragma once

#include <string>
#include <vector>

#include "sandbox/jail.hpp"
#include "sandbox/language.hpp"
#include "sandbox/sandbox_config.hpp"

namespace aha::sandbox {

// The host mount point the fresh root tmpfs covers inside the run's private mount namespace.
constexpr const char* kNewRoot = "/tmp";

// Read-only system directories and /etc files, as found on this host.
std::vector<mount_step> system_steps();

// Per-run steps: /dev, /dev/shm, /proc, the scratch /tmp, the source file, /dev read-only.
// `source` must outlive the jail_plan (the step points at it).
void add_run_steps(std::vector<mount_step>& steps, const run_limits& limits, const language& lang,
                   const std::string& source);

}  // namespace aha::sandbox
