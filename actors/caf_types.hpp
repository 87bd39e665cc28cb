// CAF glue for the protocol messages: each message is serialised by CAF as ONE byte blob, the
// same bytes protocol::encode writes to RocksDB and to the wire (STACK.md: per-element
// serialisation of big vectors is ~10x slower). Also: aha::error <-> caf::error, and the one
// place every aha message type is registered with CAF (add_message_types).
// Tested by actors/caf_types.test.cpp.
#pragma once

#include <string>

#include <caf/all.hpp>

#include "core/result.hpp"
#include "protocol/codec.hpp"
#include "protocol/messages.hpp"

namespace aha::actors {

// The error category of aha errors inside CAF (caf::error{code = errc + 1, category, context}).
constexpr caf::atom_value kErrorCategory = caf::atom("aha");

// aha::error -> caf::error (code = errc + 1, because a caf::error with code 0 means "no error";
// the message is kept as the context string).
caf::error to_caf_error(const aha::error& failure);
caf::error to_caf_error(errc code, std::string message);
// The errc inside a caf::error made by to_caf_error; errc::internal for any other error.
errc errc_of(const caf::error& failure);
// One line for any caf::error: "aha: timeout (what went wrong)" or CAF's own rendering.
std::string describe(const caf::error& failure);

namespace detail {
// Decodes `bytes` into `x`; the caf::error names the type and what is wrong.
template <class T>
caf::error load_blob(const std::string& bytes, T& x) {
  auto decoded = protocol::decode<T>(bytes);
  if (!decoded) return to_caf_error(decoded.error());
  x = std::move(*decoded);
  return caf::none;
}
}  // namespace detail

}  // namespace aha::actors

// inspect() must live in the messages' namespace (found by ADL).
namespace aha::protocol {

// Saving: encode once into a blob. Loading: read the blob, then decode it (load_callback).
// A to_string inspector (logging, test DSL) sees the blob's size-prefixed bytes.
#define AHA_CAF_BLOB_INSPECT(type)                                                                   \
  template <class Inspector>                                                                         \
  typename Inspector::result_type inspect(Inspector& f, type& x) {                                  \
    std::string bytes;                                                                               \
    if constexpr (Inspector::reads_state) bytes = encode(x);                                         \
    auto load = caf::meta::load_callback([&]() -> caf::error { return aha::actors::detail::load_blob(bytes, x); }); \
    return f(caf::meta::type_name("aha." #type), bytes, load);                                       \
  }

AHA_CAF_BLOB_INSPECT(prompt)
AHA_CAF_BLOB_INSPECT(rollout)
AHA_CAF_BLOB_INSPECT(reward_verdict)
AHA_CAF_BLOB_INSPECT(scored_group)
AHA_CAF_BLOB_INSPECT(learner_batch)
AHA_CAF_BLOB_INSPECT(weight_update_header)
AHA_CAF_BLOB_INSPECT(node_registration)
AHA_CAF_BLOB_INSPECT(sandbox_request)
AHA_CAF_BLOB_INSPECT(sandbox_reply)

#undef AHA_CAF_BLOB_INSPECT

// A reward component travels inside other messages (worker replies): field by field.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, reward_component& x) {
  return f(caf::meta::type_name("aha.reward_component"), x.kind, x.value, x.weight, x.status, x.detail);
}

}  // namespace aha::protocol
