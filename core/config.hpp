// The configuration system: TOML files bound to typed structs, with `--set a.b=value` overrides.
//
// A component declares its settings once, as a plain struct plus a describe() function found by
// ADL; the same description drives loading, validation, error messages and `aha config show`:
//
//   struct replay_config {
//     std::string dir = "replay";                  // RocksDB folder, relative to the run dir
//     byte_size max_bytes{1ull << 30};              // bound on stored groups; oldest consumed go first
//     std::chrono::milliseconds flush{5};           // group-commit window for synced writes
//   };
//   template <class V> void describe(V& v, replay_config& c) {
//     v.field("dir", c.dir, "RocksDB folder, relative to the run dir");
//     v.field("max_bytes", c.max_bytes, "bound on stored groups (size, e.g. \"1GiB\")");
//     v.field("flush", c.flush, "group-commit window (duration)", config::range{0, 1e9});
//   }
//
// Visitor methods: field(key, x, doc [, range | choices]), required(key, x, doc),
// section(key, sub, doc) for a nested struct, list(key, vector<sub>, doc [, prototype]) for arrays
// of tables (with a prototype, each table overlays a copy of it).
// Field types: bool, integers, floating point, std::string, std::chrono durations ("200ms"),
// byte_size ("256MiB"), enums (with choices), std::vector of strings / numbers.
// Errors name file:line, the key, and what is valid (nearest name for unknown keys).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "core/units.hpp"

namespace aha::config {

// Inclusive bounds for a numeric field; durations compare in seconds, sizes in bytes.
struct range {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
};

// The spellings an enum field accepts, in the order they are listed in errors.
template <class E>
using choices = std::vector<std::pair<std::string_view, E>>;

namespace detail {
template <class T> struct is_duration : std::false_type {};
template <class R, class P> struct is_duration<std::chrono::duration<R, P>> : std::true_type {};
template <class T> struct is_vector : std::false_type {};
template <class T, class A> struct is_vector<std::vector<T, A>> : std::true_type {};
template <class T> struct is_number_vector : std::false_type {};
template <class T, class A> struct is_number_vector<std::vector<T, A>> : std::is_arithmetic<T> {};
}  // namespace detail

// One TOML table being read (implemented over toml++ in config.cpp, kept out of this header).
class table_reader {
 public:
  virtual ~table_reader() = default;
  // Each returns false when the key is absent; on a type mismatch it records an error.
  virtual bool read_bool(std::string_view key, bool& out) = 0;
  virtual bool read_int(std::string_view key, std::int64_t& out) = 0;
  virtual bool read_float(std::string_view key, double& out) = 0;
  virtual bool read_string(std::string_view key, std::string& out) = 0;
  virtual bool read_size(std::string_view key, byte_size& out) = 0;  // integer bytes or "256MiB"
  virtual bool read_string_list(std::string_view key, std::vector<std::string>& out) = 0;
  virtual bool read_float_list(std::string_view key, std::vector<double>& out) = 0;
  // A sub-table (nullptr when absent); and arrays of tables.
  virtual std::unique_ptr<table_reader> subtable(std::string_view key) = 0;
  virtual std::vector<std::unique_ptr<table_reader>> table_list(std::string_view key) = 0;
  // Records "file:line: [section] key: message" for the key (or for the table when key is empty).
  virtual void fail(std::string_view key, const std::string& message) = 0;
  // After every field was offered: reports keys present in the file that no field claimed.
  virtual void reject_unknown_keys(const std::vector<std::string>& known) = 0;
};

// Binds a table_reader's values into a struct through its describe() function.
class reader {
 public:
  explicit reader(table_reader& table) : table_(table) {}

  template <class T>
  void field(std::string_view key, T& x, std::string_view /*doc*/) {
    known_.emplace_back(key);
    read_value(key, x);
  }
  template <class T>
  void field(std::string_view key, T& x, std::string_view doc, range bounds) {
    known_.emplace_back(key);
    if (read_value(key, x)) check_range(key, as_double(x), bounds);
  }
  template <class E>
  void field(std::string_view key, E& x, std::string_view /*doc*/, const choices<E>& names) {
    known_.emplace_back(key);
    std::string text;
    if (!table_.read_string(key, text)) return;
    for (const auto& [name, value] : names) {
      if (name == text) { x = value; return; }
    }
    std::string valid;
    for (const auto& [name, value] : names) valid += (valid.empty() ? "" : ", ") + std::string(name);
    table_.fail(key, "'" + text + "' is not one of: " + valid);
  }
  template <class T>
  void required(std::string_view key, T& x, std::string_view doc) {
    known_.emplace_back(key);
    if (!read_value(key, x)) table_.fail(key, "missing required key (" + std::string(doc) + ")");
  }
  template <class S>
  void section(std::string_view key, S& sub, std::string_view /*doc*/) {
    known_.emplace_back(key);
    if (auto table = table_.subtable(key)) bind(*table, sub);
  }
  template <class S>
  void list(std::string_view key, std::vector<S>& items, std::string_view /*doc*/) {
    known_.emplace_back(key);
    auto tables = table_.table_list(key);
    if (tables.empty()) return;
    items.clear();
    for (auto& table : tables) bind(*table, items.emplace_back());
  }
  // An array of tables whose every item starts as `prototype`: a table overlays it (the keys it
  // names replace the prototype's, the others stay), e.g. a recipe's [[stages]] over its sections.
  template <class S>
  void list(std::string_view key, std::vector<S>& items, std::string_view /*doc*/, const S& prototype) {
    known_.emplace_back(key);
    auto tables = table_.table_list(key);
    if (tables.empty()) return;
    items.clear();
    for (auto& table : tables) bind(*table, items.emplace_back(prototype));
  }

  // Reads every field of `x` from `table`, then rejects keys that no field claimed.
  template <class S>
  static void bind(table_reader& table, S& x) {
    reader r(table);
    describe(r, x);
    table.reject_unknown_keys(r.known_);
  }

 private:
  template <class T>
  bool read_value(std::string_view key, T& x) {
    if constexpr (std::is_same_v<T, bool>) {
      return table_.read_bool(key, x);
    } else if constexpr (std::is_integral_v<T>) {
      std::int64_t v = 0;
      if (!table_.read_int(key, v)) return false;
      if ((std::is_unsigned_v<T> && v < 0) ||
          (v > 0 && static_cast<std::uint64_t>(v) > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) ||
          (std::is_signed_v<T> && v < static_cast<std::int64_t>(std::numeric_limits<T>::min()))) {
        table_.fail(key, std::to_string(v) + " does not fit this field's integer type");
        return false;
      }
      x = static_cast<T>(v);
      return true;
    } else if constexpr (std::is_floating_point_v<T>) {
      double v = 0;
      if (!table_.read_float(key, v)) return false;
      x = static_cast<T>(v);
      return true;
    } else if constexpr (std::is_same_v<T, std::string>) {
      return table_.read_string(key, x);
    } else if constexpr (detail::is_duration<T>::value) {
      std::string text;
      if (!table_.read_string(key, text)) return false;
      auto parsed = parse_duration(text);
      if (!parsed) { table_.fail(key, parsed.error().message); return false; }
      x = std::chrono::duration_cast<T>(*parsed);
      return true;
    } else if constexpr (std::is_same_v<T, byte_size>) {
      return table_.read_size(key, x);
    } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
      return table_.read_string_list(key, x);
    } else if constexpr (detail::is_number_vector<T>::value) {
      std::vector<double> values;
      if (!table_.read_float_list(key, values)) return false;
      x.assign(values.begin(), values.end());
      return true;
    } else {
      static_assert(sizeof(T) == 0, "config: unsupported field type");
    }
  }

  template <class T>
  static double as_double(const T& x) {
    if constexpr (detail::is_duration<T>::value) {
      return std::chrono::duration<double>(x).count();
    } else if constexpr (std::is_same_v<T, byte_size>) {
      return static_cast<double>(x.bytes);
    } else {
      return static_cast<double>(x);
    }
  }
  void check_range(std::string_view key, double value, range bounds);

  table_reader& table_;
  std::vector<std::string> known_;
};

// Prints a struct as commented TOML (the resolved config of `aha config show`).
class writer {
 public:
  explicit writer(std::string prefix) : prefix_(std::move(prefix)) {}

  template <class T>
  void field(std::string_view key, const T& x, std::string_view doc) { line(key, format(x), doc); }
  template <class T>
  void field(std::string_view key, const T& x, std::string_view doc, range) { field(key, x, doc); }
  template <class E>
  void field(std::string_view key, const E& x, std::string_view doc, const choices<E>& names) {
    for (const auto& [name, value] : names) {
      if (value == x) return line(key, quote(std::string(name)), doc);
    }
    line(key, "\"?\"", doc);
  }
  template <class T>
  void required(std::string_view key, const T& x, std::string_view doc) { field(key, x, doc); }
  template <class S>
  void section(std::string_view key, const S& sub, std::string_view doc) {
    std::string path = prefix_.empty() ? std::string(key) : prefix_ + "." + std::string(key);
    later_.push_back([path, sub, doc = std::string(doc)](std::ostream& out) {
      out << "\n# " << doc << "\n[" << path << "]\n" << print(sub, path);
    });
  }
  template <class S>
  void list(std::string_view key, const std::vector<S>& items, std::string_view doc) {
    std::string path = prefix_.empty() ? std::string(key) : prefix_ + "." + std::string(key);
    later_.push_back([path, items, doc = std::string(doc)](std::ostream& out) {
      out << "\n# " << doc << "\n";
      for (const auto& item : items) out << "[[" << path << "]]\n" << print(item, path);
    });
  }
  template <class S>
  void list(std::string_view key, const std::vector<S>& items, std::string_view doc, const S&) {
    list(key, items, doc);
  }

  // TOML text for `x`: its fields, then its sections (TOML needs scalars before sub-tables).
  template <class S>
  static std::string print(S x, const std::string& prefix = "") {
    writer w(prefix);
    describe(w, x);
    std::ostringstream out;
    out << w.scalars_.str();
    for (auto& emit : w.later_) emit(out);
    return out.str();
  }

 private:
  void line(std::string_view key, const std::string& value, std::string_view doc);
  static std::string quote(const std::string& text);
  static std::string format(bool x) { return x ? "true" : "false"; }
  static std::string format(const std::string& x) { return quote(x); }
  static std::string format(byte_size x) { return quote(format_byte_size(x)); }
  static std::string format(double x);
  static std::string format(const std::vector<std::string>& xs);
  template <class T>
  static std::string format(const T& x) {
    if constexpr (detail::is_duration<T>::value) {
      return quote(format_duration(std::chrono::duration_cast<std::chrono::nanoseconds>(x)));
    } else if constexpr (std::is_integral_v<T>) {
      return std::to_string(x);
    } else if constexpr (std::is_floating_point_v<T>) {
      return format(static_cast<double>(x));
    } else if constexpr (detail::is_vector<T>::value) {
      std::string out = "[";
      for (std::size_t i = 0; i < x.size(); ++i) out += (i ? ", " : "") + format(x[i]);
      return out + "]";
    } else {
      static_assert(sizeof(T) == 0, "config: unsupported field type");
    }
  }

  std::string prefix_;
  std::ostringstream scalars_;
  std::vector<std::function<void(std::ostream&)>> later_;
};

// Parses TOML text (named `origin` in errors) plus `--set key=value` overrides into one table
// reader. Each error found while binding is collected; `errors` joins them one per line.
class document {
 public:
  static result<document> from_file(const std::string& path, const std::vector<std::string>& overrides);
  static result<document> from_string(std::string_view text, std::string origin,
                                      const std::vector<std::string>& overrides);
  document(document&&) noexcept;
  document& operator=(document&&) noexcept;
  ~document();

  table_reader& root();
  const std::vector<std::string>& errors() const;

  struct impl;  // toml++ state, defined in config.cpp

 private:
  explicit document(std::unique_ptr<impl> state);
  std::unique_ptr<impl> impl_;
};

// Binds a whole document into T; every problem is reported, one per line, in one error.
template <class T>
result<T> bind(document& doc, T defaults = T{}) {
  reader::bind(doc.root(), defaults);
  if (!doc.errors().empty()) {
    std::string message;
    for (const auto& e : doc.errors()) message += (message.empty() ? "" : "\n") + e;
    return make_error(errc::invalid_argument, message);
  }
  return defaults;
}

// load<T>("configs/tiny.toml", {"learner.lr=1e-3"}): parse, override, bind, validate.
template <class T>
result<T> load(const std::string& path, const std::vector<std::string>& overrides = {}) {
  auto doc = document::from_file(path, overrides);
  if (!doc) return doc.error();
  return bind<T>(*doc);
}
template <class T>
result<T> load_string(std::string_view text, const std::vector<std::string>& overrides = {},
                      std::string origin = "<string>") {
  auto doc = document::from_string(text, std::move(origin), overrides);
  if (!doc) return doc.error();
  return bind<T>(*doc);
}

// The resolved configuration as TOML, every key with its doc comment.
template <class T>
std::string to_toml(const T& x) { return writer::print(x); }

// Levenshtein distance, for "did you mean" suggestions.
std::size_t edit_distance(std::string_view a, std::string_view b);

}  // namespace aha::config
