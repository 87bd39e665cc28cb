// Bounded teardown (actors/supervision/teardown.hpp).
#include "actors/supervision/teardown.hpp"

#include <cstdio>
#include <cstdlib>
#include <map>
#include <thread>

namespace aha::actors {

std::vector<std::string> stop_and_wait(caf::actor_system& sys, const std::vector<named_actor>& actors,
                                       std::chrono::milliseconds timeout) {
  caf::scoped_actor self{sys};
  std::map<caf::actor_addr, std::string> alive;
  for (const auto& [name, handle] : actors) {
    if (!handle) continue;
    alive[handle.address()] = name;
    self->monitor(handle);  // an actor already gone answers with a down message at once
    self->send_exit(handle, caf::exit_reason::user_shutdown);
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!alive.empty()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    bool expired = false;
    self->receive([&](const caf::down_msg& down) { alive.erase(down.source); },
                  caf::after(left) >> [&] { expired = true; });
    if (expired) break;
  }
  std::vector<std::string> out;
  for (const auto& [addr, name] : alive) {
    self->demonitor(addr);
    out.push_back(name);
  }
  return out;
}

teardown_deadline::teardown_deadline(std::chrono::milliseconds timeout) : timeout_(timeout) {}

teardown_deadline::~teardown_deadline() {
  std::lock_guard<std::mutex> lock(state_->mutex);
  state_->finished = true;
  state_->finished_cv.notify_all();
}

void teardown_deadline::start() {
  std::thread([state = state_, timeout = timeout_] {
    std::unique_lock<std::mutex> lock(state->mutex);
    if (state->finished_cv.wait_for(lock, timeout, [&] { return state->finished; })) return;
    std::fprintf(stderr,
                 "aha: teardown did not finish within %lld s: an actor is still blocked (the watchdog's and the "
                 "teardown's lines above name it); exiting\n",
                 static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(timeout).count()));
    std::fflush(stderr);
    std::_Exit(70);
  }).detach();
}

}  // namespace aha::actors
