// aha::result<T>: a value or an error that says what went wrong — the run-time error tier
// (STYLE.md "Errors"). Used by every layer below the actors; actors convert to caf::error.
// Not for programmer errors: those throw or abort at start-up with file:line.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace aha {

// Stable codes so callers can branch without parsing messages.
enum class errc {
  invalid_argument,  // a caller's or user's value is not acceptable
  corrupt_data,      // bytes that do not decode (wrong magic, truncated, inconsistent)
  version_mismatch,  // well-formed, but written by an incompatible version
  not_found,         // a file, key or name that does not exist
  io_error,          // the operating system or a storage engine failed
  timeout,           // a deadline passed
  resource_limit,    // a configured bound (size, count, memory) would be exceeded
  unavailable,       // a peer or worker is gone
  internal,          // a bug: an invariant did not hold
  denied,            // authentication failed (a wrong cluster secret): the peer is refused
};

const char* to_string(errc code);

struct error {
  errc code = errc::internal;
  std::string message;  // one line: what, where, and what would be valid
};

inline error make_error(errc code, std::string message) { return error{code, std::move(message)}; }

template <class T>
class result {
 public:
  result(T value) : state_(std::move(value)) {}        // NOLINT: implicit by design
  result(aha::error failure) : state_(std::move(failure)) {}  // NOLINT

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const aha::error& error() const { return std::get<1>(state_); }

 private:
  std::variant<T, aha::error> state_;
};

// result<void>: success or an error.
struct ok_t {};
using status = result<ok_t>;
inline status ok_status() { return ok_t{}; }

}  // namespace aha
