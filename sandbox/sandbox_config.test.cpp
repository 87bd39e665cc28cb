// The sandbox's configuration binds from TOML through core/config.hpp (describe() is valid),
// keeps its defaults for absent keys, and rejects out-of-range values; a request's limits are
// capped by the operator's maxima.
#include <catch2/catch.hpp>

#include "core/config.hpp"
#include "sandbox/executor.hpp"
#include "sandbox/sandbox_config.hpp"

TEST_CASE("sandbox config loads from TOML and validates ranges", "[config]") {
  auto loaded = aha::config::load_string<aha::sandbox::sandbox_config>(
      "workers = 3\ncgroups = \"none\"\nwarm = false\n[limits]\ncpu_ms = 1500\nmemory_bytes = 134217728\n");
  REQUIRE(loaded);
  CHECK(loaded->workers == 3);
  CHECK_FALSE(loaded->warm);
  CHECK(aha::sandbox::sandbox_config{}.warm);  // on unless turned off
  CHECK(loaded->cgroups == "none");
  CHECK(loaded->limits.cpu_ms == 1500);
  CHECK(loaded->limits.memory_bytes == (128u << 20));
  CHECK(loaded->limits.wall_ms == aha::sandbox::run_limits{}.wall_ms);
  CHECK_FALSE(aha::config::load_string<aha::sandbox::sandbox_config>("[limits]\ncpu_ms = 0\n"));
  CHECK_FALSE(aha::config::load_string<aha::sandbox::sandbox_config>("unknown_key = 1\n"));
}

TEST_CASE("a request's limits are clamped by the operator's maxima", "[config]") {
  aha::sandbox::sandbox_config config;
  config.max_cpu_ms = 10000, config.max_wall_ms = 20000;
  config.max_memory_bytes = 1ull << 30, config.max_output_bytes = 4ull << 20;
  aha::protocol::sandbox_request request;
  bool clamped = true;
  auto limits = aha::sandbox::effective_limits(config, request, &clamped);  // all defaults
  CHECK_FALSE(clamped);
  CHECK(limits.cpu_ms == config.limits.cpu_ms);
  CHECK(limits.memory_bytes == config.limits.memory_bytes);
  // A dataset record's time_limit of an hour and memory_limit of 1 TiB (rewards/code_reward.cpp).
  request.cpu_ms = 3600000, request.wall_ms = 7201000, request.memory_bytes = 1ull << 40;
  limits = aha::sandbox::effective_limits(config, request, &clamped);
  CHECK(clamped);
  CHECK(limits.cpu_ms == 10000);
  CHECK(limits.wall_ms == 20000);
  CHECK(limits.memory_bytes == (1ull << 30));
  CHECK(limits.output_bytes == config.limits.output_bytes);  // not asked for: the default
  request = {};
  request.output_bytes = 8ull << 20;
  CHECK(aha::sandbox::effective_limits(config, request, &clamped).output_bytes == (4ull << 20));
  CHECK(clamped);
  request.output_bytes = 4ull << 20;  // exactly the maximum is not clamped
  CHECK(aha::sandbox::effective_limits(config, request, &clamped).output_bytes == (4ull << 20));
  CHECK_FALSE(clamped);
  // An operator default above a maximum is capped too (without counting the request as clamped).
  config.limits.cpu_ms = 50000;
  CHECK(aha::sandbox::effective_limits(config, {}, &clamped).cpu_ms == 10000);
  CHECK_FALSE(clamped);
  auto loaded = aha::config::load_string<aha::sandbox::sandbox_config>("max_cpu_ms = 1500\nmax_memory_bytes = 67108864\n");
  REQUIRE(loaded);
  CHECK(loaded->max_cpu_ms == 1500);
  CHECK(loaded->max_memory_bytes == (64u << 20));
  CHECK_FALSE(aha::config::load_string<aha::sandbox::sandbox_config>("max_wall_ms = 0\n"));
}
