// Unit tests of the restart policy: doubling backoff with a cap, the give-up limit, the window.
#include <catch2/catch.hpp>

#include "actors/supervision/restart_policy.hpp"

using namespace aha::actors;
using std::chrono::milliseconds;
using std::chrono::seconds;

TEST_CASE("restart policy: the backoff doubles per death in the window, up to its cap") {
  supervision_config config;
  config.max_restarts = 10;
  config.restart_backoff = milliseconds(1000);
  config.max_backoff = milliseconds(5000);
  restart_policy policy(config);
  auto t = restart_policy::clock_type::now();
  CHECK(policy.on_death(t) == milliseconds(1000));
  CHECK(policy.on_death(t + seconds(1)) == milliseconds(2000));
  CHECK(policy.on_death(t + seconds(2)) == milliseconds(4000));
  CHECK(policy.on_death(t + seconds(3)) == milliseconds(5000));
  CHECK(policy.on_death(t + seconds(4)) == milliseconds(5000));
}

TEST_CASE("restart policy: one death more than max_restarts inside the window gives up, and old deaths age out") {
  supervision_config config;
  config.max_restarts = 2;
  config.restart_window = seconds(60);
  restart_policy policy(config);
  auto t = restart_policy::clock_type::now();
  CHECK(policy.on_death(t));
  CHECK(policy.on_death(t + seconds(10)));
  CHECK_FALSE(policy.on_death(t + seconds(20)));  // a generator crashing deterministically: not forever
  restart_policy later(config);
  CHECK(later.on_death(t));
  CHECK(later.on_death(t + seconds(10)));
  CHECK(later.on_death(t + seconds(100)));  // the first two are outside the window now
  CHECK(later.recent_deaths() == 1);
  CHECK(later.on_death(t + seconds(101)) == config.restart_backoff * 2);
}

TEST_CASE("restart policy: max_restarts 0 never replaces") {
  supervision_config config;
  config.max_restarts = 0;
  restart_policy policy(config);
  CHECK_FALSE(policy.on_death(restart_policy::clock_type::now()));
}
