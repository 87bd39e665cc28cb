// Evaluating a scalar expression of the tree two ways: exactly (GMP rationals; fails on π, √2,
// variables, or anything beyond the configured size bounds) and numerically (complex doubles,
// free variables bound to pseudo-random values chosen per trial). Both charge a step budget
// that also watches a wall-clock deadline, so no input can make a check run long.
#pragma once

#include <chrono>
#include <complex>
#include <cstdint>
#include <optional>

#include <gmpxx.h>

#include "rewards/math_expr.hpp"

namespace aha::rewards::detail {

// Steps left and the deadline; exhausted() turns true for good once either runs out.
class budget {
 public:
  budget(std::uint32_t max_steps, double deadline_ms)
      : steps_left_(max_steps),
        deadline_(std::chrono::steady_clock::now() +
                  std::chrono::microseconds(static_cast<std::int64_t>(deadline_ms * 1000))) {}
  bool tick() {
    if (exhausted_) return false;
    if (steps_left_-- == 0) exhausted_ = true;
    // The clock is read every 64 steps: cheap, and still fine-grained enough for the deadline.
    else if ((steps_left_ & 63u) == 0 && std::chrono::steady_clock::now() > deadline_) exhausted_ = true;
    return !exhausted_;
  }
  bool exhausted() const { return exhausted_; }

 private:
  std::uint32_t steps_left_;
  std::chrono::steady_clock::time_point deadline_;
  bool exhausted_ = false;
};

// How % and ° read: as plain markers (10% = 10) or as their values (10% = 0.1, 90° = π/2).
enum class unit_mode : std::uint8_t { ignore, apply };

struct eval_context {
  const math_verifier_config& config;
  budget& steps;
  unit_mode units = unit_mode::ignore;
  unsigned pm_mask = 0;  // bit k chooses the sign of the k-th ± met (post-order): 0 = +, 1 = -
  int pm_seen = 0;       // reset to 0 before each top-level evaluation
};

std::optional<mpq_class> eval_exact(const tree& t, int i, eval_context& ctx);
// trial selects the values of free variables (same trial, same name → same value).
std::optional<std::complex<double>> eval_numeric(const tree& t, int i, eval_context& ctx, int trial);

// Properties of a subtree that steer comparison.
bool has_free_symbols(const tree& t, int i);
bool has_units(const tree& t, int i);  // any % or ° node
int decimal_digits(const tree& t, int i);  // fewest fraction digits among decimal literals, 0 if none

}  // namespace aha::rewards::detail
