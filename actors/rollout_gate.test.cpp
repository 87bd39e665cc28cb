// Deterministic tests of the staleness gate: grants, deferral, FIFO order, sync mode, and every way
// a slot comes back (consumed, dropped stale, released, a dead waiter), a resume with leftovers,
// and accounting that cannot wrap. Runs the gate under CAF's test coordinator; a scoped actor
// collects replies as messages.
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
  // The text of the error delivered to `self` (a refused acquire), "" if none came.
  std::string refusal(caf::scoped_actor& self) {
    sched->run();
    std::string text;
    self->receive([&](const caf::error& e) { text = to_string(e); }, caf::after(std::chrono::seconds(0)) >> [] {});
    return text;
  }
  gate_stats stats(caf::scoped_actor& self, const rollout_gate_actor& gate) {
    self->send(gate, gate_stats_atom::value);
    sched->run();
    gate_stats out;
    self->receive([&](const gate_stats& s) { out = s; });
    return out;
  }
};

rollout_gate_config window_of(std::uint32_t groups_per_step, std::uint32_t max_staleness, std::uint64_t preexisting = 0) {
  return {groups_per_step, max_staleness, 0, preexisting};
}

// No slot is lost or made up: what came in is what left plus what is still in flight.
void check_books(const gate_stats& s) {
  CHECK(s.unmatched == 0);
  CHECK(s.preexisting + s.granted == s.consumed + s.dropped + s.released + s.in_flight);
}

// The learner reached `version`, having consumed `consumed` groups (of unknown version: the oldest
// booked retire) and seen `dropped` drops.
void advance(caf::scoped_actor& self, const rollout_gate_actor& gate, std::uint64_t version, std::uint64_t consumed,
             std::uint64_t dropped = 0) {
  self->send(gate, advance_atom::value, version, std::vector<std::uint64_t>(consumed, any_version), dropped);
}

void release(caf::scoped_actor& self, const rollout_gate_actor& gate, std::uint32_t groups,
             std::uint64_t version = any_version) {
  self->send(gate, release_atom::value, groups, version);
}

std::uint64_t expiring(fixture& f, caf::scoped_actor& self, const rollout_gate_actor& gate, std::uint64_t version) {
  self->send(gate, expiring_atom::value, version);
  return f.replies(self).at(0);
}

}  // namespace

TEST_CASE("rollout_gate: grants within the window, defers beyond it, resumes on advance") {
  fixture f;
  caf::scoped_actor self{*f.sys};
  auto gate = spawn_rollout_gate(*f.sys, window_of(2, 1));  // window = 2 x (1 + 1) = 4 groups
  self->send(gate, acquire_atom::value, std::uint32_t{2});
  self->send(gate, acquire_atom::value, std::uint32_t{2});
  self->send(gate, acquire_atom::value, std::uint32_t{2});
  CHECK(f.replies(self) == std::vector<std::uint64_t>{0, 0});  // the third waits
  advance(self, gate, 1, 1);
  CHECK(f.replies(self).empty());  // one retired group is not room for two
  advance(self, gate, 2, 1);
  CHECK(f.replies(self) == std::vector<std::uint64_t>{2});
  auto s = f.stats(self, gate);
  CHECK(s.granted == 6);
  CHECK(s.consumed == 2);
  CHECK(s.in_flight == 4);
  CHECK(s.window == 4);
  CHECK(s.learner_version == 2);
  check_books(s);
  self->send_exit(gate, caf::exit_reason::user_shutdown);
  f.sched->run();
}

TEST_CASE("rollout_gate: sync mode alternates strictly, and waiters are served first come first served") {
  fixture f;
  caf::scoped_actor self{*f.sys};
  auto gate = spawn_rollout_gate(*f.sys, window_of(3, 0));  // window = one step's groups
  self->send(gate, acquire_atom::value, std::uint32_t{3});
  CHECK(f.replies(self) == std::vector<std::uint64_t>{0});
  self->send(gate, acquire_atom::value, std::uint32_t{3});  // waits for the learner
  self->send(gate, acquire_atom::value, std::uint32_t{1});  // must not overtake it
  CHECK(f.replies(self).empty());
  release(self, gate, 1);  // one group was never produced
  CHECK(f.replies(self).empty());
  advance(self, gate, 1, 2);
  CHECK(f.replies(self) == std::vector<std::uint64_t>{1});
  advance(self, gate, 2, 3);
  CHECK(f.replies(self) == std::vector<std::uint64_t>{2});
  check_books(f.stats(self, gate));
  self->send_exit(gate, caf::exit_reason::user_shutdown);
  f.sched->run();
}

TEST_CASE("rollout_gate: a request larger than the window is an error, not a hang") {
  fixture f;
  caf::scoped_actor self{*f.sys};
  auto gate = spawn_rollout_gate(*f.sys, window_of(2, 0));
  self->send(gate, acquire_atom::value, std::uint32_t{3});
  f.sched->run();
  bool failed = false;
  self->receive([&](const caf::error&) { failed = true; }, [&](std::uint64_t) {},
                caf::after(std::chrono::seconds(0)) >> [] {});
  CHECK(failed);
  self->send_exit(gate, caf::exit_reason::user_shutdown);
  f.sched->run();
}

TEST_CASE("rollout_gate: groups dropped as stale give their slots back") {
  fixture f;
  caf::scoped_actor self{*f.sys};
  auto gate = spawn_rollout_gate(*f.sys, window_of(2, 1));  // window 4
  for (int i = 0; i < 3; ++i) self->send(gate, acquire_atom::value, std::uint32_t{2});
  CHECK(f.replies(self) == std::vector<std::uint64_t>{0, 0});
  // The learner consumed two groups and the buffer dropped two stale ones: room for the waiter.
  advance(self, gate, 1, 2, 2);
  CHECK(f.replies(self) == std::vector<std::uint64_t>{1});
  self->send(gate, acquire_atom::value, std::uint32_t{2});
  CHECK(f.replies(self) == std::vector<std::uint64_t>{1});  // the window is full again: 4 in flight
  // Many drops in a row (the review saw the run wedge after ~33): the window stays usable.
  for (std::uint64_t v = 2; v < 50; ++v) {
    self->send(gate, acquire_atom::value, std::uint32_t{2});
    CHECK(f.replies(self).empty());  // full: 4 in flight
    advance(self, gate, v, 0, 2);     // two stale groups dropped, nothing consumed
    CHECK(f.replies(self) == std::vector<std::uint64_t>{v});
  }
  auto s = f.stats(self, gate);
  CHECK(s.in_flight == 4);
  CHECK(s.dropped == 2 + 48 * 2);
  check_books(s);
  self->send_exit(gate, caf::exit_reason::user_shutdown);
  f.sched->run();
}

TEST_CASE("rollout_gate: released slots come back, and a release beyond what is in flight cannot wrap the window") {
  fixture f;
  caf::scoped_actor self{*f.sys};
  auto gate = spawn_rollout_gate(*f.sys, window_of(2, 0));  // window 2
  self->send(gate, acquire_atom::value, std::uint32_t{2});
  CHECK(f.replies(self) == std::vector<std::uint64_t>{0});
  release(self, gate, 2);  // the generator failed: nothing was produced
  self->send(gate, acquire_atom::value, std::uint32_t{2});
  CHECK(f.replies(self) == std::vector<std::uint64_t>{0});
  // A stray retirement (e.g. a group graded after its generator gave it up) finds nothing extra:
  // counted as unmatched; in flight stops at 0 instead of wrapping to 2^64 - 1.
  advance(self, gate, 1, 2, 0);
  release(self, gate, 3);
  auto s = f.stats(self, gate);
  CHECK(s.in_flight == 0);
  CHECK(s.unmatched == 3);
  self->send(gate, acquire_atom::value, std::uint32_t{2});
  CHECK(f.replies(self) == std::vector<std::uint64_t>{1});  // the old unsigned check never fitted again
  self->send_exit(gate, caf::exit_reason::user_shutdown);
  f.sched->run();
}

TEST_CASE("rollout_gate: a resumed run's leftover groups are in flight and retire through the gate") {
  fixture f;
  caf::scoped_actor self{*f.sys};
  auto gate = spawn_rollout_gate(*f.sys, {2, 1, 7, 9});  // window 4, learner at version 7, 9 leftovers
  self->send(gate, acquire_atom::value, std::uint32_t{2});
  CHECK(f.replies(self).empty());  // 9 + 2 cannot be consumed within eta of version 7
  advance(self, gate, 8, 2);       // 7 left
  advance(self, gate, 9, 2, 1);    // 4 left: one of them was too stale
  CHECK(f.replies(self).empty());
  advance(self, gate, 10, 2);  // 2 left: their 2 + the batch's 2 fit in versions 10..11
  CHECK(f.replies(self) == std::vector<std::uint64_t>{10});
  advance(self, gate, 11, 2);  // the last leftovers
  advance(self, gate, 12, 2);  // the batch granted above
  auto s = f.stats(self, gate);
  CHECK(s.preexisting == 9);
  CHECK(s.in_flight == 0);
  CHECK(s.consumed == 10);
  CHECK(s.dropped == 1);
  check_books(s);
  self->send(gate, acquire_atom::value, std::uint32_t{2});
  self->send(gate, acquire_atom::value, std::uint32_t{2});
  CHECK(f.replies(self) == std::vector<std::uint64_t>{12, 12});  // the full window, not a wedged one
  self->send_exit(gate, caf::exit_reason::user_shutdown);
  f.sched->run();
}

TEST_CASE("rollout_gate: a waiting acquire from an actor that died is forgotten, not granted") {
  fixture f;
  caf::scoped_actor self{*f.sys};
  auto gate = spawn_rollout_gate(*f.sys, window_of(2, 0));  // window 2
  self->send(gate, acquire_atom::value, std::uint32_t{2});
  CHECK(f.replies(self) == std::vector<std::uint64_t>{0});
  f.sys->spawn([gate](caf::event_based_actor* doomed) {
    doomed->request(gate, caf::infinite, acquire_atom::value, std::uint32_t{2}).then([](std::uint64_t) {});
    doomed->quit();
  });
  f.sched->run();
  CHECK(f.stats(self, gate).waiting == 0);
  advance(self, gate, 1, 2);
  auto s = f.stats(self, gate);
  CHECK(s.granted == 2);  // the dead one's request got nothing
  CHECK(s.in_flight == 0);
  check_books(s);
  self->send_exit(gate, caf::exit_reason::user_shutdown);
  f.sched->run();
}

TEST_CASE("rollout_gate: books groups by weight version and says how many of the version ageing out are in flight") {
  fixture f;
  caf::scoped_actor self{*f.sys};
  auto gate = spawn_rollout_gate(*f.sys, window_of(2, 1));  // window 4, eta 1
  self->send(gate, acquire_atom::value, std::uint32_t{2});
  CHECK(f.replies(self) == std::vector<std::uint64_t>{0});
  CHECK(expiring(f, self, gate, 0) == 0);  // version 0 can still train after the learner's step at 0
  CHECK(expiring(f, self, gate, 1) == 2);  // at version 1 it trains for the last time
  self->send(gate, advance_atom::value, std::uint64_t{1}, std::vector<std::uint64_t>{0}, std::uint64_t{0});
  CHECK(expiring(f, self, gate, 1) == 1);
  // Granted at version 1, but the generator still had version-0 weights: booked at 0.
  self->send(gate, acquire_atom::value, std::uint32_t{2});
  CHECK(f.replies(self) == std::vector<std::uint64_t>{1});
  CHECK(expiring(f, self, gate, 2) == 2);
  self->send(gate, restamp_atom::value, std::uint32_t{2}, std::uint64_t{1}, std::uint64_t{0});
  CHECK(expiring(f, self, gate, 1) == 3);
  CHECK(expiring(f, self, gate, 2) == 0);
  // Retirements by version: a consumed group of version 0, a release of one; a drop takes the oldest.
  self->send(gate, advance_atom::value, std::uint64_t{2}, std::vector<std::uint64_t>{0}, std::uint64_t{0});
  release(self, gate, 1, 0);
  CHECK(expiring(f, self, gate, 1) == 1);
  self->send(gate, advance_atom::value, std::uint64_t{2}, std::vector<std::uint64_t>{}, std::uint64_t{1});
  CHECK(expiring(f, self, gate, 1) == 0);
  auto s = f.stats(self, gate);
  CHECK(s.in_flight == 0);
  check_books(s);
  self->send_exit(gate, caf::exit_reason::user_shutdown);
  f.sched->run();
}

TEST_CASE("rollout_gate: a resumed run's leftovers are stored, never counted as expiring in flight") {
  fixture f;
  caf::scoped_actor self{*f.sys};
  auto gate = spawn_rollout_gate(*f.sys, {2, 1, 7, 2});  // window 4, learner at version 7, 2 leftovers
  self->send(gate, acquire_atom::value, std::uint32_t{2});
  CHECK(f.replies(self) == std::vector<std::uint64_t>{7});
  CHECK(expiring(f, self, gate, 8) == 2);  // only the two granted at 7
  // Leftovers consumed (their versions are not booked at 7: they take the leftover slots).
  self->send(gate, advance_atom::value, std::uint64_t{8}, std::vector<std::uint64_t>{5, 6}, std::uint64_t{0});
  CHECK(expiring(f, self, gate, 8) == 2);
  auto s = f.stats(self, gate);
  CHECK(s.in_flight == 2);
  check_books(s);
  self->send_exit(gate, caf::exit_reason::user_shutdown);
  f.sched->run();
}

TEST_CASE("rollout_gate: a request its weights cannot see trained in time is refused even with nothing in flight") {
  fixture f;
  caf::scoped_actor self{*f.sys};
  auto gate = spawn_rollout_gate(*f.sys, window_of(2, 1));  // B = 2, eta = 1: window 4
  advance(self, gate, 3, 0);                                // the learner is at version 3
  // Four groups of version 2 would be consumed at versions 3 and 4; the last two past 2 + eta.
  // Nothing is in flight, so waiting would never help: queued, it would block the gate for good.
  self->send(gate, acquire_atom::value, std::uint32_t{4}, std::uint64_t{2});
  CHECK_THAT(f.refusal(self), Catch::Contains("wait for newer weights"));
  // Nothing was booked, and the gate still serves a request behind it.
  self->send(gate, acquire_atom::value, std::uint32_t{4}, std::uint64_t{3});
  CHECK(f.replies(self) == std::vector<std::uint64_t>{3});
  auto s = f.stats(self, gate);
  CHECK(s.granted == 4);
  check_books(s);
  self->send_exit(gate, caf::exit_reason::user_shutdown);
  f.sched->run();
}

TEST_CASE("rollout_gate: groups sampled with older weights get the room those weights leave, and no more") {
  fixture f;
  caf::scoped_actor self{*f.sys};
  auto gate = spawn_rollout_gate(*f.sys, window_of(2, 1));  // B = 2, eta = 1: window 4
  advance(self, gate, 3, 0);                                // the learner is at version 3
  // A replica at version 2 (one behind): its groups age out after version 3, so only what the
  // learner consumes at version 3 (B = 2 groups) fits, not the whole window. A second request
  // with those weights is refused at once: waiting would not make it fit.
  self->send(gate, acquire_atom::value, std::uint32_t{2}, std::uint64_t{2});
  CHECK(f.replies(self) == std::vector<std::uint64_t>{3});
  self->send(gate, acquire_atom::value, std::uint32_t{2}, std::uint64_t{2});
  CHECK_THAT(f.refusal(self), Catch::Contains("wait for newer weights"));
  auto s = f.stats(self, gate);
  CHECK(s.in_flight == 2);
  CHECK(expiring(f, self, gate, 3) == 2);  // booked at version 2: they train for the last time at 3
  // Current weights take the rest of the window.
  self->send(gate, acquire_atom::value, std::uint32_t{2}, std::uint64_t{3});
  CHECK(f.replies(self) == std::vector<std::uint64_t>{3});
  s = f.stats(self, gate);
  CHECK(s.granted == 4);
  check_books(s);
  self->send_exit(gate, caf::exit_reason::user_shutdown);
  f.sched->run();
}

TEST_CASE("rollout_gate: a request queued with the learner's weights is refused once the learner moves past them") {
  // The resumed run that hung: one leftover group in flight, B = 2. A request of version 2 waits;
  // the learner reaches 3, consuming two groups; the waiter (now one version old) no longer fits
  // beside the one group still in flight, and would have waited for ever, as would the learner.
  fixture f;
  caf::scoped_actor self{*f.sys};
  auto gate = spawn_rollout_gate(*f.sys, {2, 1, 2, 1});  // B = 2, eta = 1, at version 2, 1 leftover
  self->send(gate, acquire_atom::value, std::uint32_t{2}, std::uint64_t{2});
  CHECK(f.replies(self) == std::vector<std::uint64_t>{2});  // 3 in flight
  self->send(gate, acquire_atom::value, std::uint32_t{2}, std::uint64_t{2});
  f.sched->run();
  CHECK(f.replies(self).empty());  // 5 would not fit the window of 4: it waits
  advance(self, gate, 3, 2);       // two consumed: 1 in flight, the waiter's weights now one behind
  CHECK_THAT(f.refusal(self), Catch::Contains("wait for newer weights"));
  // With the learner's weights it fits.
  self->send(gate, acquire_atom::value, std::uint32_t{2}, std::uint64_t{3});
  CHECK(f.replies(self) == std::vector<std::uint64_t>{3});
  check_books(f.stats(self, gate));
  self->send_exit(gate, caf::exit_reason::user_shutdown);
  f.sched->run();
}
