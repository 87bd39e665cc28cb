// Encoding and decoding of a holder clone request (see spawn_wire.hpp). Little-endian fixed-width
// integers and length-prefixed strings; a magic word first so that a spawner of another build
// refuses the bytes instead of misreading them. And the one way messages with descriptors are sent.
#include "sandbox/spawn_wire.hpp"

#include <sys/socket.h>

#include <cstring>

namespace aha::sandbox {
namespace {

constexpr std::uint32_t kMagic = 0x61686131;  // "aha1"
constexpr std::uint32_t kMaxSteps = 4096;

void put_u32(std::string& out, std::uint32_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }
void put_u64(std::string& out, std::uint64_t v) { out.append(reinterpret_cast<const char*>(&v), sizeof v); }
void put_str(std::string& out, const std::string& s) {
  put_u32(out, static_cast<std::uint32_t>(s.size()));
  out.append(s);
}

struct reader {
  const std::string& bytes;
  std::size_t at = 0;
  bool bad = false;
  template <class T>
  T number() {
    T v{};
    if (bytes.size() - at < sizeof v) return bad = true, v;
    std::memcpy(&v, bytes.data() + at, sizeof v);
    at += sizeof v;
    return v;
  }
  std::string text() {
    std::uint32_t n = number<std::uint32_t>();
    if (bad || bytes.size() - at < n) return bad = true, std::string();
    std::string s = bytes.substr(at, n);
    at += n;
    return s;
  }
};

}  // namespace

std::string encode_hold(const jail_plan& plan, bool new_network) {
  std::string out;
  put_u32(out, kMagic);
  put_u32(out, new_network ? 1 : 0);
  put_str(out, plan.new_root);
  put_str(out, plan.hostname);
  put_u32(out, static_cast<std::uint32_t>(plan.steps.size()));
  for (const auto& step : plan.steps) {
    put_u32(out, static_cast<std::uint32_t>(step.what));
    put_str(out, step.source);
    put_str(out, step.target);
    put_u64(out, step.flags);
    put_u32(out, step.contents ? 1 : 0);
    if (step.contents) put_str(out, *step.contents);
  }
  return out;
}

std::string decode_hold(const std::string& bytes, hold_request& out) {
  reader in{bytes};
  if (in.number<std::uint32_t>() != kMagic || in.bad) return "not a hold request (bad magic)";
  out.new_network = in.number<std::uint32_t>() != 0;
  out.plan.hold = true;
  out.plan.new_root = in.text();
  out.plan.hostname = in.text();
  std::uint32_t count = in.number<std::uint32_t>();
  if (in.bad) return "truncated header";
  if (count > kMaxSteps) return "too many mount steps";
  if (out.plan.new_root.empty() || out.plan.new_root[0] != '/') return "new root is not an absolute path";
  for (std::uint32_t i = 0; i < count && !in.bad; ++i) {
    mount_step step;
    std::uint32_t kind = in.number<std::uint32_t>();
    if (kind > static_cast<std::uint32_t>(mount_step::kind::remount_ro)) return "unknown mount step kind";
    step.what = static_cast<mount_step::kind>(kind);
    step.source = in.text();
    step.target = in.text();
    step.flags = in.number<std::uint64_t>();
    if (in.number<std::uint32_t>() != 0) {
      out.contents.push_back(in.text());
      step.contents = &out.contents.back();
    }
    if (step.what == mount_step::kind::write_file && !step.contents) return "write_file step without contents";
    out.plan.steps.push_back(std::move(step));
  }
  if (in.bad) return "truncated mount steps";
  if (in.at != bytes.size()) return "trailing bytes";
  return {};
}

bool send_with_fds(int socket, const void* data, std::size_t size, const int* fds, std::size_t count) {
  constexpr std::size_t kMaxFds = 8;
  if (count > kMaxFds) return false;
  iovec payload{const_cast<void*>(data), size};
  alignas(cmsghdr) char control[CMSG_SPACE(kMaxFds * sizeof(int))] = {};
  msghdr message{};
  message.msg_iov = &payload, message.msg_iovlen = 1;
  if (count > 0) {
    message.msg_control = control, message.msg_controllen = CMSG_SPACE(count * sizeof(int));
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET, header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(count * sizeof(int));
    std::memcpy(CMSG_DATA(header), fds, count * sizeof(int));
  }
  return sendmsg(socket, &message, MSG_NOSIGNAL) == static_cast<ssize_t>(size);
}

}  // namespace aha::sandbox
