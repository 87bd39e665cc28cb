// The sandbox pool shared by the code reward's test files (code_reward.test.cpp,
// code_forging.test.cpp): one per test process, two workers, so runs never share a slot.
#pragma once

#include <catch2/catch.hpp>

#include "sandbox/pool.hpp"

namespace aha::rewards::testing {

inline aha::sandbox::pool& shared_pool() {
  static auto pool = [] {
    aha::sandbox::sandbox_config config;
    config.workers = 2;
    auto created = aha::sandbox::pool::create(config);
    if (!created) FAIL("sandbox unavailable: " << created.error().message);
    return std::move(*created);
  }();
  return *pool;
}

}  // namespace aha::rewards::testing
