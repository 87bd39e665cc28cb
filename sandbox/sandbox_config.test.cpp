// The sandbox's configuration binds from TOML through core/config.hpp (describe() is valid),
// keeps its defaults for absent keys, and rejects out-of-range values.
#include <catch2/catch.hpp>

#include "core/config.hpp"
#include "sandbox/sandbox_config.hpp"

TEST_CASE("sandbox config loads from TOML and validates ranges", "[config]") {
  auto loaded = aha::config::load_string<aha::sandbox::sandbox_config>(
      "workers = 3\ncgroups = \"none\"\n[limits]\ncpu_ms = 1500\nmemory_bytes = 134217728\n");
  REQUIRE(loaded);
  CHECK(loaded->workers == 3);
  CHECK(loaded->cgroups == "none");
  CHECK(loaded->limits.cpu_ms == 1500);
  CHECK(loaded->limits.memory_bytes == (128u << 20));
  CHECK(loaded->limits.wall_ms == aha::sandbox::run_limits{}.wall_ms);
  CHECK_FALSE(aha::config::load_string<aha::sandbox::sandbox_config>("[limits]\ncpu_ms = 0\n"));
  CHECK_FALSE(aha::config::load_string<aha::sandbox::sandbox_config>("unknown_key = 1\n"));
}
