// Legal programs that must pass through the sandbox untouched: threads, subprocesses, moderate
// memory, deep recursion, large-but-allowed output, stdin, exit codes, a compiled language.
#include "core/test_skip.hpp"
#include "sandbox/sandbox_test_util.hpp"

using aha::protocol::run_status;
using namespace aha::sandbox::testing;

TEST_CASE("threads run and join", "[legal]") {
  auto reply = run_python(R"(
import threading
out = [0] * 4
def work(i):
    out[i] = sum(range(100000 * (i + 1)))
ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
[t.start() for t in ts]
[t.join() for t in ts]
print(sum(out))
)");
  CHECK(reply.status == run_status::ok);
  CHECK(reply.stdout_data == "149999500000\n");
  expect_nothing_left();
}

TEST_CASE("subprocesses run", "[legal]") {
  auto reply = run_python(R"(
import subprocess, sys
print(subprocess.run(['/bin/echo', 'hi'], capture_output=True, text=True).stdout.strip())
print(subprocess.run([sys.executable, '-c', 'print(6*7)'], capture_output=True, text=True).stdout.strip())
)");
  CHECK(reply.status == run_status::ok);
  CHECK(reply.stdout_data == "hi\n42\n");
  expect_nothing_left();
}

TEST_CASE("everyday library features pass the seccomp allow-list", "[legal][seccomp]") {
  auto reply = run_python(R"(
import asyncio, concurrent.futures, json, mmap, multiprocessing, os, select, selectors, signal
import sqlite3, subprocess, tempfile, threading, time, resource, socket, shutil, random, hashlib
with multiprocessing.Pool(2) as p:
    print(p.map(abs, [-1, -2]))
with concurrent.futures.ProcessPoolExecutor(2) as e:
    print(list(e.map(abs, [-3])))
with concurrent.futures.ThreadPoolExecutor(2) as e:
    print(list(e.map(abs, [-4])))
async def main():
    await asyncio.sleep(0.01)
    p = await asyncio.create_subprocess_exec('/bin/echo', 'async', stdout=asyncio.subprocess.PIPE)
    return (await p.communicate())[0].decode().strip()
print(asyncio.run(main()))
c = sqlite3.connect(':memory:'); print(c.execute('select 6*7').fetchone()[0])
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, 'f'); open(path, 'w').write('x'); os.rename(path, path + '2')
    shutil.copy(path + '2', path); print(sorted(os.listdir(d)))
m = mmap.mmap(-1, 1 << 20); m[0:1] = b'z'; m.close()
signal.signal(signal.SIGALRM, lambda *a: None); signal.setitimer(signal.ITIMER_REAL, 0.01); time.sleep(0.05)
a, b = socket.socketpair(); a.send(b'p'); print(b.recv(1)); select.select([b], [], [], 0)
print(resource.getrlimit(resource.RLIMIT_NOFILE)[0] > 0, os.cpu_count() > 0, len(os.urandom(8)))
print(hashlib.sha256(b'').hexdigest()[:8], json.dumps({'a': random.Random(1).randint(0, 9)}))
print(subprocess.run(['/bin/sh', '-c', 'seq 3 | sort -r | head -1; echo $((6*7)) | tr 4 x; ls /tmp | wc -l'],
                     capture_output=True, text=True).stdout.split())
)", 10000, 20000);
  INFO(reply.stderr_data);
  CHECK(reply.status == run_status::ok);
  CHECK(reply.stdout_data ==
        "[1, 2]\n[3]\n[4]\nasync\n42\n['f', 'f2']\nb'p'\nTrue True 8\ne3b0c442 {\"a\": 2}\n['3', 'x2', '1']\n");
  expect_nothing_left();
}

TEST_CASE("moderate memory is allowed and measured", "[legal]") {
  auto reply = run_python("x = bytearray(100 << 20)\nx[::4096] = b'y' * len(x[::4096])\nprint(len(x))\n");
  CHECK(reply.status == run_status::ok);
  CHECK(reply.peak_memory_bytes >= (100u << 20));
  expect_nothing_left();
}

TEST_CASE("deep recursion works", "[legal]") {
  auto reply = run_python(R"(
import sys
sys.setrecursionlimit(100000)
def depth(n):
    return 0 if n == 0 else 1 + depth(n - 1)
print(depth(50000))
)");
  CHECK(reply.status == run_status::ok);
  CHECK(reply.stdout_data == "50000\n");
  expect_nothing_left();
}

TEST_CASE("large but allowed output is returned whole", "[legal]") {
  auto reply = run_python("import sys\nsys.stdout.write('y' * 900000)\n");
  CHECK(reply.status == run_status::ok);
  CHECK_FALSE(reply.stdout_truncated);
  CHECK(reply.stdout_data.size() == 900000);
  expect_nothing_left();
}

TEST_CASE("stdin, stderr and exit codes come back", "[legal]") {
  aha::protocol::sandbox_request request;
  request.source = "import sys\nx = sys.stdin.read()\nprint(x.upper(), end='')\nprint('oops', file=sys.stderr)\nsys.exit(3)\n";
  request.stdin_data = "abc\n";
  request.request_id = 77;
  auto reply = shared_executor()->run(request);
  CHECK(reply.request_id == 77);
  CHECK(reply.status == run_status::runtime_error);
  CHECK(reply.exit_code == 3);
  CHECK(reply.stdout_data == "ABC\n");
  CHECK(reply.stderr_data == "oops\n");
  expect_nothing_left();
}

TEST_CASE("a signal death is a runtime error with the signal", "[legal]") {
  // The program is pid 1 of its namespace, which ignores signals it sends itself without a
  // handler; so it faults for real.
  auto fault = run_python("import ctypes\nctypes.string_at(0)\n");
  CHECK(fault.status == run_status::runtime_error);
  CHECK(fault.signal == 11);
  expect_nothing_left();
}

TEST_CASE("a C++ program compiles and runs in the box", "[legal]") {
  if (access("/usr/bin/g++", X_OK) != 0) AHA_SKIP("no C++ compiler at /usr/bin/g++ on this host");
  aha::protocol::sandbox_request request;
  request.language = "cpp";
  request.source = "#include <cstdio>\nint main(){ std::printf(\"%d\\n\", 6 * 7); }\n";
  request.cpu_ms = 10000, request.wall_ms = 20000;
  auto reply = shared_executor()->run(request);
  CHECK(reply.status == run_status::ok);
  CHECK(reply.stdout_data == "42\n");
  expect_nothing_left();
}
