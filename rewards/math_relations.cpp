// Relations and intervals for the comparer: equations equal up to a constant factor,
// inequalities oriented and compared the same way or turned into intervals (x ≥ 2 → [2, ∞),
// 1 ≤ |z| ≤ 2 → [-2, -1] ∪ [1, 2]), and interval endpoints with ∞. See math_comparer.hpp.
#include <cmath>

#include "rewards/math_comparer.hpp"

namespace aha::rewards::detail {

namespace {

std::optional<std::complex<double>> side_difference(ref a, ref b, const math_verifier_config& c, budget& steps, int trial) {
  eval_context ca{c, steps, unit_mode::apply, a.mask};
  auto x = eval_numeric(*a.t, a.i, ca, trial);
  eval_context cb{c, steps, unit_mode::apply, b.mask};
  auto y = eval_numeric(*b.t, b.i, cb, trial);
  if (!x || !y) return std::nullopt;
  return *x - *y;
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

}  // namespace

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

}  // namespace aha::rewards::detail
