// replay_buffer: the actor in front of replay_store (RocksDB). Handles put / fetch / consume /
// stats (interfaces.hpp, replay_buffer_actor); acknowledges a put only after the group is in a
// synced WriteBatch (group commit: every put queued while a commit runs joins the next one).
// Runs detached (own thread) because RocksDB calls block. Leases are in RAM (after a restart every
// leased group is served again); drops are persisted in the store (never served again). Groups
// too stale to serve are counted (replay_stats.dropped_stale); the learner reads the count and gives their slots back to the
// rollout gate. A fetch serves the oldest weight versions first and, when the learner says groups
// of the version that ages out after its step are still in flight, holds the batch for them
// (fetch_request::expiring_groups). Tested by replay_buffer.test.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <caf/all.hpp>

#include "actors/interfaces.hpp"
#include "core/config.hpp"
#include "core/result.hpp"
#include "core/units.hpp"

namespace aha::actors {

struct replay_buffer_config {
  std::string dir = "replay";                       // RocksDB folder, relative to the run dir
  bool sync = true;                                 // fsync each group commit (survives machine crashes)
  byte_size max_bytes{std::uint64_t{1} << 30};      // soft bound on stored bytes; 0 = none
  std::uint64_t max_groups = 0;                     // soft bound on stored groups; 0 = none
  std::chrono::milliseconds commit_window{0};       // extra wait to gather more puts per commit
  std::uint32_t max_commit_groups = 256;            // groups per synced WriteBatch at most
};
template <class V>
void describe(V& v, replay_buffer_config& c) {
  v.field("dir", c.dir, "RocksDB folder of the replay buffer, relative to the run directory");
  v.field("sync", c.sync, "fsync every group commit (off: survives a process crash, not a machine crash)");
  v.field("max_bytes", c.max_bytes, "soft bound on stored bytes; consumed, then stale groups are evicted (0 = none)");
  v.field("max_groups", c.max_groups, "soft bound on stored groups (0 = none)");
  v.field("commit_window", c.commit_window, "extra wait to gather puts into one synced write (duration)",
          config::range{0, 10});
  v.field("max_commit_groups", c.max_commit_groups, "groups per synced write at most", config::range{1, 1e6});
}

// Opens the store at `dir` (already resolved against the run directory) and spawns the actor.
// Errors (unreadable folder, wrong format) come back before any actor exists. When `prompts` is
// valid, the buffer tells it stored(prompt ids) after each commit and requeue(prompt ids) for
// groups it finds too stale to serve (never trained on, so their prompts must be asked again).
result<replay_buffer_actor> spawn_replay_buffer(caf::actor_system& sys, const replay_buffer_config& config,
                                               threading mode = threading::detached,
                                               prompt_source_actor prompts = {});

}  // namespace aha::actors
