// Structural comparison of gold and predicted answers; see math_compare.hpp. Containers are
// flattened into items (a ± expands into both values), matched in order (tuples) or as
// multisets (lists, sets); relations compare as equations up to a constant factor.
#include "rewards/math_compare.hpp"

#include <algorithm>
#include <cmath>

namespace aha::rewards::detail {
namespace {

struct ref {
  tree* t;
  int i;
  unsigned mask = 0;  // ± sign choices for this item
  const node& n() const { return t->at(i); }
  ref kid(std::size_t k) const { return {t, n().kids[k], mask}; }
};

int pm_count(const tree& t, int i) {
  int c = t.at(i).k == kind::pm ? 1 : 0;
  for (int k : t.at(i).kids) c += pm_count(t, k);
  return c;
}

bool is_container(kind k) { return k == kind::list || k == kind::set; }

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

int inf_sign(const tree& t, int i) {
  const node& n = t.at(i);
  if (n.k == kind::constant && n.text == "inf") return 1;
  if (n.k == kind::neg) return -inf_sign(t, n.kids[0]);
  return 0;
}

class comparer {
 public:
  comparer(const math_verifier_config& c, budget& b) : cfg_(c), steps_(b) {}

  bool equal(ref g, ref p, bool top);
  std::string why;

 private:
  const math_verifier_config& cfg_;
  budget& steps_;

  bool relations_equal(ref g, ref p);
  bool items_equal(ref g, ref p, bool ordered);
  bool intervals_equal(ref g, ref p);
  bool scalars_equal(ref g, ref p);
  bool exact_equal(ref g, ref p, unit_mode mode, bool& decided);
  bool numeric_equal(ref g, ref p, unit_mode mode);
  int to_interval(ref r);
  std::vector<ref> flatten(ref r);
  bool equation_proportional(ref g, ref p, int sign);
};

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


bool is_inequality(const node& n) {
  if (n.k != kind::relation) return false;
  for (char ch : n.text) if (ch == '<' || ch == '>') return true;
  return false;
}

bool interval_like(const node& n) {
  return n.k == kind::interval || n.k == kind::set_union || (n.k == kind::tuple && n.kids.size() == 2 && !n.lo_closed);
}

std::string text_key(const node& n) {
  std::string out;
  for (char ch : n.text)
    if (std::isalnum(static_cast<unsigned char>(ch))) out += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
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

bool comparer::equal(ref g, ref p, bool top) {
  if (!steps_.tick()) return false;
  const node& gn = g.n();
  const node& pn = p.n();
  if (gn.k == kind::relation || pn.k == kind::relation) {
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
  bool g_list = is_container(gn.k), p_list = is_container(pn.k);
  bool g_pm = !g_list && pm_count(*g.t, g.i) > 0 && g.mask == 0 && top;
  bool p_pm = !p_list && pm_count(*p.t, p.i) > 0 && p.mask == 0 && top;
  if (g_list || p_list || g_pm || p_pm) {
    if (gn.k == kind::tuple || pn.k == kind::tuple) {  // (1, 3) vs {1, 3}: order still matters
      ref tuple_side = gn.k == kind::tuple ? g : p;
      ref other = gn.k == kind::tuple ? p : g;
      std::vector<ref> a, b = flatten(other);
      for (std::size_t k = 0; k < tuple_side.n().kids.size(); ++k) a.push_back(tuple_side.kid(k));
      if (a.size() != b.size()) return false;
      for (std::size_t k = 0; k < a.size(); ++k)
        if (!(gn.k == kind::tuple ? equal(a[k], b[k], false) : equal(b[k], a[k], false))) return false;
      return true;
    }
    bool ordered = !cfg_.unordered_lists && gn.k != kind::set && pn.k != kind::set;
    return items_equal(g, p, ordered);
  }
  if (gn.k == kind::set_union || pn.k == kind::set_union) {
    if (gn.k != pn.k) return false;
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
  if (gn.k == kind::matrix || pn.k == kind::matrix) {
    const node& m = gn.k == kind::matrix ? gn : pn;
    const node& o = gn.k == kind::matrix ? pn : gn;
    bool same_shape = o.k == kind::matrix ? (o.rows == m.rows && o.cols == m.cols)
                                          : ((o.k == kind::tuple || (o.k == kind::interval && o.lo_closed && o.hi_closed)) &&
                                             (m.rows == 1 || m.cols == 1));
    if (!same_shape || o.kids.size() != m.kids.size()) return false;
    for (std::size_t k = 0; k < gn.kids.size(); ++k) if (!equal(g.kid(k), p.kid(k), false)) return false;
    return true;
  }
  if (gn.k == kind::interval || pn.k == kind::interval) return intervals_equal(g, p);
  if (gn.k == kind::tuple || pn.k == kind::tuple || gn.k == kind::ratio || pn.k == kind::ratio) {
    if (gn.k != pn.k && !(interval_like(gn) && interval_like(pn))) return false;
    std::size_t ng = gn.kids.size(), np = pn.kids.size();
    if (gn.k == kind::ratio) {  // 20:34 = 20:34:00
      auto zero = [](const tree& t, int i) { return t.at(i).k == kind::number && t.at(i).text.find_first_not_of("0.") == std::string::npos; };
      while (ng > np && zero(*g.t, gn.kids[ng - 1])) --ng;
      while (np > ng && zero(*p.t, pn.kids[np - 1])) --np;
    }
    if (ng != np) return false;
    for (std::size_t k = 0; k < ng; ++k) if (!equal(g.kid(k), p.kid(k), false)) return false;
    return true;
  }
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

// ---- scalars ---------------------------------------------------------------------------------

// 10^-d as an exact rational.
mpq_class ten_to_minus(int d) {
  mpz_class den;
  mpz_ui_pow_ui(den.get_mpz_t(), 10, static_cast<unsigned long>(d));
  return mpq_class(1, den);
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
    }
    if (numeric_equal(g, p, modes[m])) return true;
  }
  return false;
}

// ---- relations and intervals ------------------------------------------------------------------

std::optional<std::complex<double>> side_difference(ref a, ref b, const math_verifier_config& c, budget& steps, int trial) {
  eval_context ca{c, steps, unit_mode::apply, a.mask};
  auto x = eval_numeric(*a.t, a.i, ca, trial);
  eval_context cb{c, steps, unit_mode::apply, b.mask};
  auto y = eval_numeric(*b.t, b.i, cb, trial);
  if (!x || !y) return std::nullopt;
  return *x - *y;
}

// g: Lg op Rg, p: Lp op Rp (already oriented). Equal when Lg-Rg = k (Lp-Rp) for one constant k
// (k > 0 when sign > 0, any k ≠ 0 otherwise), checked at several random points.
bool comparer::equation_proportional(ref g, ref p, int sign) {
  std::optional<std::complex<double>> ratio;
  // Decimals written with d digits ("a - b = 1.732") loosen the ratio test to about 10^-d.
  int dg = decimal_digits(*g.t, g.i), dp = decimal_digits(*p.t, p.i);
  int d = dg == 0 ? dp : (dp == 0 ? dg : std::min(dg, dp));
  double tolerance = d >= cfg_.decimal_min_digits ? std::pow(10.0, -d) : 1e-7;
  int trials = std::max(3, cfg_.random_trials);
  for (int t = 0; t < trials; ++t) {
    auto fg = side_difference(g.kid(0), g.kid(1), cfg_, steps_, t);
    auto fp = side_difference(p.kid(0), p.kid(1), cfg_, steps_, t);
    if (!fg || !fp) return false;
    double mg = std::abs(*fg), mp = std::abs(*fp);
    if (!std::isfinite(mg) || !std::isfinite(mp)) return false;
    if (mg < 1e-12 && mp < 1e-12) continue;
    if (mg < 1e-12 || mp < 1e-12) return false;
    std::complex<double> r = *fg / *fp;
    if (ratio && std::abs(r - *ratio) > tolerance * std::abs(*ratio)) return false;
    ratio = r;
  }
  if (!ratio) return false;
  if (sign > 0 && !(ratio->real() > 0 && std::abs(ratio->imag()) < 1e-9)) return false;
  why = "equivalent relations";
  return true;
}

bool comparer::relations_equal(ref g, ref p) {
  const node& gn = g.n();
  const node& pn = p.n();
  if (gn.kids.size() != 2 || pn.kids.size() != 2) {
    int a = to_interval(g), b = to_interval(p);
    if (a >= 0 && b >= 0) return equal({g.t, a, g.mask}, {p.t, b, p.mask}, false);
    if (gn.kids.size() != pn.kids.size() || gn.text != pn.text) return false;
    for (std::size_t k = 0; k < gn.kids.size(); ++k) if (!equal(g.kid(k), p.kid(k), false)) return false;
    return true;
  }
  // Orient: a > b becomes b < a; the difference compared is (right - left) for inequalities.
  auto orient = [](ref r, std::string& op) {
    op = r.n().text;
    ref left = r.kid(0), right = r.kid(1);
    if (op == ">" || op == ">=") { op = op == ">" ? "<" : "<="; std::swap(left, right); }
    if (op == "<" || op == "<=") std::swap(left, right);  // compare right - left ≥ 0
    return std::pair<ref, ref>{left, right};
  };
  std::string og, op;
  auto [gl, gr] = orient(g, og);
  auto [pl, pr] = orient(p, op);
  if (og != op || og == "in") return false;
  bool symbolic = has_free_symbols(*g.t, g.i) || has_free_symbols(*p.t, p.i);
  if (!symbolic) return equal(gl, pl, false) && equal(gr, pr, false);
  tree* gt = g.t;
  tree* pt = p.t;
  // Build the oriented relations as two-child views without touching the trees.
  node gv = gn, pv = pn;
  gv.kids = {gl.i, gr.i};
  pv.kids = {pl.i, pr.i};
  gt->nodes.push_back(gv);
  pt->nodes.push_back(pv);
  ref gg{gt, static_cast<int>(gt->nodes.size()) - 1, g.mask}, pp{pt, static_cast<int>(pt->nodes.size()) - 1, p.mask};
  return equation_proportional(gg, pp, og == "=" || og == "!=" ? 0 : 1);
}

int add_node(tree& t, node n) {
  t.nodes.push_back(std::move(n));
  return static_cast<int>(t.nodes.size()) - 1;
}

int make_inf(tree& t, int sign) {
  node inf;
  inf.k = kind::constant;
  inf.text = "inf";
  int i = add_node(t, inf);
  if (sign > 0) return i;
  node neg;
  neg.k = kind::neg;
  neg.kids = {i};
  return add_node(t, neg);
}

int negated(tree& t, int i) {
  node n;
  n.k = kind::neg;
  n.kids = {i};
  return add_node(t, n);
}

// The set of z with |z| in `iv`: 1 ≤ |z| ≤ 2 → [-2, -1] ∪ [1, 2]; |z| < 3 → (-3, 3).
int mirror_abs(tree& t, node iv, int var) {
  if (!(t.at(var).k == kind::func && t.at(var).text == "abs")) return add_node(t, iv);
  int lo = iv.kids[0], hi = iv.kids[1];
  if (inf_sign(t, lo) < 0) {
    if (inf_sign(t, hi) > 0) return -1;  // every z
    node sym = iv;
    sym.kids = {negated(t, hi), hi};
    sym.lo_closed = iv.hi_closed;
    return add_node(t, sym);
  }
  node left = iv, right = iv;
  left.kids = {inf_sign(t, hi) > 0 ? make_inf(t, -1) : negated(t, hi), negated(t, lo)};
  left.lo_closed = iv.hi_closed;
  left.hi_closed = iv.lo_closed;
  node u;
  u.k = kind::set_union;
  u.kids = {add_node(t, left), add_node(t, right)};
  return add_node(t, u);
}

// x ≥ 2 → [2, ∞); 1 < x ≤ 3 → (1, 3]. -1 when the relation is not about one variable.
int comparer::to_interval(ref r) {
  const node n = r.n();
  if (!is_inequality(n)) return -1;
  std::vector<std::string> ops;
  for (std::size_t b = 0; b <= n.text.size();) {
    std::size_t e = n.text.find(' ', b);
    if (e == std::string::npos) e = n.text.size();
    ops.push_back(n.text.substr(b, e - b));
    b = e + 1;
  }
  auto less = [](const std::string& o) { return o == "<" || o == "<="; };
  auto greater = [](const std::string& o) { return o == ">" || o == ">="; };
  node iv;
  iv.k = kind::interval;
  tree& t = *r.t;
  if (ops.size() == 2 && n.kids.size() == 3 && is_assignable(t, n.kids[1])) {
    bool up = less(ops[0]) && less(ops[1]), down = greater(ops[0]) && greater(ops[1]);
    if (!up && !down) return -1;
    iv.kids = up ? std::vector<int>{n.kids[0], n.kids[2]} : std::vector<int>{n.kids[2], n.kids[0]};
    iv.lo_closed = (up ? ops[0] : ops[1]).size() == 2;
    iv.hi_closed = (up ? ops[1] : ops[0]).size() == 2;
    return mirror_abs(t, iv, n.kids[1]);
  }
  if (ops.size() != 1 || n.kids.size() != 2) return -1;
  std::string op = ops[0];
  int var = 0, value = 1;
  if (!is_assignable(t, n.kids[0])) {
    if (!is_assignable(t, n.kids[1])) return -1;
    std::swap(var, value);
    op = less(op) ? (op == "<" ? ">" : ">=") : (op == ">" ? "<" : "<=");
  }
  bool closed = op.size() == 2;
  if (less(op)) {
    iv.kids = {make_inf(t, -1), n.kids[static_cast<std::size_t>(value)]};
    iv.hi_closed = closed;
  } else if (greater(op)) {
    iv.kids = {n.kids[static_cast<std::size_t>(value)], make_inf(t, 1)};
    iv.lo_closed = closed;
  } else {
    return -1;
  }
  return mirror_abs(t, iv, n.kids[static_cast<std::size_t>(var)]);
}

bool comparer::intervals_equal(ref g, ref p) {
  const node& gn = g.n();
  const node& pn = p.n();
  if (!interval_like(gn) || !interval_like(pn) || gn.k == kind::set_union || pn.k == kind::set_union) return false;
  if (gn.lo_closed != pn.lo_closed || gn.hi_closed != pn.hi_closed) return false;
  for (std::size_t k = 0; k < 2; ++k) {
    int sg = inf_sign(*g.t, gn.kids[k]), sp = inf_sign(*p.t, pn.kids[k]);
    if (sg != sp) return false;
    if (sg == 0 && !equal(g.kid(k), p.kid(k), false)) return false;
  }
  why = "equal intervals";
  return true;
}

}  // namespace

bool answers_equal(tree& gold, tree& pred, const math_verifier_config& config, budget& steps, std::string& why) {
  gold.root = canonicalize(gold, gold.root, config);
  pred.root = canonicalize(pred, pred.root, config);
  comparer c(config, steps);
  bool eq = c.equal({&gold, gold.root}, {&pred, pred.root}, true);
  why = eq ? c.why : (steps.exhausted() ? "budget exhausted" : "different values");
  return eq;
}

}  // namespace aha::rewards::detail
