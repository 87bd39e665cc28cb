// The non-template half of the codec (protocol/codec.hpp): frame opening with limits, names,
// and the cross-field invariants of protocol/messages.hpp.
#include "protocol/codec.hpp"

#include <sstream>

namespace aha::protocol {

const char* to_string(type_id id) {
  switch (id) {
    case type_id::prompt: return "prompt";
    case type_id::rollout: return "rollout";
    case type_id::reward_verdict: return "reward_verdict";
    case type_id::scored_group: return "scored_group";
    case type_id::learner_batch: return "learner_batch";
    case type_id::weight_update_header: return "weight_update_header";
    case type_id::node_registration: return "node_registration";
    case type_id::sandbox_request: return "sandbox_request";
    case type_id::sandbox_reply: return "sandbox_reply";
  }
  return "unknown type";
}

const char* to_string(run_status status) {
  switch (status) {
    case run_status::ok: return "OK";
    case run_status::runtime_error: return "RUNTIME_ERROR";
    case run_status::time_limit: return "TIME_LIMIT";
    case run_status::memory_limit: return "MEMORY_LIMIT";
    case run_status::output_limit: return "OUTPUT_LIMIT";
    case run_status::sandbox_error: return "SANDBOX_ERROR";
    case run_status::wrong_answer: return "WRONG_ANSWER";
  }
  return "UNKNOWN";
}

std::string check(const rollout& m) {
  if (m.completion_tokens.size() != m.behaviour_logprobs.size()) {
    return std::to_string(m.completion_tokens.size()) + " completion tokens but " +
           std::to_string(m.behaviour_logprobs.size()) + " behaviour log-probs";
  }
  return {};
}

std::string check(const scored_group& m) {
  const std::size_t g = m.rollouts.size();
  if (m.verdicts.size() != g || m.rewards.size() != g || m.advantages.size() != g) {
    std::ostringstream out;
    out << "group of " << g << " rollouts has " << m.verdicts.size() << " verdicts, " << m.rewards.size()
        << " rewards and " << m.advantages.size() << " advantages";
    return out.str();
  }
  for (const auto& r : m.rollouts) {
    if (r.prompt_id != m.source.id) return "a rollout answers prompt " + std::to_string(r.prompt_id) +
                                          ", not the group's prompt " + std::to_string(m.source.id);
  }
  return {};
}

std::string check(const weight_update_header& m) {
  for (const auto& t : m.tensors) {
    if (t.offset > m.total_bytes || t.size > m.total_bytes - t.offset) {
      return "tensor '" + t.name + "' lies outside the " + std::to_string(m.total_bytes) + "-byte payload";
    }
  }
  return {};
}

namespace detail {

namespace {

const char* type_name(const msgpack::object& o) {
  switch (o.type) {
    case msgpack::type::NIL: return "nil";
    case msgpack::type::BOOLEAN: return "a boolean";
    case msgpack::type::POSITIVE_INTEGER: return "a positive integer";
    case msgpack::type::NEGATIVE_INTEGER: return "a negative integer";
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: return "a float";
    case msgpack::type::STR: return "a string";
    case msgpack::type::BIN: return "a blob";
    case msgpack::type::ARRAY: return "an array";
    case msgpack::type::MAP: return "a map";
    case msgpack::type::EXT: return "an extension";
  }
  return "an unknown msgpack type";
}

// Strings and blobs point into the caller's buffer: no copy until a field takes them.
bool reference_in_place(msgpack::type::object_type, std::size_t, void*) { return true; }

result<msgpack::object> unpack_frame(const char* data, std::size_t size, const decode_limits& limits,
                                     msgpack::object_handle& storage) {
  if (size > limits.max_frame_bytes) {
    return make_error(errc::resource_limit, "frame of " + std::to_string(size) + " bytes exceeds the " +
                                                std::to_string(limits.max_frame_bytes) + "-byte limit");
  }
  if (size == 0) return make_error(errc::corrupt_data, "empty frame");
  msgpack::unpack_limit bounds(limits.max_array, 0, limits.max_string, limits.max_bin, 0, limits.max_depth);
  std::size_t offset = 0;
  try {
    msgpack::unpack(storage, data, size, offset, reference_in_place, nullptr, bounds);
  } catch (const msgpack::insufficient_bytes&) {
    return make_error(errc::corrupt_data, "truncated frame (" + std::to_string(size) + " bytes)");
  } catch (const std::exception& e) {
    return make_error(errc::corrupt_data, std::string("malformed msgpack: ") + e.what());
  }
  if (offset != size) {
    return make_error(errc::corrupt_data, std::to_string(size - offset) + " trailing bytes after the frame");
  }
  const msgpack::object& frame = storage.get();
  if (frame.type != msgpack::type::ARRAY || frame.via.array.size != 4) {
    return make_error(errc::corrupt_data, "not an aha frame (expected [magic, type, version, body])");
  }
  const msgpack::object* parts = frame.via.array.ptr;
  if (parts[0].type != msgpack::type::POSITIVE_INTEGER || parts[0].via.u64 != kMagic) {
    return make_error(errc::corrupt_data, "bad magic: not an aha frame");
  }
  if (parts[1].type != msgpack::type::POSITIVE_INTEGER || parts[1].via.u64 > 0xffff ||
      parts[2].type != msgpack::type::POSITIVE_INTEGER || parts[2].via.u64 > 0xffff) {
    return make_error(errc::corrupt_data, "bad frame header: type id and version must be 16-bit integers");
  }
  return frame;
}

}  // namespace

void unpacker::expected(const std::string& path, const char* what, const msgpack::object& o) {
  problem = path + ": expected " + what + ", got " + type_name(o);
}

result<msgpack::object> open_frame(const char* data, std::size_t size, type_id expected_type,
                                   std::uint16_t expected_version, const decode_limits& limits,
                                   msgpack::object_handle& storage) {
  auto frame = unpack_frame(data, size, limits, storage);
  if (!frame) return frame.error();
  const msgpack::object* parts = frame->via.array.ptr;
  auto type = static_cast<type_id>(parts[1].via.u64);
  auto version = static_cast<std::uint16_t>(parts[2].via.u64);
  if (type != expected_type) {
    return make_error(errc::corrupt_data, std::string("expected a ") + to_string(expected_type) + " frame, got type id " +
                                              std::to_string(parts[1].via.u64) + " (" + to_string(type) + ")");
  }
  if (version != expected_version) {
    return make_error(errc::version_mismatch, std::string(to_string(type)) + " schema version " +
                                                  std::to_string(version) + " cannot be read; this build reads version " +
                                                  std::to_string(expected_version));
  }
  return parts[3];
}

}  // namespace detail

result<frame_header> peek(std::string_view bytes, const decode_limits& limits) {
  msgpack::object_handle storage;
  auto frame = detail::unpack_frame(bytes.data(), bytes.size(), limits, storage);
  if (!frame) return frame.error();
  const msgpack::object* parts = frame->via.array.ptr;
  return frame_header{static_cast<type_id>(parts[1].via.u64), static_cast<std::uint16_t>(parts[2].via.u64)};
}

}  // namespace aha::protocol
