// Deterministic tests of the staleness window: grants, deferral, FIFO order, release, sync mode.
// Runs the gate under CAF's test coordinator; a scoped actor collects replies as messages.
#include "actors/rollout_gate.hpp"

#include <catch2/catch.hpp>

using namespace aha::actors;

namespace {

struct fixture {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  caf::scheduler::test_coordinator* sched = nullptr;

  fixture() {
    cfg.set("scheduler.policy", caf::atom("testing"));
    sys = std::make_unique<caf::actor_system>(cfg);
    sched = &dynamic_cast<caf::scheduler::test_coordinator&>(sys->scheduler());
  }
  // Every version delivered to `self` so far, in order.
  std::vector<std::uint64_t> replies(caf::scoped_actor& self) {
    sched->run();
    std::vector<std::uint64_t> out;
    bool more = true;
    while (more) {
      self->receive([&](std::uint64_t version) { out.push_back(version); },
                    caf::after(std::chrono::seconds(0)) >> [&] { more = false; });
    }
    return out;
  }
};

}  // namespace

TEST_CASE("rollout_gate: grants within the window, defers beyond it, resumes on advance") {
  fixture f;
  caf::scoped_actor self{*f.sys};
  auto gate = spawn_rollout_gate(*f.sys, 2, 1);  // window = 2 x (1 + 1) = 4 groups
  self->send(gate, acquire_atom::value, std::uint32_t{2});
  self->send(gate, acquire_atom::value, std::uint32_t{2});
  self->send(gate, acquire_atom::value, std::uint32_t{2});
  CHECK(f.replies(self) == std::vector<std::uint64_t>{0, 0});  // the third waits
  self->send(gate, advance_atom::value, std::uint64_t{1}, std::uint64_t{1});
  CHECK(f.replies(self).empty());  // one retired group is not room for two
  self->send(gate, advance_atom::value, std::uint64_t{2}, std::uint64_t{1});
  CHECK(f.replies(self) == std::vector<std::uint64_t>{2});
  self->send(gate, gate_stats_atom::value);
  f.sched->run();
  self->receive([](const gate_stats& s) {
    CHECK(s.granted == 6);
    CHECK(s.retired == 2);
    CHECK(s.window == 4);
    CHECK(s.learner_version == 2);
  });
  self->send_exit(gate, caf::exit_reason::user_shutdown);
  f.sched->run();
}

TEST_CASE("rollout_gate: sync mode alternates strictly, and waiters are served first come first served") {
  fixture f;
  caf::scoped_actor self{*f.sys};
  auto gate = spawn_rollout_gate(*f.sys, 3, 0);  // window = one step's groups
  self->send(gate, acquire_atom::value, std::uint32_t{3});
  CHECK(f.replies(self) == std::vector<std::uint64_t>{0});
  self->send(gate, acquire_atom::value, std::uint32_t{3});  // waits for the learner
  self->send(gate, acquire_atom::value, std::uint32_t{1});  // must not overtake it
  CHECK(f.replies(self).empty());
  self->send(gate, release_atom::value, std::uint32_t{1});  // one group was never produced
  CHECK(f.replies(self).empty());
  self->send(gate, advance_atom::value, std::uint64_t{1}, std::uint64_t{2});
  CHECK(f.replies(self) == std::vector<std::uint64_t>{1});
  self->send(gate, advance_atom::value, std::uint64_t{2}, std::uint64_t{3});
  CHECK(f.replies(self) == std::vector<std::uint64_t>{2});
  self->send_exit(gate, caf::exit_reason::user_shutdown);
  f.sched->run();
}

TEST_CASE("rollout_gate: a request larger than the window is an error, not a hang") {
  fixture f;
  caf::scoped_actor self{*f.sys};
  auto gate = spawn_rollout_gate(*f.sys, 2, 0);
  self->send(gate, acquire_atom::value, std::uint32_t{3});
  f.sched->run();
  bool failed = false;
  self->receive([&](const caf::error&) { failed = true; }, [&](std::uint64_t) {},
                caf::after(std::chrono::seconds(0)) >> [] {});
  CHECK(failed);
  self->send_exit(gate, caf::exit_reason::user_shutdown);
  f.sched->run();
}
