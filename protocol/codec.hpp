// msgpack encoding of the messages in protocol/messages.hpp — the bytes on every wire and in
// RocksDB. A frame is the array [magic "AHA1", type id, schema version, body]; the body is the
// array of the type's fields. Decoding never trusts its input: wrong magic, type or version,
// truncation, oversize containers, bad enum values and inconsistent lengths give an error that
// names the problem (and the field path), never a crash or an unbounded allocation.
// Tested by protocol/codec.test.cpp and fuzzed by protocol/codec.fuzz.cpp.
#pragma once

#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>

#include <msgpack.hpp>

#include "core/result.hpp"
#include "protocol/messages.hpp"

namespace aha::protocol {

constexpr std::uint32_t kMagic = 0x41484131;  // "AHA1"

// Bounds on what a decoder accepts; a frame over them is rejected before its body is built.
struct decode_limits {
  std::size_t max_frame_bytes = std::size_t{1} << 30;  // 1 GiB
  std::size_t max_array = std::size_t{1} << 24;        // elements in any one array
  std::size_t max_string = std::size_t{1} << 28;       // bytes in any one string
  std::size_t max_bin = std::size_t{1} << 30;          // bytes in any one blob
  std::size_t max_depth = 16;                          // nesting of containers
};

struct frame_header {
  type_id type;
  std::uint16_t version;
};

namespace detail {

template <class T> struct is_vector : std::false_type {};
template <class T, class A> struct is_vector<std::vector<T, A>> : std::true_type {};
// Vectors of numbers travel as blobs; other vectors as msgpack arrays.
template <class T> struct is_blob : std::false_type {};
template <class T, class A> struct is_blob<std::vector<T, A>> : std::is_arithmetic<T> {};

// The packing visitor: writes each field in declaration order.
class packer {
 public:
  explicit packer(msgpack::packer<msgpack::sbuffer>& out) : out_(out) {}

  template <class T>
  packer& operator()(const T& x, const char* /*name*/) {
    put(x);
    return *this;
  }
  template <class T>
  void put(const T& x) {
    if constexpr (std::is_enum_v<T>) {
      out_.pack(static_cast<std::underlying_type_t<T>>(x));
    } else if constexpr (std::is_same_v<T, bool> || std::is_arithmetic_v<T>) {
      out_.pack(x);
    } else if constexpr (std::is_same_v<T, std::string>) {
      out_.pack_str(static_cast<std::uint32_t>(x.size()));
      out_.pack_str_body(x.data(), static_cast<std::uint32_t>(x.size()));
    } else if constexpr (is_blob<T>::value) {
      // Numeric arrays as one little-endian blob (x86-64 and aarch64 are little-endian).
      static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "blob encoding assumes little-endian");
      auto bytes = static_cast<std::uint32_t>(x.size() * sizeof(typename T::value_type));
      out_.pack_bin(bytes);
      out_.pack_bin_body(reinterpret_cast<const char*>(x.data()), bytes);
    } else if constexpr (is_vector<T>::value) {
      out_.pack_array(static_cast<std::uint32_t>(x.size()));
      for (const auto& item : x) put(item);
    } else {
      put_body(x);
    }
  }
  template <class T>
  void put_body(const T& x) {
    counter count;
    fields(count, const_cast<T&>(x));
    out_.pack_array(count.n);
    fields(*this, const_cast<T&>(x));
  }

 private:
  struct counter {
    std::uint32_t n = 0;
    template <class T>
    counter& operator()(T&, const char*) {
      ++n;
      return *this;
    }
  };
  msgpack::packer<msgpack::sbuffer>& out_;
};

// The reading visitor: fills each field from the body array, recording the first problem.
class unpacker {
 public:
  explicit unpacker(const msgpack::object& array, std::string path) : array_(array), path_(std::move(path)) {}

  template <class T>
  unpacker& operator()(T& x, const char* name) {
    if (!problem.empty()) return *this;
    if (index_ >= array_.via.array.size) {
      problem = path_ + "." + name + ": missing (the body has " + std::to_string(array_.via.array.size) + " fields)";
      return *this;
    }
    get(array_.via.array.ptr[index_++], x, path_ + "." + name);
    return *this;
  }

  template <class T>
  void get(const msgpack::object& o, T& x, const std::string& path) {
    if constexpr (std::is_enum_v<T>) {
      std::uint64_t raw = 0;
      if (!get_unsigned(o, raw, path)) return;
      if (raw > static_cast<std::uint64_t>(T::kLast)) {
        problem = path + ": enum value " + std::to_string(raw) + " is out of range";
        return;
      }
      x = static_cast<T>(raw);
    } else if constexpr (std::is_same_v<T, bool>) {
      if (o.type != msgpack::type::BOOLEAN) return expected(path, "a boolean", o);
      x = o.via.boolean;
    } else if constexpr (std::is_integral_v<T> && std::is_unsigned_v<T>) {
      std::uint64_t raw = 0;
      if (!get_unsigned(o, raw, path)) return;
      if (raw > std::numeric_limits<T>::max()) {
        problem = path + ": " + std::to_string(raw) + " does not fit";
        return;
      }
      x = static_cast<T>(raw);
    } else if constexpr (std::is_integral_v<T>) {
      std::int64_t raw = 0;
      if (o.type == msgpack::type::POSITIVE_INTEGER && o.via.u64 <= static_cast<std::uint64_t>(INT64_MAX)) {
        raw = static_cast<std::int64_t>(o.via.u64);
      } else if (o.type == msgpack::type::NEGATIVE_INTEGER) {
        raw = o.via.i64;
      } else {
        return expected(path, "an integer", o);
      }
      if (raw > std::numeric_limits<T>::max() || raw < std::numeric_limits<T>::min()) {
        problem = path + ": " + std::to_string(raw) + " does not fit";
        return;
      }
      x = static_cast<T>(raw);
    } else if constexpr (std::is_floating_point_v<T>) {
      if (o.type == msgpack::type::FLOAT32 || o.type == msgpack::type::FLOAT64) {
        x = static_cast<T>(o.via.f64);
      } else if (o.type == msgpack::type::POSITIVE_INTEGER) {
        x = static_cast<T>(o.via.u64);
      } else if (o.type == msgpack::type::NEGATIVE_INTEGER) {
        x = static_cast<T>(o.via.i64);
      } else {
        return expected(path, "a number", o);
      }
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (o.type != msgpack::type::STR) return expected(path, "a string", o);
      x.assign(o.via.str.ptr, o.via.str.size);
    } else if constexpr (is_blob<T>::value) {
      using item = typename T::value_type;
      if (o.type != msgpack::type::BIN) return expected(path, "a blob", o);
      if (o.via.bin.size % sizeof(item) != 0) {
        problem = path + ": blob of " + std::to_string(o.via.bin.size) + " bytes is not a whole number of " +
                  std::to_string(sizeof(item)) + "-byte elements";
        return;
      }
      x.resize(o.via.bin.size / sizeof(item));
      if (!x.empty()) std::memcpy(x.data(), o.via.bin.ptr, o.via.bin.size);
    } else if constexpr (is_vector<T>::value) {
      if (o.type != msgpack::type::ARRAY) return expected(path, "an array", o);
      x.clear();
      x.resize(o.via.array.size);  // bounded: each element took at least one input byte
      for (std::uint32_t i = 0; i < o.via.array.size && problem.empty(); ++i) {
        get(o.via.array.ptr[i], x[i], path + "[" + std::to_string(i) + "]");
      }
    } else {
      get_body(o, x, path);
    }
  }

  template <class T>
  void get_body(const msgpack::object& o, T& x, const std::string& path) {
    if (o.type != msgpack::type::ARRAY) return expected(path, "a field array", o);
    unpacker inner(o, path);
    fields(inner, x);
    if (inner.problem.empty() && inner.index_ != o.via.array.size) {
      inner.problem = path + ": " + std::to_string(o.via.array.size) + " fields, expected " +
                      std::to_string(inner.index_);
    }
    if (inner.problem.empty()) {
      std::string invariant = check(x);
      if (!invariant.empty()) inner.problem = path + ": " + invariant;
    }
    problem = std::move(inner.problem);
  }

  std::string problem;

 private:
  bool get_unsigned(const msgpack::object& o, std::uint64_t& out, const std::string& path) {
    if (o.type != msgpack::type::POSITIVE_INTEGER) {
      expected(path, "a non-negative integer", o);
      return false;
    }
    out = o.via.u64;
    return true;
  }
  void expected(const std::string& path, const char* what, const msgpack::object& o);

  const msgpack::object& array_;
  std::string path_;
  std::uint32_t index_ = 0;
};

// Unpacks the frame, checks magic/type/version, and returns the body object (zone-owned).
result<msgpack::object> open_frame(const char* data, std::size_t size, type_id expected_type,
                                   std::uint16_t expected_version, const decode_limits& limits,
                                   msgpack::object_handle& storage);

}  // namespace detail

// Encodes `message` as one frame. The returned string is a byte buffer (not text).
template <class T>
std::string encode(const T& message) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> out(buffer);
  out.pack_array(4);
  out.pack(kMagic);
  out.pack(static_cast<std::uint16_t>(T::kTypeId));
  out.pack(T::kVersion);
  detail::packer(out).put_body(message);
  return std::string(buffer.data(), buffer.size());
}

// Decodes a frame of type T; any problem comes back as errc::corrupt_data or version_mismatch.
template <class T>
result<T> decode(const char* data, std::size_t size, const decode_limits& limits = {}) {
  msgpack::object_handle storage;
  auto body = detail::open_frame(data, size, T::kTypeId, T::kVersion, limits, storage);
  if (!body) return body.error();
  T message;
  detail::unpacker reader(*body, to_string(T::kTypeId));
  reader.get_body(*body, message, to_string(T::kTypeId));
  if (!reader.problem.empty()) return make_error(errc::corrupt_data, reader.problem);
  return message;
}
template <class T>
result<T> decode(std::string_view bytes, const decode_limits& limits = {}) {
  return decode<T>(bytes.data(), bytes.size(), limits);
}

// Reads only the frame header, to dispatch a frame whose type is not known in advance.
result<frame_header> peek(std::string_view bytes, const decode_limits& limits = {});

}  // namespace aha::protocol
