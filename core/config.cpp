// The TOML side of the configuration system (core/config.hpp): parsing with toml++, applying
// `--set` overrides, typed reads with file:line errors, unknown-key suggestions, and printing.
#include "core/config.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <fstream>
#include <set>

#define TOML_EXCEPTIONS 1
#include <toml++/toml.h>

namespace aha::config {

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

namespace {

// "configs/tiny.toml:12" for a node from a file; "--set a.b=1" for a node from an override.
std::string where(const toml::source_region& source, const std::string& fallback) {
  if (!source.path) return fallback;
  const std::string& path = *source.path;
  if (path.rfind("--set", 0) == 0) return path;
  return path + ":" + std::to_string(source.begin.line);
}

std::string describe_node(const toml::node& node) {
  std::ostringstream out;
  out << node.type();
  if (node.is_string()) out << " \"" << node.as_string()->get() << "\"";
  if (node.is_integer()) out << " " << node.as_integer()->get();
  if (node.is_floating_point()) out << " " << node.as_floating_point()->get();
  return out.str();
}

// Replaces leaves and merges tables, so an override changes only the keys it names.
void merge(toml::table& into, toml::table& from) {
  for (auto&& [key, node] : from) {
    auto* existing = into.get(key);
    if (existing && existing->is_table() && node.is_table()) {
      merge(*existing->as_table(), *node.as_table());
    } else {
      into.insert_or_assign(key, std::move(node));
    }
  }
}

// "learner.lr=3e-4" -> a table {learner = {lr = 3e-4}}; an unquoted word becomes a string.
result<toml::table> parse_override(const std::string& text) {
  auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    return make_error(errc::invalid_argument,
                      "--set " + text + ": expected section.key=value (e.g. --set learner.lr=3e-4)");
  }
  std::string key = text.substr(0, eq);
  std::string value = text.substr(eq + 1);
  std::string origin = "--set " + text;
  try {
    return toml::parse(key + " = " + value, origin);
  } catch (const toml::parse_error&) {
  }
  std::string quoted;
  for (char c : value) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  try {
    return toml::parse(key + " = \"" + quoted + "\"", origin);
  } catch (const toml::parse_error& e) {
    return make_error(errc::invalid_argument, origin + ": " + std::string(e.description()));
  }
}

}  // namespace

struct document::impl {
  toml::table root;
  std::string origin;
  std::vector<std::string> errors;
  std::unique_ptr<table_reader> reader;  // over `root`, made once the overrides are merged
};

namespace {

class toml_table_reader final : public table_reader {
 public:
  toml_table_reader(const toml::table& table, std::string section, document::impl& doc)
      : table_(table), section_(std::move(section)), doc_(doc) {}

  bool read_bool(std::string_view key, bool& out) override {
    return read_as<bool>(key, out, "a boolean (true or false)");
  }
  bool read_int(std::string_view key, std::int64_t& out) override {
    return read_as<std::int64_t>(key, out, "an integer");
  }
  bool read_float(std::string_view key, double& out) override {
    const toml::node* node = table_.get(key);
    if (!node) return false;
    if (auto v = node->value<double>(); v && (node->is_floating_point() || node->is_integer())) {
      out = *v;
      return true;
    }
    fail_at(*node, key, "expected a number, got " + describe_node(*node));
    return false;
  }
  bool read_string(std::string_view key, std::string& out) override {
    return read_as<std::string>(key, out, "a string");
  }
  bool read_size(std::string_view key, byte_size& out) override {
    const toml::node* node = table_.get(key);
    if (!node) return false;
    if (node->is_integer() && node->as_integer()->get() >= 0) {
      out.bytes = static_cast<std::uint64_t>(node->as_integer()->get());
      return true;
    }
    if (node->is_string()) {
      auto parsed = parse_byte_size(node->as_string()->get());
      if (parsed) {
        out = *parsed;
        return true;
      }
      fail_at(*node, key, parsed.error().message);
      return false;
    }
    fail_at(*node, key, "expected a size (bytes, or a string such as \"256MiB\"), got " + describe_node(*node));
    return false;
  }
  bool read_string_list(std::string_view key, std::vector<std::string>& out) override {
    return read_list<std::string>(key, out, "an array of strings");
  }
  bool read_float_list(std::string_view key, std::vector<double>& out) override {
    return read_list<double>(key, out, "an array of numbers");
  }
  std::unique_ptr<table_reader> subtable(std::string_view key) override {
    const toml::node* node = table_.get(key);
    if (!node) return nullptr;
    if (!node->is_table()) {
      fail_at(*node, key, "expected a table ([" + path(key) + "]), got " + describe_node(*node));
      return nullptr;
    }
    return std::make_unique<toml_table_reader>(*node->as_table(), path(key), doc_);
  }
  std::vector<std::unique_ptr<table_reader>> table_list(std::string_view key) override {
    std::vector<std::unique_ptr<table_reader>> tables;
    const toml::node* node = table_.get(key);
    if (!node) return tables;
    const toml::array* array = node->as_array();
    if (!array || !array->is_array_of_tables()) {
      fail_at(*node, key, "expected an array of tables ([[" + path(key) + "]]), got " + describe_node(*node));
      return tables;
    }
    for (std::size_t i = 0; i < array->size(); ++i) {
      tables.push_back(std::make_unique<toml_table_reader>(
          *array->get(i)->as_table(), path(key) + "[" + std::to_string(i) + "]", doc_));
    }
    return tables;
  }
  void fail(std::string_view key, const std::string& message) override {
    const toml::node* node = key.empty() ? nullptr : table_.get(key);
    if (node) return fail_at(*node, key, message);
    std::string loc = where(table_.source(), doc_.origin);
    doc_.errors.push_back(loc + ": " + label(key) + message);
  }
  void reject_unknown_keys(const std::vector<std::string>& known) override {
    for (auto&& [key, node] : table_) {
      std::string name(key.str());
      if (std::find(known.begin(), known.end(), name) != known.end()) continue;
      std::string message = "unknown key '" + name + "' in " + (section_.empty() ? "the top level" : "[" + section_ + "]");
      auto nearest = std::min_element(known.begin(), known.end(), [&](const auto& a, const auto& b) {
        return edit_distance(name, a) < edit_distance(name, b);
      });
      if (nearest != known.end() && edit_distance(name, *nearest) <= std::max<std::size_t>(2, name.size() / 3)) {
        message += "; did you mean '" + *nearest + "'?";
      }
      std::string valid;
      for (const auto& k : known) valid += (valid.empty() ? "" : ", ") + k;
      message += " (valid: " + valid + ")";
      doc_.errors.push_back(where(key.source(), doc_.origin) + ": " + message);
    }
  }

 private:
  template <class T>
  bool read_as(std::string_view key, T& out, const char* expected) {
    const toml::node* node = table_.get(key);
    if (!node) return false;
    if (const auto* v = node->as<T>()) {
      out = v->get();
      return true;
    }
    fail_at(*node, key, std::string("expected ") + expected + ", got " + describe_node(*node));
    return false;
  }
  template <class T>
  bool read_list(std::string_view key, std::vector<T>& out, const char* expected) {
    const toml::node* node = table_.get(key);
    if (!node) return false;
    const toml::array* array = node->as_array();
    std::vector<T> values;
    bool good = array != nullptr;
    for (std::size_t i = 0; good && i < array->size(); ++i) {
      const toml::node* item = array->get(i);
      auto v = item->value<T>();
      good = v.has_value() && (!std::is_same_v<T, double> || item->is_number());
      if (good) values.push_back(*v);
    }
    if (!good) {
      fail_at(*node, key, std::string("expected ") + expected + ", got " + describe_node(*node));
      return false;
    }
    out = std::move(values);
    return true;
  }
  std::string path(std::string_view key) const {
    return section_.empty() ? std::string(key) : section_ + "." + std::string(key);
  }
  std::string label(std::string_view key) const {
    if (key.empty()) return section_.empty() ? "" : "[" + section_ + "] ";
    return "key '" + path(key) + "': ";
  }
  void fail_at(const toml::node& node, std::string_view key, const std::string& message) {
    doc_.errors.push_back(where(node.source(), doc_.origin) + ": " + label(key) + message);
  }

  const toml::table& table_;
  std::string section_;
  document::impl& doc_;
};

}  // namespace

document::document(std::unique_ptr<impl> state) : impl_(std::move(state)) {}
document::document(document&&) noexcept = default;
document& document::operator=(document&&) noexcept = default;
document::~document() = default;

result<document> document::from_string(std::string_view text, std::string origin,
                                       const std::vector<std::string>& overrides) {
  auto state = std::make_unique<impl>();
  state->origin = origin;
  try {
    state->root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    return make_error(errc::invalid_argument, where(e.source(), origin) + ": " + std::string(e.description()));
  }
  for (const auto& text_override : overrides) {
    auto table = parse_override(text_override);
    if (!table) return table.error();
    merge(state->root, *table);
  }
  state->reader = std::make_unique<toml_table_reader>(state->root, "", *state);
  return document(std::move(state));
}

result<document> document::from_file(const std::string& path, const std::vector<std::string>& overrides) {
  std::ifstream in(path);
  if (!in) return make_error(errc::not_found, path + ": cannot open config file");
  std::stringstream text;
  text << in.rdbuf();
  return from_string(text.str(), path, overrides);
}

table_reader& document::root() { return *impl_->reader; }

const std::vector<std::string>& document::errors() const { return impl_->errors; }

void reader::check_range(std::string_view key, double value, range bounds) {
  if (value >= bounds.lo && value <= bounds.hi) return;
  std::ostringstream message;
  message << "value " << value << " is out of range [" << bounds.lo << ", " << bounds.hi << "]";
  table_.fail(key, message.str());
}

void writer::line(std::string_view key, const std::string& value, std::string_view doc) {
  scalars_ << key << " = " << value;
  if (!doc.empty()) scalars_ << "  # " << doc;
  scalars_ << "\n";
}

std::string writer::quote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') { out += "\\n"; continue; }
    out += c;
  }
  return out + "\"";
}

std::string writer::format(double x) {
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  if (std::isnan(x)) return "nan";
  std::ostringstream out;
  out << std::setprecision(17) << x;
  std::string text = out.str();
  // Shortest round-trip spelling: try fewer digits first.
  for (int digits = 1; digits < 17; ++digits) {
    std::ostringstream shorter;
    shorter << std::setprecision(digits) << x;
    if (std::stod(shorter.str()) == x) { text = shorter.str(); break; }
  }
  if (text.find_first_of(".eEn") == std::string::npos) text += ".0";
  return text;
}

std::string writer::format(const std::vector<std::string>& xs) {
  std::string out = "[";
  for (std::size_t i = 0; i < xs.size(); ++i) out += (i ? ", " : "") + quote(xs[i]);
  return out + "]";
}

}  // namespace aha::config
