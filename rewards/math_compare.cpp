// Structural comparison of gold and predicted answers; see math_comparer.hpp. Containers are
// flattened into items (a ± expands into both values), matched in order (tuples) or as
// multisets (lists, sets); relations compare as equations up to a constant factor.
#include "rewards/ascii.hpp"
#include "rewards/math_comparer.hpp"

#include <algorithm>
#include <cmath>

namespace aha::rewards::detail {

int pm_count(const tree& t, int i) {
  int c = t.at(i).k == kind::pm ? 1 : 0;
  for (int k : t.at(i).kids) c += pm_count(t, k);
  return c;
}

int inf_sign(const tree& t, int i) {
  const node& n = t.at(i);
  if (n.k == kind::constant && n.text == "inf") return 1;
  if (n.k == kind::neg) return -inf_sign(t, n.kids[0]);
  return 0;
}

bool is_inequality(const node& n) {
  if (n.k != kind::relation) return false;
  for (char ch : n.text) if (ch == '<' || ch == '>') return true;
  return false;
}

bool interval_like(const node& n) {
  return n.k == kind::interval || n.k == kind::set_union || (n.k == kind::tuple && n.kids.size() == 2 && !n.lo_closed);
}

// A left-hand side that names what the answer is ("x", "f(x)", "(p, q)", "AB", "|AB|", "A:B").
bool is_assignable(const tree& t, int i) {
  const node& n = t.at(i);
  switch (n.k) {
    case kind::symbol: case kind::call: return true;
    case kind::constant: return n.text == "e" || n.text == "i";
    case kind::func: return n.text == "abs" && is_assignable(t, n.kids[0]);
    case kind::mul: case kind::div: case kind::ratio: case kind::tuple:
      for (int k : n.kids) if (!is_assignable(t, k)) return false;
      return true;
    default: return false;
  }
}

namespace {

bool is_container(kind k) { return k == kind::list || k == kind::set; }

// x = 5 → 5; x ∈ S → S; anything else unchanged.
ref assigned_value(ref r, const math_verifier_config& c) {
  const node& n = r.n();
  if (n.k != kind::relation || n.kids.size() != 2) return r;
  if (n.text == "in") return r.kid(1);
  if (n.text != "=" || !c.assignment_compares_value) return r;
  if (is_assignable(*r.t, n.kids[0])) return r.kid(1);
  // "35 + 70 = 105": a worked computation; its value is the last member.
  if (!has_free_symbols(*r.t, n.kids[0]) && !has_free_symbols(*r.t, n.kids[1])) return r.kid(1);
  return r;
}

std::string text_key(const node& n) {
  std::string out;
  for (char ch : n.text)
    if (ascii::is_alnum(ch)) out += ascii::to_lower(ch);
  return out;
}

bool is_scalar(kind k) {
  switch (k) {
    case kind::number: case kind::symbol: case kind::constant: case kind::add: case kind::mul:
    case kind::div: case kind::neg: case kind::pow: case kind::pm: case kind::func: case kind::call:
    case kind::factorial: case kind::percent: case kind::degree: return true;
    default: return false;
  }
}

// ---- scalars ---------------------------------------------------------------------------------

// 10^-d as an exact rational.

mpq_class ten_to_minus(int d) {
  mpz_class p;
  mpz_ui_pow_ui(p.get_mpz_t(), 10, static_cast<unsigned long>(d < 0 ? -d : d));
  return d >= 0 ? mpq_class(1, p) : mpq_class(p, 1);
}

// A decimal written with d ≥ decimal_min_digits fraction digits, against an exact value that
// has no d-digit decimal form (1/3, 8/3), stands for it when it is that value rounded (half
// away from zero) or truncated to d digits: 0.33 and 0.3333 for 1/3, never 0.34. Values that
// do have a d-digit form must match exactly (5 ≠ 5.001).
bool decimal_approximates(const mpq_class& dec, int d, const mpq_class& exact, const math_verifier_config& c) {
  if (d < c.decimal_min_digits || d > 40) return false;
  // "2.3148 \times 10^{-3}" carries more digits than its literal shows: use the value's own.
  mpq_class written = dec / ten_to_minus(d);
  written.canonicalize();
  while (written.get_den() != 1 && d < 60) {
    written = dec / ten_to_minus(++d);
    written.canonicalize();
  }
  if (written.get_den() != 1) return false;
  mpq_class scaled = exact / ten_to_minus(d);
  scaled.canonicalize();
  if (scaled.get_den() == 1) return false;
  mpz_class truncated, rounded;
  mpz_tdiv_q(truncated.get_mpz_t(), scaled.get_num_mpz_t(), scaled.get_den_mpz_t());
  mpq_class half_away = scaled + (scaled < 0 ? mpq_class(-1, 2) : mpq_class(1, 2));
  mpz_tdiv_q(rounded.get_mpz_t(), half_away.get_num_mpz_t(), half_away.get_den_mpz_t());
  return written.get_num() == truncated || written.get_num() == rounded;
}

}  // namespace

std::vector<ref> comparer::flatten(ref r) {
  std::vector<ref> out;
  r = assigned_value(r, cfg_);
  if (is_container(r.n().k)) {
    for (std::size_t k = 0; k < r.n().kids.size() && out.size() < 256; ++k)
      for (ref x : flatten(r.kid(k))) out.push_back(x);
    return out;
  }
  int pms = pm_count(*r.t, r.i);
  if (pms == 0 || pms > 4) { out.push_back(r); return out; }
  for (unsigned m = 0; m < (1u << pms); ++m) out.push_back({r.t, r.i, m});
  return out;
}

bool comparer::items_equal(ref g, ref p, bool ordered) {
  std::vector<ref> a = flatten(g), b = flatten(p);
  if (a.empty() || b.empty()) return false;
  if (ordered) {
    if (a.size() != b.size()) return false;
    for (std::size_t k = 0; k < a.size(); ++k) if (!equal(a[k], b[k], false)) return false;
    return true;
  }
  // Set semantics: every gold item is answered and every answered item is in the gold, so a
  // repeated solution does not count against the answer but a missing or extra one does.
  std::vector<bool> matched(b.size(), false);
  for (const ref& x : a) {
    bool found = false;
    for (std::size_t k = 0; k < b.size(); ++k) {
      if (matched[k] && found) continue;
      if (equal(x, b[k], false)) found = matched[k] = true;
    }
    if (!found) return false;
  }
  for (bool m : matched) if (!m) return false;
  return true;
}

// Dispatch on the kinds of the two answers; each family has its own rule below.
bool comparer::equal(ref g, ref p, bool top) {
  if (!steps_.tick()) return false;
  const node& gn = g.n();
  const node& pn = p.n();
  if (gn.k == kind::relation || pn.k == kind::relation) return relation_sides_equal(g, p, top);
  bool g_list = is_container(gn.k), p_list = is_container(pn.k);
  bool g_pm = !g_list && top && g.mask == 0 && pm_count(*g.t, g.i) > 0;
  bool p_pm = !p_list && top && p.mask == 0 && pm_count(*p.t, p.i) > 0;
  if (g_list || p_list || g_pm || p_pm) return containers_equal(g, p);
  if (gn.k == kind::set_union || pn.k == kind::set_union) return gn.k == pn.k && unions_equal(g, p);
  if (gn.k == kind::matrix || pn.k == kind::matrix) return matrices_equal(g, p);
  if (gn.k == kind::interval || pn.k == kind::interval) return intervals_equal(g, p);
  if (gn.k == kind::tuple || pn.k == kind::tuple || gn.k == kind::ratio || pn.k == kind::ratio) return sequences_equal(g, p);
  if (gn.k == kind::ellipsis || pn.k == kind::ellipsis) return gn.k == pn.k;
  if (gn.k == kind::text || pn.k == kind::text) {
    auto key = [](const node& n) { return n.k == kind::text || n.k == kind::symbol || n.k == kind::constant ? text_key(n) : std::string("\x01"); };
    std::string a = key(gn), b = key(pn);
    return !a.empty() && a == b;
  }
  if (!is_scalar(gn.k) || !is_scalar(pn.k)) return false;
  int sg = inf_sign(*g.t, g.i), sp = inf_sign(*p.t, p.i);
  if (sg != 0 || sp != 0) return sg == sp;
  return scalars_equal(g, p);
}

// At least one side is a relation: equivalent relations, an assignment's value, or an
// inequality against an interval (gold inequality always; gold interval only when allowed).
bool comparer::relation_sides_equal(ref g, ref p, bool top) {
  const node& gn = g.n();
  const node& pn = p.n();
  if (gn.k == kind::relation && pn.k == kind::relation && relations_equal(g, p)) return true;
  ref gv = assigned_value(g, cfg_), pv = assigned_value(p, cfg_);
  if (gv.i != g.i || pv.i != p.i) return equal(gv, pv, top);
  if (is_inequality(gn) && interval_like(pn)) {
    int iv = to_interval(g);
    return iv >= 0 && equal({g.t, iv, g.mask}, p, top);
  }
  if (cfg_.interval_gold_accepts_inequality && is_inequality(pn) && interval_like(gn)) {
    int iv = to_interval(p);
    return iv >= 0 && equal(g, {p.t, iv, p.mask}, top);
  }
  return false;
}

// Lists, sets and ± values. Against a tuple, order still matters: (1, 3) vs {1, 3}.
bool comparer::containers_equal(ref g, ref p) {
  const node& gn = g.n();
  const node& pn = p.n();
  if (gn.k == kind::tuple || pn.k == kind::tuple) {
    bool gold_tuple = gn.k == kind::tuple;
    ref tuple_side = gold_tuple ? g : p;
    std::vector<ref> a, b = flatten(gold_tuple ? p : g);
    for (std::size_t k = 0; k < tuple_side.n().kids.size(); ++k) a.push_back(tuple_side.kid(k));
    if (a.size() != b.size()) return false;
    for (std::size_t k = 0; k < a.size(); ++k)
      if (!(gold_tuple ? equal(a[k], b[k], false) : equal(b[k], a[k], false))) return false;
    return true;
  }
  bool ordered = !cfg_.unordered_lists && gn.k != kind::set && pn.k != kind::set;
  return items_equal(g, p, ordered);
}

bool comparer::unions_equal(ref g, ref p) {
  const node& gn = g.n();
  const node& pn = p.n();
  if (gn.kids.size() != pn.kids.size()) return false;
  std::vector<bool> used(pn.kids.size(), false);
  for (std::size_t a = 0; a < gn.kids.size(); ++a) {
    bool found = false;
    for (std::size_t b = 0; b < pn.kids.size() && !found; ++b)
      if (!used[b] && equal(g.kid(a), p.kid(b), false)) used[b] = found = true;
    if (!found) return false;
  }
  return true;
}

// Same shape, equal cells; a row or column vector also matches a tuple or closed interval.
bool comparer::matrices_equal(ref g, ref p) {
  const node& gn = g.n();
  const node& pn = p.n();
  const node& m = gn.k == kind::matrix ? gn : pn;
  const node& o = gn.k == kind::matrix ? pn : gn;
  bool vector_like = o.k == kind::tuple || (o.k == kind::interval && o.lo_closed && o.hi_closed);
  bool same_shape = o.k == kind::matrix ? (o.rows == m.rows && o.cols == m.cols) : (vector_like && (m.rows == 1 || m.cols == 1));
  if (!same_shape || o.kids.size() != m.kids.size()) return false;
  for (std::size_t k = 0; k < gn.kids.size(); ++k) if (!equal(g.kid(k), p.kid(k), false)) return false;
  return true;
}

// Tuples and ratios, element by element; a ratio ignores trailing zero parts (20:34 = 20:34:00).
bool comparer::sequences_equal(ref g, ref p) {
  const node& gn = g.n();
  const node& pn = p.n();
  if (gn.k != pn.k && !(interval_like(gn) && interval_like(pn))) return false;
  std::size_t ng = gn.kids.size(), np = pn.kids.size();
  if (gn.k == kind::ratio) {
    auto zero = [](const tree& t, int i) { return t.at(i).k == kind::number && t.at(i).text.find_first_not_of("0.") == std::string::npos; };
    while (ng > np && zero(*g.t, gn.kids[ng - 1])) --ng;
    while (np > ng && zero(*p.t, pn.kids[np - 1])) --np;
  }
  if (ng != np) return false;
  for (std::size_t k = 0; k < ng; ++k) if (!equal(g.kid(k), p.kid(k), false)) return false;
  return true;
}

bool comparer::exact_equal(ref g, ref p, unit_mode mode, bool& decided) {
  eval_context cg{cfg_, steps_, mode, g.mask};
  auto a = eval_exact(*g.t, g.i, cg);
  if (!a) { decided = false; return false; }
  eval_context cp{cfg_, steps_, mode, p.mask};
  auto b = eval_exact(*p.t, p.i, cp);
  if (!b) { decided = false; return false; }
  decided = true;
  if (*a == *b) { why = "equal exact values"; return true; }
  int dg = decimal_digits(*g.t, g.i), dp = decimal_digits(*p.t, p.i);
  if (dp > 0 && dg == 0 && decimal_approximates(*b, dp, *a, cfg_)) { why = "decimal rounds the exact value"; return true; }
  if (dg > 0 && dp == 0 && decimal_approximates(*a, dg, *b, cfg_)) { why = "decimal rounds the exact value"; return true; }
  return false;
}

bool comparer::numeric_equal(ref g, ref p, unit_mode mode) {
  bool symbolic = has_free_symbols(*g.t, g.i) || has_free_symbols(*p.t, p.i);
  int trials = symbolic ? std::max(1, cfg_.random_trials) : 1;
  int dg = decimal_digits(*g.t, g.i), dp = decimal_digits(*p.t, p.i);
  int d = dg == 0 ? dp : (dp == 0 ? dg : std::min(dg, dp));
  double abs_tol = d >= cfg_.decimal_min_digits ? std::pow(10.0, -d) : 0.0;
  for (int t = 0; t < trials; ++t) {
    eval_context cg{cfg_, steps_, mode, g.mask}, cp{cfg_, steps_, mode, p.mask};
    auto a = eval_numeric(*g.t, g.i, cg, t);
    auto b = eval_numeric(*p.t, p.i, cp, t);
    if (!a || !b) return false;
    bool fa = std::isfinite(a->real()) && std::isfinite(a->imag());
    bool fb = std::isfinite(b->real()) && std::isfinite(b->imag());
    if (!fa || !fb) return false;
    double scale = std::max(std::abs(*a), std::abs(*b));
    if (std::abs(*a - *b) > cfg_.relative_tolerance * scale + 1e-12 + abs_tol) return false;
  }
  why = symbolic ? "equal at random points" : "equal numeric values";
  return true;
}

// One side is a decimal number (exact, d ≥ decimal_min_digits fraction digits), the other an
// irrational value: the decimal must be that value rounded or truncated to d digits, as in
// decimal_approximates (√2 = 1.41 or 1.414, never 1.42). nullopt when the rule does not apply.
std::optional<bool> comparer::decimal_vs_irrational(ref g, ref p, unit_mode mode) {
  eval_context cg{cfg_, steps_, mode, g.mask}, cp{cfg_, steps_, mode, p.mask};
  std::optional<mpq_class> eg = eval_exact(*g.t, g.i, cg), ep = eval_exact(*p.t, p.i, cp);
  if (eg.has_value() == ep.has_value()) return std::nullopt;
  ref dec_side = eg ? g : p, other = eg ? p : g;
  const mpq_class& dec = eg ? *eg : *ep;
  int d = decimal_digits(*dec_side.t, dec_side.i);
  if (d < cfg_.decimal_min_digits || d > 15 || decimal_digits(*other.t, other.i) != 0) return std::nullopt;
  eval_context co{cfg_, steps_, mode, other.mask};
  auto x = eval_numeric(*other.t, other.i, co, 0);
  if (!x || std::abs(x->imag()) > 1e-12 || !std::isfinite(x->real())) return std::nullopt;
  double scaled = x->real() * std::pow(10.0, d);
  if (std::abs(scaled) > 1e15) return std::nullopt;  // beyond exact integers in a double
  double written = mpq_class(dec * ten_to_minus(-d)).get_d();
  return written == std::trunc(scaled) || written == std::round(scaled);
}

bool comparer::scalars_equal(ref g, ref p) {
  bool units = has_units(*g.t, g.i) || has_units(*p.t, p.i);
  unit_mode modes[2] = {unit_mode::ignore, unit_mode::apply};
  int first = units && !cfg_.percent_either_way ? 1 : 0, last = units ? 1 : 0;
  bool symbolic = has_free_symbols(*g.t, g.i) || has_free_symbols(*p.t, p.i);
  for (int m = first; m <= last; ++m) {
    if (!symbolic) {
      bool decided = false;
      bool eq = exact_equal(g, p, modes[m], decided);
      if (decided) { if (eq) return true; continue; }
      if (auto rounded = decimal_vs_irrational(g, p, modes[m])) {
        if (*rounded) { why = "decimal rounds the value"; return true; }
        continue;
      }
    }
    if (numeric_equal(g, p, modes[m])) return true;
  }
  return false;
}

// ---- relations and intervals ------------------------------------------------------------------

bool answers_equal(tree& gold, tree& pred, const math_verifier_config& config, budget& steps, std::string& why) {
  gold.root = canonicalize(gold, gold.root, config);
  pred.root = canonicalize(pred, pred.root, config);
  comparer c(config, steps);
  bool eq = c.equal({&gold, gold.root}, {&pred, pred.root}, true);
  why = eq ? c.why : (steps.exhausted() ? "budget exhausted" : "different values");
  return eq;
}

}  // namespace aha::rewards::detail
