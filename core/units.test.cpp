// Tests of duration and size parsing and printing.
#include "core/units.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono_literals;

TEST_CASE("units: durations need a unit and round-trip") {
  CHECK(*aha::parse_duration("200ms") == 200ms);
  CHECK(*aha::parse_duration("1.5s") == 1500ms);
  CHECK(*aha::parse_duration("2m") == 120s);
  CHECK(*aha::parse_duration("250us") == 250us);
  CHECK_FALSE(aha::parse_duration("30").ok());
  CHECK_FALSE(aha::parse_duration("-1s").ok());
  CHECK_FALSE(aha::parse_duration("1 fortnight").ok());
  CHECK_FALSE(aha::parse_duration("1e300h").ok());
  CHECK(aha::format_duration(1500ms) == "1500ms");
  CHECK(aha::format_duration(120s) == "2m");
}

TEST_CASE("units: sizes accept bytes, binary and SI units") {
  CHECK(aha::parse_byte_size("4096")->bytes == 4096);
  CHECK(aha::parse_byte_size("256MiB")->bytes == 256ull << 20);
  CHECK(aha::parse_byte_size("1.5GiB")->bytes == 3ull << 29);
  CHECK(aha::parse_byte_size("10MB")->bytes == 10000000);
  CHECK_FALSE(aha::parse_byte_size("10 bananas").ok());
  CHECK_FALSE(aha::parse_byte_size("-5").ok());
  CHECK(aha::format_byte_size({256ull << 20}) == "256MiB");
  CHECK(aha::format_byte_size({1000}) == "1000");
}
