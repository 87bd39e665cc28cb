// Exact (GMP) and numeric (complex double) evaluation of expression trees; see math_eval.hpp.
// Exact evaluation refuses rather than risks: exponents, factorials and result sizes beyond the
// config bounds return nullopt, and the caller falls back to floating point.
#include "rewards/math_eval.hpp"

#include <charconv>
#include <cmath>
#include <functional>
#include <string>

namespace aha::rewards::detail {
namespace {

using cplx = std::complex<double>;
constexpr double kPi = 3.14159265358979323846;

bool too_big(const mpq_class& q, const math_verifier_config& c) {
  return mpz_sizeinbase(q.get_num_mpz_t(), 2) + mpz_sizeinbase(q.get_den_mpz_t(), 2) > c.max_result_bits;
}

std::optional<mpq_class> literal(const std::string& text) {
  std::size_t dot = text.find('.');
  std::string digits = text;
  std::size_t decimals = 0;
  if (dot != std::string::npos) {
    digits.erase(dot, 1);
    decimals = text.size() - dot - 1;
  }
  if (digits.empty() || digits.size() > 4000) return std::nullopt;
  for (char c : digits) if (c < '0' || c > '9') return std::nullopt;  // mpz would throw
  mpz_class num(digits, 10);
  mpz_class den;
  mpz_ui_pow_ui(den.get_mpz_t(), 10, decimals);
  mpq_class q(num, den);
  q.canonicalize();
  return q;
}

std::optional<mpq_class> exact_pow(const mpq_class& base, const mpq_class& exp, eval_context& ctx) {
  if (exp.get_den() != 1) {
    // Rational exponents stay exact only for perfect powers: 4^{1/2} = 2, 8^{2/3} = 4.
    if (base < 0 || !mpz_fits_ulong_p(exp.get_den_mpz_t()) || exp.get_den() > 64) return std::nullopt;
    unsigned long root = mpz_get_ui(exp.get_den_mpz_t());
    mpz_class n, d;
    if (!mpz_root(n.get_mpz_t(), base.get_num_mpz_t(), root) || !mpz_root(d.get_mpz_t(), base.get_den_mpz_t(), root))
      return std::nullopt;
    return exact_pow(mpq_class(n, d), mpq_class(exp.get_num()), ctx);
  }
  if (!mpz_fits_slong_p(exp.get_num_mpz_t())) return std::nullopt;
  long e = mpz_get_si(exp.get_num_mpz_t());
  if (static_cast<unsigned long>(std::labs(e)) > ctx.config.max_exponent) return std::nullopt;
  double bits = static_cast<double>(mpz_sizeinbase(base.get_num_mpz_t(), 2) + mpz_sizeinbase(base.get_den_mpz_t(), 2));
  if (bits * static_cast<double>(std::labs(e)) > ctx.config.max_result_bits) return std::nullopt;
  if (base == 0) return e < 0 ? std::nullopt : std::optional<mpq_class>(e == 0 ? 1 : 0);
  mpz_class n, d;
  mpz_pow_ui(n.get_mpz_t(), base.get_num_mpz_t(), static_cast<unsigned long>(std::labs(e)));
  mpz_pow_ui(d.get_mpz_t(), base.get_den_mpz_t(), static_cast<unsigned long>(std::labs(e)));
  mpq_class r = e >= 0 ? mpq_class(n, d) : mpq_class(d, n);
  r.canonicalize();
  return r;
}

std::optional<mpq_class> exact_func(const node& n, const std::vector<mpq_class>& args, eval_context& ctx) {
  const mpq_class& x = args[0];
  if (n.text == "abs") return abs(x);
  if (n.text == "sqrt") return x < 0 ? std::nullopt : exact_pow(x, mpq_class(1, 2), ctx);
  if (n.text == "binom" && args.size() == 2) {
    if (x.get_den() != 1 || args[1].get_den() != 1 || !mpz_fits_ulong_p(x.get_num_mpz_t()) ||
        !mpz_fits_ulong_p(args[1].get_num_mpz_t()) || x > ctx.config.max_factorial)
      return std::nullopt;
    mpz_class r;
    mpz_bin_uiui(r.get_mpz_t(), mpz_get_ui(x.get_num_mpz_t()), mpz_get_ui(args[1].get_num_mpz_t()));
    return mpq_class(r);
  }
  return std::nullopt;
}

}  // namespace

std::optional<mpq_class> eval_exact(const tree& t, int i, eval_context& ctx) {
  if (!ctx.steps.tick()) return std::nullopt;
  const node& n = t.at(i);
  std::vector<mpq_class> v;
  for (int k : n.kids) {
    auto x = eval_exact(t, k, ctx);
    if (!x) return std::nullopt;
    v.push_back(std::move(*x));
  }
  std::optional<mpq_class> r;
  switch (n.k) {
    case kind::number: r = literal(n.text); break;
    case kind::add: { mpq_class s = 0; for (auto& x : v) s += x; r = s; break; }
    case kind::mul: { mpq_class p = 1; for (auto& x : v) p *= x; r = p; break; }
    case kind::div: if (v[1] != 0) r = v[0] / v[1]; break;
    case kind::neg: r = -v[0]; break;
    case kind::pow: r = exact_pow(v[0], v[1], ctx); break;
    case kind::pm: {
      bool minus = (ctx.pm_mask >> (ctx.pm_seen++ & 31)) & 1u;
      r = v.size() == 1 ? (minus ? mpq_class(-v[0]) : v[0]) : (minus ? mpq_class(v[0] - v[1]) : mpq_class(v[0] + v[1]));
      break;
    }
    case kind::percent: r = ctx.units == unit_mode::apply ? v[0] / 100 : v[0]; break;
    case kind::degree: if (ctx.units == unit_mode::ignore) r = v[0]; break;
    case kind::factorial:
      if (v[0].get_den() == 1 && v[0] >= 0 && v[0] <= ctx.config.max_factorial) {
        mpz_class f;
        mpz_fac_ui(f.get_mpz_t(), mpz_get_ui(v[0].get_num_mpz_t()));
        r = mpq_class(f);
      }
      break;
    case kind::func: r = exact_func(n, v, ctx); break;
    default: break;
  }
  if (r && too_big(*r, ctx.config)) return std::nullopt;
  return r;
}

namespace {

// A free variable's value in a trial: a fixed function of its name, away from 0 and 1 so that
// x and x^2, or x and 1/x, never coincide by accident.
double symbol_value(const std::string& name, int trial) {
  std::uint64_t h = 1469598103934665603ull ^ static_cast<std::uint64_t>(trial * 7919 + 17);
  for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return 1.3 + static_cast<double>(h % 100000) / 100000.0 * 1.6 + 0.37 * trial;
}

cplx numeric_func(const std::string& f, const std::vector<cplx>& a) {
  const cplx& x = a[0];
  if (f == "sin") return std::sin(x);
  if (f == "cos") return std::cos(x);
  if (f == "tan") return std::tan(x);
  if (f == "sec") return 1.0 / std::cos(x);
  if (f == "csc") return 1.0 / std::sin(x);
  if (f == "cot") return 1.0 / std::tan(x);
  if (f == "arcsin") return std::asin(x);
  if (f == "arccos") return std::acos(x);
  if (f == "arctan") return std::atan(x);
  if (f == "sinh") return std::sinh(x);
  if (f == "cosh") return std::cosh(x);
  if (f == "tanh") return std::tanh(x);
  if (f == "ln") return std::log(x);
  if (f == "log") return a.size() > 1 ? std::log(x) / std::log(a[1]) : std::log(x);  // log x = ln x (sympy)
  if (f == "exp") return std::exp(x);
  if (f == "sqrt") return std::sqrt(x);
  if (f == "abs") return std::abs(x);
  if (f == "binom" && a.size() == 2) {
    // A product, not lgamma: lgamma writes the global signgam, a data race between threads.
    double n = x.real(), k = a[1].real();
    if (k != std::round(k) || k < 0 || k > 1000) return {NAN, NAN};
    double r = 1;
    for (int i = 1; i <= static_cast<int>(k); ++i) r *= (n - k + i) / i;
    return r;
  }
  return {NAN, NAN};
}

// An unknown function f(x) is an arbitrary but fixed smooth function of its argument, so that
// f(x) = f(x) while f(x) ≠ f(y) and f(x) ≠ g(x).
cplx user_function(const std::string& name, cplx x) {
  double h = symbol_value(name, 11);
  return std::sin(h * x + 0.5) * h + x * x * 0.1;
}

}  // namespace

std::optional<cplx> eval_numeric(const tree& t, int i, eval_context& ctx, int trial) {
  if (!ctx.steps.tick()) return std::nullopt;
  const node& n = t.at(i);
  std::vector<cplx> v;
  for (int k : n.kids) {
    auto x = eval_numeric(t, k, ctx, trial);
    if (!x) return std::nullopt;
    v.push_back(*x);
  }
  switch (n.k) {
    case kind::number: {  // from_chars: locale-free, unlike strtod
      double x = 0;
      auto [end, ec] = std::from_chars(n.text.data(), n.text.data() + n.text.size(), x);
      if (ec != std::errc() || end != n.text.data() + n.text.size()) return std::nullopt;
      return x;
    }
    case kind::symbol: return symbol_value(n.text, trial);
    case kind::constant:
      if (n.text == "pi") return kPi;
      if (n.text == "e") return std::exp(1.0);
      if (n.text == "i") return cplx(0, 1);
      return std::nullopt;  // ∞ is not a number; intervals handle it
    case kind::add: { cplx s = 0; for (auto& x : v) s += x; return s; }
    case kind::mul: { cplx p = 1; for (auto& x : v) p *= x; return p; }
    case kind::div: return v[0] / v[1];
    case kind::neg: return cplx(-v[0].real(), v[0].imag() == 0 ? 0.0 : -v[0].imag());  // no -0i: √(-1) = i
    case kind::pow:
      if (v[1].imag() == 0 && v[1].real() == std::round(v[1].real()) && std::abs(v[1].real()) < 1e6 && v[0].imag() == 0)
        return std::pow(v[0].real(), v[1].real());
      if (v[0].imag() == 0 && v[0].real() >= 0 && v[1].imag() == 0) return std::pow(v[0].real(), v[1].real());
      return std::pow(v[0], v[1]);
    case kind::pm: {
      bool minus = (ctx.pm_mask >> (ctx.pm_seen++ & 31)) & 1u;
      return v.size() == 1 ? (minus ? -v[0] : v[0]) : (minus ? v[0] - v[1] : v[0] + v[1]);
    }
    case kind::percent: return ctx.units == unit_mode::apply ? v[0] / 100.0 : v[0];
    case kind::degree: return ctx.units == unit_mode::apply ? v[0] * (kPi / 180) : v[0];
    case kind::factorial: return std::tgamma(v[0].real() + 1);
    case kind::func: return numeric_func(n.text, v);
    case kind::call: return user_function(n.text, v[0]);
    default: return std::nullopt;
  }
}

bool has_free_symbols(const tree& t, int i) {
  const node& n = t.at(i);
  if (n.k == kind::symbol || n.k == kind::call) return true;
  for (int k : n.kids) if (has_free_symbols(t, k)) return true;
  return false;
}

bool has_units(const tree& t, int i) {
  const node& n = t.at(i);
  if (n.k == kind::percent || n.k == kind::degree) return true;
  for (int k : n.kids) if (has_units(t, k)) return true;
  return false;
}

int decimal_digits(const tree& t, int i) {
  const node& n = t.at(i);
  int best = n.k == kind::number ? n.decimals : 0;
  for (int k : n.kids) {
    int d = decimal_digits(t, k);
    if (d > 0 && (best == 0 || d < best)) best = d;
  }
  return best;
}

}  // namespace aha::rewards::detail
