// Canonical forms before comparison: units and words around numbers dropped ("10 \text{cm}^2"),
// "pct"/"percent" words turned into %, \approx tails cut ("x = 1/3 \approx 0.33" → "x = 1/3"),
// and equation chains reduced to their last value ("x = 5+5 = 10" → "x = 10").
#include <cctype>

#include "rewards/math_compare.hpp"

namespace aha::rewards::detail {
namespace {

bool is_assignable_lhs(const tree& t, int i) {
  const node& n = t.at(i);
  switch (n.k) {
    case kind::symbol: case kind::call: return true;
    case kind::func: return n.text == "abs" && is_assignable_lhs(t, n.kids[0]);
    case kind::mul: case kind::div: case kind::ratio: case kind::tuple:
      for (int k : n.kids) if (!is_assignable_lhs(t, k)) return false;
      return true;
    default: return false;
  }
}

int add_node(tree& t, kind k, std::vector<int> kids, std::string text = {}) {
  node n;
  n.k = k;
  n.kids = std::move(kids);
  n.text = std::move(text);
  t.nodes.push_back(std::move(n));
  return static_cast<int>(t.nodes.size()) - 1;
}

bool is_wordy(const tree& t, int i) {
  const node& n = t.at(i);
  if (n.k == kind::text) return true;
  if (n.k == kind::pow) return is_wordy(t, n.kids[0]);  // cm^2 written \text{cm}^2
  return false;
}

// In a product, words are units: drop them when a number remains; "%" words become %.
int strip_units(tree& t, int i, const math_verifier_config& c) {
  std::vector<int> kept;
  bool percent = false, all_text = true;
  std::string words;
  for (int k : t.at(i).kids) {
    if (is_wordy(t, k)) {
      if (t.at(k).k == kind::text && t.at(k).text == "%") percent = true;
      if (t.at(k).k == kind::text) words += (words.empty() ? "" : " ") + t.at(k).text;
      continue;
    }
    all_text = false;
    kept.push_back(k);
  }
  if (all_text) return add_node(t, kind::text, {}, words);
  if (kept.size() == t.at(i).kids.size()) return i;
  if (!c.strip_units && !percent) return i;
  int core = kept.size() == 1 ? kept[0] : add_node(t, kind::mul, kept);
  return percent ? add_node(t, kind::percent, {core}) : core;
}

std::vector<std::string> split_ops(const std::string& ops) {
  std::vector<std::string> out;
  std::size_t b = 0;
  while (b <= ops.size()) {
    std::size_t e = ops.find(' ', b);
    if (e == std::string::npos) e = ops.size();
    out.push_back(ops.substr(b, e - b));
    b = e + 1;
  }
  return out;
}

std::string join_ops(const std::vector<std::string>& ops) {
  std::string s;
  for (const auto& o : ops) s += (s.empty() ? "" : " ") + o;
  return s;
}

// "a = b ≈ c" → "a = b"; "x ≈ 11" → "x = 11"; "x = 5+5+1 = 11" → "x = 11".
int tidy_relation(tree& t, int i) {
  std::vector<std::string> ops = split_ops(t.at(i).text);
  std::vector<int> kids = t.at(i).kids;
  if (ops.empty()) return i;
  // "x ≈ 11" gives the value 11; "\frac{\sqrt3}{3} ≈ 0.577" gives its exact left side.
  if (ops[0] == "~" && !is_assignable_lhs(t, kids[0])) return kids[0];
  if (ops[0] == "~") ops[0] = "=";
  for (std::size_t k = 1; k < ops.size(); ++k) {
    if (ops[k] == "~") {
      ops.resize(k);
      kids.resize(k + 1);
      break;
    }
  }
  bool all_equal = true;
  for (const auto& o : ops) all_equal = all_equal && o == "=";
  if (all_equal && kids.size() > 2) {
    kids = {kids.front(), kids.back()};
    ops = {"="};
  }
  node& n = t.nodes[static_cast<std::size_t>(i)];
  n.kids = std::move(kids);
  n.text = join_ops(ops);
  return i;
}

int make_matrix(tree& t, std::vector<int> cells, int rows, int cols) {
  int m = add_node(t, kind::matrix, std::move(cells));
  t.nodes[static_cast<std::size_t>(m)].rows = rows;
  t.nodes[static_cast<std::size_t>(m)].cols = cols;
  return m;
}

// A + B and A B of written-out matrices become one matrix of cell expressions, so that
// "\begin{pmatrix}1&2\\3&4\end{pmatrix} + \begin{pmatrix}5&6\\7&8\end{pmatrix}" can equal its sum.
int fold_matrices(tree& t, int i) {
  const node n = t.at(i);
  if (n.kids.size() != 2 || (n.k != kind::add && n.k != kind::mul)) return i;
  const node a = t.at(n.kids[0]), b = t.at(n.kids[1]);
  if (a.k != kind::matrix || b.k != kind::matrix || a.kids.size() > 64 || b.kids.size() > 64) return i;
  std::vector<int> cells;
  if (n.k == kind::add) {
    if (a.rows != b.rows || a.cols != b.cols) return i;
    for (std::size_t k = 0; k < a.kids.size(); ++k) cells.push_back(add_node(t, kind::add, {a.kids[k], b.kids[k]}));
    return make_matrix(t, std::move(cells), a.rows, a.cols);
  }
  if (a.cols != b.rows) return i;
  for (int r = 0; r < a.rows; ++r)
    for (int c = 0; c < b.cols; ++c) {
      std::vector<int> terms;
      for (int k = 0; k < a.cols; ++k)
        terms.push_back(add_node(t, kind::mul, {a.kids[static_cast<std::size_t>(r * a.cols + k)],
                                                b.kids[static_cast<std::size_t>(k * b.cols + c)]}));
      cells.push_back(add_node(t, kind::add, std::move(terms)));
    }
  return make_matrix(t, std::move(cells), a.rows, b.cols);
}

}  // namespace

int canonicalize(tree& t, int root, const math_verifier_config& config) {
  std::vector<int> kids = t.at(root).kids;
  for (int& k : kids) k = canonicalize(t, k, config);
  t.nodes[static_cast<std::size_t>(root)].kids = kids;
  switch (t.at(root).k) {
    case kind::mul: return fold_matrices(t, strip_units(t, root, config));
    case kind::add: return fold_matrices(t, root);
    case kind::relation: return tidy_relation(t, root);
    case kind::list: {
      // "10 \text{ units}" parsed as a list of one value plus stray words: keep the values.
      std::vector<int> values;
      for (int k : kids) if (t.at(k).k != kind::text || t.at(k).text.empty()) values.push_back(k);
      if (values.size() == kids.size() || values.empty()) return root;
      if (values.size() == 1) return values[0];
      t.nodes[static_cast<std::size_t>(root)].kids = values;
      return root;
    }
    default: return root;
  }
}

}  // namespace aha::rewards::detail
