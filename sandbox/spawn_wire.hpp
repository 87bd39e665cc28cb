// The bytes aha sends the sandbox spawner (sandbox/spawner.hpp) for one holder clone: the parts
// of a jail_plan a warm run's holder needs (jail_plan::hold: the new root's mount steps and the
// hostname) and whether the clone makes a new network namespace. Compiled into both aha
// (encode) and the spawner executable (decode, sandbox/spawner_main.cpp), so it depends on
// nothing but the standard library and jail.hpp. Decoding checks every length against the
// buffer and every enum against its range. Tested in sandbox/spawner.test.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>

#include "sandbox/jail.hpp"

namespace aha::sandbox {

// One decoded request. `plan.steps[i].contents` point into `contents`, so a hold_request is
// neither copied nor moved once decoded.
struct hold_request {
  bool new_network = true;
  jail_plan plan;
  std::deque<std::string> contents;  // deque: elements keep their address as it grows
  hold_request() = default;
  hold_request(const hold_request&) = delete;
  hold_request& operator=(const hold_request&) = delete;
};

// The plan's new_root, hostname and steps (write_file contents inline), and new_network.
std::string encode_hold(const jail_plan& plan, bool new_network);

// Fills `out` (plan.hold set, descriptors left at -1 for the caller). Returns an empty string on
// success, else what is wrong with the bytes.
std::string decode_hold(const std::string& bytes, hold_request& out);

// Why the spawner could not clone, or the clone's pid: the reply's fixed part. A pidfd travels
// with it (SCM_RIGHTS) when pid > 0.
struct spawn_reply {
  std::int32_t pid = -1;
  std::int32_t error = 0;  // errno of the failed step when pid <= 0
};

// One message on a Unix socket: `size` bytes of `data` and `count` descriptors (SCM_RIGHTS; none
// when count is 0). True when all of it was sent. aha's requests to the spawner and the warm
// zygote, and the spawner's replies, all travel this way.
bool send_with_fds(int socket, const void* data, std::size_t size, const int* fds, std::size_t count);

}  // namespace aha::sandbox
