// Named fault points for fault-injection tests (STYLE.md "Tests and builds"): code marks a
// dangerous spot with AHA_FAULT_POINT("replay.before_commit"); a test arms that name with an
// action (typically _exit in a forked child) and the action runs when execution reaches it.
// AHA_FAULT_POINT compiles to nothing unless AHA_FAULT_POINTS is defined (CMake option
// AHA_FAULT_POINTS); arm() then has no effect, and a test that needs it skips on kCompiledIn.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace aha::fault {

// Whether AHA_FAULT_POINT reaches the registry in this build (tests: AHA_SKIP when not).
#ifdef AHA_FAULT_POINTS
inline constexpr bool kCompiledIn = true;
#else
inline constexpr bool kCompiledIn = false;
#endif

struct armed_point {
  std::function<void()> action;
  int skip = 0;  // hits to let pass before the action runs
};

inline std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
inline std::map<std::string, armed_point>& registry() {
  static std::map<std::string, armed_point> points;
  return points;
}

// Runs `action` on the (skip+1)-th hit of `name`; the point stays armed afterwards.
inline void arm(const std::string& name, std::function<void()> action, int skip = 0) {
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry()[name] = armed_point{std::move(action), skip};
}
inline void disarm_all() {
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry().clear();
}
inline void hit(const char* name) {
  std::function<void()> action;
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    auto it = registry().find(name);
    if (it == registry().end()) return;
    if (it->second.skip > 0) {
      --it->second.skip;
      return;
    }
    action = it->second.action;
  }
  if (action) action();
}

}  // namespace aha::fault

#ifdef AHA_FAULT_POINTS
#define AHA_FAULT_POINT(name) ::aha::fault::hit(name)
#else
#define AHA_FAULT_POINT(name) ((void)0)
#endif
