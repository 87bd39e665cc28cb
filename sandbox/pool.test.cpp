// The pool: concurrent runs with distinct slots, backpressure, shutdown answers, and cleanup of
// every run when the owning process is killed (SIGKILL) mid-run; cancelling a run (ticket, or a
// deadline_scope) kills it and frees its slot.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "sandbox/pool.hpp"
#include "sandbox/sandbox_test_util.hpp"

using aha::protocol::run_status;
using aha::sandbox::pool;
using namespace aha::sandbox::testing;

namespace {
aha::protocol::sandbox_request python(std::string source, std::uint64_t id = 0) {
  aha::protocol::sandbox_request request;
  request.source = std::move(source);
  request.request_id = id;
  request.cpu_ms = 2000, request.wall_ms = 4000;
  return request;
}
}  // namespace

TEST_CASE("pool runs many programs concurrently and answers each", "[pool]") {
  pool p(shared_executor(), 3, 4);
  std::vector<std::future<aha::protocol::sandbox_reply>> replies;
  for (std::uint64_t i = 0; i < 12; ++i) replies.push_back(p.submit(python("print(" + std::to_string(i) + " * 2)", i)));
  for (std::uint64_t i = 0; i < 12; ++i) {
    auto reply = replies[i].get();
    CHECK(reply.request_id == i);
    CHECK(reply.status == run_status::ok);
    CHECK(reply.stdout_data == std::to_string(i * 2) + "\n");
  }
  CHECK(p.run(python("print('one-off')")).stdout_data == "one-off\n");
  expect_nothing_left();
}

TEST_CASE("pool applies backpressure when its queue is full", "[pool]") {
  pool p(shared_executor(), 1, 1);
  std::atomic<int> done{0};
  auto count = [&](aha::protocol::sandbox_reply) { ++done; };
  REQUIRE(p.try_submit(python("import time\ntime.sleep(0.5)"), count));  // taken by the worker
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE(p.try_submit(python("print(1)"), count));   // fills the queue
  CHECK_FALSE(p.try_submit(python("print(2)"), count));  // full: refused, not queued
  CHECK(p.submit(python("print(3)"), count));         // blocks until room, then queues
  while (done < 3) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(done == 3);
  expect_nothing_left();
}

TEST_CASE("killing the pool's owner kills every run and the next executor sweeps its cgroups", "[pool]") {
  pid_t owner = fork();
  if (owner == 0) {
    auto p = pool::create(aha::sandbox::sandbox_config{});
    if (!p) _exit(3);
    for (int i = 0; i < 2; ++i) p.value()->submit(python("import time, os\nos.fork()\ntime.sleep(60)"), [](auto) {});
    std::this_thread::sleep_for(std::chrono::seconds(60));
    _exit(0);
  }
  // Wait until both runs are up (two workers, two processes each), then kill the owner.
  for (int i = 0; i < 1000 && sandbox_processes(owner) < 4; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(sandbox_processes(owner) >= 4);
  kill(owner, SIGKILL);
  waitpid(owner, nullptr, 0);
  for (int i = 0; i < 1000 && sandbox_processes(owner) > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(sandbox_processes(owner) == 0);
  auto fresh = aha::sandbox::executor::create(aha::sandbox::sandbox_config{});
  REQUIRE(fresh);
  const auto& layout = fresh.value()->cgroups();
  for (const auto& parent : {layout.memory, layout.pids, layout.cpuacct, layout.unified}) {
    if (!parent.empty()) CHECK_FALSE(host_path_exists(parent + "/" + std::to_string(owner) + "-0"));
  }
}

TEST_CASE("pool workers' shared per-slot network namespace stays empty and private", "[pool]") {
  pool p(shared_executor(), 1, 4);
  // Run 1 listens on an abstract unix socket (they live in the network namespace) and exits.
  auto first = p.run(python("import socket\ns = socket.socket(socket.AF_UNIX)\ns.bind('\\0aha_slot')\ns.listen()\nprint('bound')"));
  REQUIRE(first.stdout_data == "bound\n");
  auto second = p.run(python(R"(
import socket
s = socket.socket(socket.AF_UNIX)
try:
    s.connect('\0aha_slot')
    print('CONNECTED')
except OSError as e:
    print('refused', e.errno)
try:
    socket.socket(socket.AF_INET).connect(('127.0.0.1', 22))
    print('INET')
except OSError as e:
    print('inet denied', e.errno)
print(open('/proc/net/dev').read().count(':'))
)"));
  CHECK(second.status == run_status::ok);
  CHECK(second.stdout_data.find("refused 111") != std::string::npos);  // ECONNREFUSED: nobody left
  CHECK(second.stdout_data.find("inet denied") != std::string::npos);
  CHECK(second.stdout_data.find("\n1\n") != std::string::npos);  // only lo
  expect_nothing_left();
}

TEST_CASE("limits hold for runs born inside a worker's resident cgroup", "[pool]") {
  pool p(shared_executor(), 1, 4);
  auto bomb = python("x = []\nwhile True:\n    x.append(bytearray(4 << 20))\n");
  bomb.memory_bytes = 64 << 20;
  auto memory = p.run(bomb);
  CHECK(memory.status == run_status::memory_limit);
  CHECK(memory.peak_memory_bytes <= (64u << 20) + (1u << 20));

  auto forks = p.run(python(R"(
import os, time
n = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(5)
            os._exit(0)
        n += 1
except OSError:
    print('stopped', n < 64)
)"));
  CHECK(forks.status == run_status::ok);
  CHECK(forks.stdout_data == "stopped True\n");

  auto spin = python("import threading\ndef spin():\n    while True: pass\nfor _ in range(4): threading.Thread(target=spin, daemon=True).start()\nspin()\n");
  spin.cpu_ms = 500, spin.wall_ms = 20000;
  auto cpu = p.run(spin);
  CHECK(cpu.status == run_status::time_limit);
  CHECK(cpu.cpu_ms >= 500);
  CHECK(cpu.wall_ms < 19000);
  auto idle = p.run(python("import time\ntime.sleep(0.3)\n"));
  CHECK(idle.cpu_ms < 200);  // the worker thread's own CPU time is not charged to the program
  expect_nothing_left();
}

namespace {
// Waits (hang guard: 5 s) until this process has at least `n` sandboxed processes running.
bool wait_for_processes(int n) {
  for (int i = 0; i < 500 && sandbox_processes() < n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return sandbox_processes() >= n;
}
}  // namespace

TEST_CASE("a cancelled run is killed and frees its slot at once", "[pool]") {
  pool p(shared_executor(), 1, 4);  // one slot: the next run can only start once it is free
  auto sleeper = python("import os, time\nos.fork()\ntime.sleep(60)\n");
  sleeper.wall_ms = 60000;
  std::promise<aha::protocol::sandbox_reply> cancelled;
  auto ticket = p.submit_cancellable(sleeper, [&](aha::protocol::sandbox_reply r) { cancelled.set_value(std::move(r)); });
  REQUIRE(ticket.accepted());
  REQUIRE(wait_for_processes(2));
  const auto start = std::chrono::steady_clock::now();
  ticket.cancel();
  auto reply = cancelled.get_future().get();
  CHECK(reply.status == run_status::sandbox_error);
  CHECK(reply.error == "cancelled by the caller");
  CHECK(sandbox_processes() == 0);  // both processes of the run are gone when it is answered
  CHECK(p.run(python("print('next')")).stdout_data == "next\n");  // the only slot is free again
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));  // hang guard; wall was 60 s
  ticket.cancel();  // after the end: harmless
  // A run cancelled while still queued is never started.
  pool busy(shared_executor(), 1, 4);
  auto blocker = busy.submit(python("import time\ntime.sleep(0.5)\n"));
  std::promise<aha::protocol::sandbox_reply> dropped;
  auto queued = busy.submit_cancellable(python("print('RAN')"), [&](auto r) { dropped.set_value(std::move(r)); });
  queued.cancel();
  auto never = dropped.get_future().get();
  CHECK(never.stdout_data.empty());
  CHECK(never.error == "cancelled by the caller");
  CHECK(blocker.get().status == run_status::ok);
  expect_nothing_left();
}

TEST_CASE("a run still going at its caller's deadline is killed then and its slot freed", "[pool]") {
  pool p(shared_executor(), 1, 4);
  auto sleeper = python("import time\ntime.sleep(60)\n");
  sleeper.wall_ms = 60000;
  std::future<aha::protocol::sandbox_reply> late;
  const auto start = std::chrono::steady_clock::now();
  {
    aha::sandbox::deadline_scope deadline(start + std::chrono::milliseconds(800));
    CHECK(aha::sandbox::deadline_scope::current() == start + std::chrono::milliseconds(800));
    late = p.submit(sleeper);
  }
  CHECK(aha::sandbox::deadline_scope::current() == aha::sandbox::deadline_scope::time_point{});
  auto reply = late.get();
  const auto stopped = std::chrono::steady_clock::now() - start;
  CHECK(reply.status == run_status::sandbox_error);
  CHECK(reply.error == "cancelled: the caller's deadline passed");
  CHECK(stopped >= std::chrono::milliseconds(800));
  CHECK(stopped < std::chrono::seconds(10));  // hang guard; its own wall limit was 60 s
  CHECK(sandbox_processes() == 0);
  auto following = p.run(python("print('next')"));  // outside the scope: no deadline
  CHECK(following.status == run_status::ok);
  CHECK(following.stdout_data == "next\n");
  // A run whose deadline passed while it was queued is not started.
  {
    aha::sandbox::deadline_scope gone(std::chrono::steady_clock::now() - std::chrono::milliseconds(1));
    auto stale = p.submit(python("print('RAN')")).get();
    CHECK(stale.stdout_data.empty());
    CHECK(stale.error.find("deadline passed before the run started") != std::string::npos);
  }
  expect_nothing_left();
}
