// Parsing and printing of units (core/units.hpp).
#include "core/units.hpp"

#include <cmath>
#include <cstdlib>
#include <string>

namespace aha {
namespace {

struct unit {
  const char* suffix;
  double scale;
};

// Splits "1.5GiB" into 1.5 and "GiB". Returns false when there is no leading number.
bool split_number(std::string_view text, double& number, std::string_view& suffix) {
  std::string copy(text);
  char* end = nullptr;
  number = std::strtod(copy.c_str(), &end);
  if (end == copy.c_str() || !std::isfinite(number)) return false;
  suffix = text.substr(static_cast<std::size_t>(end - copy.c_str()));
  while (!suffix.empty() && suffix.front() == ' ') suffix.remove_prefix(1);
  return true;
}

}  // namespace

result<std::chrono::nanoseconds> parse_duration(std::string_view text) {
  static const unit units[] = {{"ns", 1.0}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9},
                               {"m", 60e9}, {"h", 3600e9}, {"d", 86400e9}};
  double number = 0;
  std::string_view suffix;
  auto invalid = [&] {
    return make_error(errc::invalid_argument,
                      "'" + std::string(text) +
                          "' is not a duration; write a number and a unit: ns, us, ms, s, m, h, d "
                          "(e.g. \"200ms\", \"1.5s\")");
  };
  if (!split_number(text, number, suffix) || number < 0) return invalid();
  for (const auto& u : units) {
    if (suffix == u.suffix) {
      double ns = number * u.scale;
      if (ns > 9.2e18) return make_error(errc::invalid_argument, "duration '" + std::string(text) + "' is too large");
      return std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(ns)));
    }
  }
  return invalid();
}

result<byte_size> parse_byte_size(std::string_view text) {
  static const unit units[] = {{"", 1.0},       {"B", 1.0},          {"KiB", 1024.0},
                               {"MiB", 1048576.0}, {"GiB", 1073741824.0}, {"TiB", 1099511627776.0},
                               {"kB", 1e3},     {"KB", 1e3},         {"MB", 1e6},
                               {"GB", 1e9},     {"TB", 1e12}};
  double number = 0;
  std::string_view suffix;
  auto invalid = [&] {
    return make_error(errc::invalid_argument,
                      "'" + std::string(text) +
                          "' is not a size; write bytes or a number and a unit: B, KiB, MiB, GiB, TiB, "
                          "kB, MB, GB, TB (e.g. \"256MiB\")");
  };
  if (!split_number(text, number, suffix) || number < 0) return invalid();
  for (const auto& u : units) {
    if (suffix == u.suffix) {
      double bytes = number * u.scale;
      if (bytes > 1.8e19) return make_error(errc::invalid_argument, "size '" + std::string(text) + "' is too large");
      return byte_size{static_cast<std::uint64_t>(std::llround(bytes))};
    }
  }
  return invalid();
}

std::string format_duration(std::chrono::nanoseconds value) {
  static const std::pair<const char*, std::int64_t> units[] = {
      {"d", 86400000000000LL}, {"h", 3600000000000LL}, {"m", 60000000000LL}, {"s", 1000000000LL},
      {"ms", 1000000LL},       {"us", 1000LL},         {"ns", 1LL}};
  std::int64_t ns = value.count();
  if (ns == 0) return "0s";
  for (const auto& [suffix, scale] : units) {
    if (ns % scale == 0) return std::to_string(ns / scale) + suffix;
  }
  return std::to_string(ns) + "ns";
}

std::string format_byte_size(byte_size value) {
  static const std::pair<const char*, std::uint64_t> units[] = {
      {"TiB", 1ULL << 40}, {"GiB", 1ULL << 30}, {"MiB", 1ULL << 20}, {"KiB", 1ULL << 10}};
  if (value.bytes == 0) return "0";
  for (const auto& [suffix, scale] : units) {
    if (value.bytes % scale == 0) return std::to_string(value.bytes / scale) + suffix;
  }
  return std::to_string(value.bytes);
}

}  // namespace aha
