// Tests of bounded teardown: stop_and_wait names an actor blocked in a call and not the ones
// that stop; teardown_deadline ends a process whose teardown hangs (status 70), and not one whose
// teardown finishes (a forked child each).
#include <catch2/catch.hpp>

#include <future>
#include <thread>

#include <sys/wait.h>
#include <unistd.h>

#include "actors/supervision/teardown.hpp"

using namespace aha::actors;
using namespace std::chrono_literals;

TEST_CASE("teardown: stop_and_wait names the actor that is blocked and not the ones that stopped") {
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};
  std::promise<void> release;
  auto released = release.get_future().share();
  auto blocked = sys.spawn<caf::detached>([released](caf::event_based_actor* self) -> caf::behavior {
    self->send(self, caf::ok_atom::value);
    return {[released](caf::ok_atom) { released.wait(); }};  // blocked in a call: exits wait behind it
  });
  auto idle = sys.spawn([](caf::event_based_actor*) -> caf::behavior { return {[](int) {}}; });
  std::this_thread::sleep_for(50ms);  // the blocked one is inside its call now
  auto still = stop_and_wait(sys, {{"learner", blocked}, {"metrics", idle}}, 300ms);
  CHECK(still == std::vector<std::string>{"learner"});
  release.set_value();
  CHECK(stop_and_wait(sys, {{"learner", blocked}}, 10s).empty());  // it takes its exit once free
}

namespace {
int exit_status_of(void (*body)()) {
  pid_t child = ::fork();
  if (child == 0) {
    body();
    std::_Exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
}  // namespace

TEST_CASE("teardown: a teardown that hangs past its deadline ends the process with status 70") {
  CHECK(exit_status_of([] {
          teardown_deadline deadline(200ms);
          { auto armed = deadline.arm(); }  // the system's destructor would start here...
          std::this_thread::sleep_for(20s);  // ...and hang
        }) == 70);
  CHECK(exit_status_of([] {
          teardown_deadline deadline(2s);
          { auto armed = deadline.arm(); }
          std::this_thread::sleep_for(50ms);  // finishes in time
        }) == 0);
}
