// Bounded teardown. stop_and_wait() stops named actors and waits for them up to a deadline,
// returning the names of those still running (an actor blocked in a call cannot take its exit
// message). teardown_deadline bounds the actor system's own destructor, which waits for every
// actor: declare the deadline before the system and its arm() after it; when the system is
// still not gone `timeout` after the arm's destruction, the process says so and exits (status
// 70), instead of hanging with no culprit. Tested by actors/supervision/teardown.test.cpp.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <caf/all.hpp>

namespace aha::actors {

using named_actor = std::pair<std::string, caf::actor>;

// Sends each actor an exit (user_shutdown) and waits up to `timeout` for all of them; returns
// the names of the ones still alive then.
std::vector<std::string> stop_and_wait(caf::actor_system& sys, const std::vector<named_actor>& actors,
                                       std::chrono::milliseconds timeout);

class teardown_deadline {
 public:
  explicit teardown_deadline(std::chrono::milliseconds timeout);
  ~teardown_deadline();  // the system is gone: the countdown, if any, stands down

  // Destroyed right after the actor system's scope begins to unwind: starts the countdown.
  class arm_guard {
   public:
    explicit arm_guard(teardown_deadline& d) : deadline_(d) {}
    ~arm_guard() { deadline_.start(); }
    arm_guard(const arm_guard&) = delete;
    arm_guard& operator=(const arm_guard&) = delete;

   private:
    teardown_deadline& deadline_;
  };
  arm_guard arm() { return arm_guard(*this); }

 private:
  struct shared {
    std::mutex mutex;
    std::condition_variable finished_cv;
    bool finished = false;
  };
  void start();
  std::chrono::milliseconds timeout_;
  std::shared_ptr<shared> state_ = std::make_shared<shared>();
};

}  // namespace aha::actors
