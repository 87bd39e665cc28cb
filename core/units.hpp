// Durations and sizes written with units ("200ms", "1.5s", "256MiB"): parsing and printing.
// Config files and command-line flags use these; bare numbers are rejected for durations so a
// reader never has to guess whether "30" meant seconds or milliseconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/result.hpp"

namespace aha {

// A size in bytes. Written "512", "4KiB", "256MiB", "1GiB", "10MB" (SI: 10^6) in config files.
struct byte_size {
  std::uint64_t bytes = 0;
  friend bool operator==(byte_size a, byte_size b) { return a.bytes == b.bytes; }
};

// "250us", "200ms", "1.5s", "2m", "1h", "3d" -> nanoseconds. Rejects bare numbers and overflow.
result<std::chrono::nanoseconds> parse_duration(std::string_view text);
// "4096", "4KiB", "4kB", "1.5GiB" -> bytes. Rejects negative values and overflow.
result<byte_size> parse_byte_size(std::string_view text);

// Shortest exact spelling: 1500ms -> "1500ms", 2000ms -> "2s", 3 MiB -> "3MiB".
std::string format_duration(std::chrono::nanoseconds value);
std::string format_byte_size(byte_size value);

}  // namespace aha
