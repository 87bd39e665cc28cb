// Test support for actor protocol tests (not part of the library): an actor system on CAF's
// deterministic test coordinator, and ask() that records a request's reply (or error) so a
// test can check whether an actor has answered yet. Used by actors/*.test.cpp.
#pragma once

#include <memory>
#include <optional>

#include <caf/all.hpp>

#include "actors/interfaces.hpp"

namespace aha::actors::testing {

struct deterministic_system {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::scheduler::test_coordinator* sched = nullptr;

  deterministic_system() {
    cfg.set("scheduler.policy", caf::atom("testing"));
    cfg.set("logger.verbosity", caf::atom("quiet"));
    add_message_types(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    sched = &dynamic_cast<caf::scheduler::test_coordinator&>(sys->scheduler());
  }
  // Runs every runnable job until no actor has messages left.
  void run() { sched->run(); }
  // Fires every pending delayed message (timeouts, deadlines), then runs.
  void fire_timeouts() {
    sched->trigger_timeouts();
    sched->run();
  }
};

// Where a reply lands: a value, an error, or nothing yet.
template <class T>
struct reply {
  std::optional<T> value;
  std::optional<caf::error> error;
  bool answered() const { return value || error; }
};

// Sends a request from a fresh helper actor; the reply is recorded when the scheduler runs.
template <class T, class Handle, class... Ts>
std::shared_ptr<reply<T>> ask(caf::actor_system& sys, const Handle& to, Ts... xs) {
  auto out = std::make_shared<reply<T>>();
  sys.spawn([=](caf::event_based_actor* self) {
    self->request(to, caf::infinite, xs...).then([out](T& x) { out->value = std::move(x); },
                                                 [out](caf::error& e) { out->error = std::move(e); });
  });
  return out;
}

}  // namespace aha::actors::testing
