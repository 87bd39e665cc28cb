// AHA_SKIP(reason): a test that cannot apply here (no GPU, no namespaces, fault points compiled
// out) says so and returns, and CTest reports it as "Skipped", not "Passed". Catch2 v2 has no
// SKIP; aha_add_unit_tests (cmake/AhaHelpers.cmake) sets SKIP_REGULAR_EXPRESSION "AHA-SKIPPED:"
// on every discovered test, and this macro prints that marker. Only for a test that truly cannot
// apply; anything that can be checked here is a CHECK. Use in a TEST_CASE body (it returns).
#pragma once

#include <iostream>

#define AHA_SKIP(reason)                                             \
  do {                                                               \
    std::cout << "AHA-SKIPPED: " << reason << std::endl; /* flush */ \
    return;                                                          \
  } while (0)
