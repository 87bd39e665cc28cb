// bpe_tokenizer implementation: tokenizer.json parsing, the encode pipeline, BPE merging.
#include "model/bpe_tokenizer.hpp"

#include <climits>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <unordered_map>

#include "model/unicode_text.hpp"

namespace aha::model {

using json = nlohmann::json;

namespace {
// ByteLevel's own split (GPT-2), used when the ByteLevel pre-tokenizer has use_regex = true.
const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
constexpr char kMergeSeparator = '\xff';  // never inside UTF-8 text
}  // namespace

struct added_token {
  std::string content;
  int32_t id = 0;
};

struct bpe_tokenizer::impl {
  std::unordered_map<std::string, int32_t> vocab;  // byte-level text -> id
  std::vector<std::string> id_to_text;            // id -> byte-level text or added-token content
  std::vector<bool> is_added;                     // id -> decodes verbatim
  std::unordered_map<std::string, int> merge_rank;  // a + kMergeSeparator + b -> rank
  std::vector<added_token> added;
  bool normalize_nfc = false;
  std::vector<unicode_regex> splits;  // applied in order, each "Isolated"
  bool add_prefix_space = false;
  bool ignore_merges = false;
  int32_t unk = -1, pad = -1, bos = -1, eos = -1;
  byte_level_map bytes;

  void bpe(const std::string& word, std::vector<int32_t>& out) const;
  void encode_plain(std::string_view text, std::vector<int32_t>& out) const;
};

namespace {

using impl_t = bpe_tokenizer::impl;

status parse_normalizer(const json& j, impl_t& t) {
  if (j.is_null()) return ok_status();
  const auto type = j.value("type", std::string());
  if (type == "NFC") {
    t.normalize_nfc = true;
    return ok_status();
  }
  if (type == "Sequence" && j.contains("normalizers")) {
    for (const auto& n : j["normalizers"])
      if (auto s = parse_normalizer(n, t); !s) return s;
    return ok_status();
  }
  return make_error(errc::invalid_argument, "tokenizer.json: normalizer \"" + type + "\" is not supported (expected null or NFC)");
}

status parse_pre_tokenizer(const json& j, impl_t& t) {
  const auto type = j.value("type", std::string());
  if (type == "Sequence") {
    for (const auto& p : j.value("pretokenizers", json::array()))
      if (auto s = parse_pre_tokenizer(p, t); !s) return s;
    return ok_status();
  }
  if (type == "Split") {
    if (j.value("behavior", std::string()) != "Isolated" || j.value("invert", false))
      return make_error(errc::invalid_argument, "tokenizer.json: only Split with behavior Isolated (not inverted) is supported");
    const auto& pattern = j["pattern"];
    if (!pattern.contains("Regex")) return make_error(errc::invalid_argument, "tokenizer.json: Split pattern must be a Regex");
    auto re = unicode_regex::compile(pattern["Regex"].get<std::string>());
    if (!re) return re.error();
    t.splits.push_back(std::move(*re));
    return ok_status();
  }
  if (type == "Digits") {  // digits isolated, one by one or in runs (SmolLM2's tokenizer)
    auto re = unicode_regex::compile(j.value("individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)");
    if (!re) return re.error();
    t.splits.push_back(std::move(*re));
    return ok_status();
  }
  if (type == "ByteLevel") {
    t.add_prefix_space = j.value("add_prefix_space", false);
    if (j.value("use_regex", true)) t.splits.push_back(*unicode_regex::compile(kGpt2Pattern));
    return ok_status();
  }
  return make_error(errc::invalid_argument, "tokenizer.json: pre_tokenizer \"" + type + "\" is not supported (expected ByteLevel, Split, Digits or Sequence)");
}

status parse_model(const json& m, impl_t& t) {
  if (m.value("type", std::string("BPE")) != "BPE") return make_error(errc::invalid_argument, "tokenizer.json: model type is not BPE");
  if (!m.contains("vocab") || !m["vocab"].is_object()) return make_error(errc::corrupt_data, "tokenizer.json: model.vocab missing");
  for (auto it = m["vocab"].begin(); it != m["vocab"].end(); ++it) t.vocab[it.key()] = it.value().get<int32_t>();
  int rank = 0;
  for (const auto& merge : m.value("merges", json::array())) {
    std::string a, b;
    if (merge.is_array() && merge.size() == 2) {  // tokenizers >= 0.20: ["a", "b"]
      a = merge[0].get<std::string>();
      b = merge[1].get<std::string>();
    } else if (merge.is_string()) {  // older: "a b"
      const auto s = merge.get<std::string>();
      const auto space = s.find(' ');
      if (space == std::string::npos) return make_error(errc::corrupt_data, "tokenizer.json: merge \"" + s + "\" has no space");
      a = s.substr(0, space);
      b = s.substr(space + 1);
    } else {
      return make_error(errc::corrupt_data, "tokenizer.json: merge " + std::to_string(rank) + " is neither \"a b\" nor [a, b]");
    }
    t.merge_rank.emplace(a + kMergeSeparator + b, rank++);
  }
  t.ignore_merges = m.value("ignore_merges", false);
  if (m.contains("unk_token") && m["unk_token"].is_string()) {
    auto it = t.vocab.find(m["unk_token"].get<std::string>());
    if (it != t.vocab.end()) t.unk = it->second;
  }
  return ok_status();
}

void build_id_table(impl_t& t) {
  int32_t size = 0;
  for (const auto& [text, id] : t.vocab) size = std::max(size, id + 1);
  for (const auto& a : t.added) size = std::max(size, a.id + 1);
  t.id_to_text.assign(size, "");
  t.is_added.assign(size, false);
  for (const auto& [text, id] : t.vocab) t.id_to_text[id] = text;
  for (const auto& a : t.added) {
    t.id_to_text[a.id] = a.content;
    t.is_added[a.id] = true;
  }
}

// The special-token ids: tokenizer_config.json when given, else common names.
void pick_specials(impl_t& t, const std::string& config_text) {
  auto id_of = [&](const std::string& text) -> int32_t {
    for (const auto& a : t.added)
      if (a.content == text) return a.id;
    auto it = t.vocab.find(text);
    return it == t.vocab.end() ? -1 : it->second;
  };
  auto first_of = [&](std::initializer_list<const char*> names) {
    for (const char* n : names)
      if (int32_t id = id_of(n); id >= 0) return id;
    return -1;
  };
  t.bos = first_of({"<|begin_of_text|>", "<s>", "<bos>"});
  t.eos = first_of({"<|endoftext|>", "<|end_of_text|>", "<|im_end|>", "</s>", "<eos>"});
  t.pad = first_of({"<|finetune_right_pad_id|>", "<pad>", "<|endoftext|>"});
  if (config_text.empty()) return;
  auto cfg = json::parse(config_text, nullptr, false);
  if (cfg.is_discarded() || !cfg.is_object()) return;
  auto named = [&](const char* key, int32_t& out) {
    if (!cfg.contains(key)) return;
    const auto& v = cfg[key];
    std::string text = v.is_string() ? v.get<std::string>() : v.is_object() ? v.value("content", std::string()) : "";
    if (v.is_null()) out = -1;
    if (int32_t id = text.empty() ? -1 : id_of(text); id >= 0) out = id;
  };
  named("bos_token", t.bos);
  named("eos_token", t.eos);
  named("pad_token", t.pad);
}

}  // namespace

result<bpe_tokenizer> bpe_tokenizer::from_json(const std::string& text, const std::string& config_text) {
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("model"))
    return make_error(errc::corrupt_data, "tokenizer.json: not a JSON object with a \"model\"");
  auto t = std::make_shared<impl>();
  try {
    if (auto s = parse_model(j["model"], *t); !s) return s.error();
    if (auto s = parse_normalizer(j.value("normalizer", json()), *t); !s) return s.error();
    if (j.contains("pre_tokenizer") && !j["pre_tokenizer"].is_null())
      if (auto s = parse_pre_tokenizer(j["pre_tokenizer"], *t); !s) return s.error();
    for (const auto& a : j.value("added_tokens", json::array()))
      t->added.push_back({a.at("content").get<std::string>(), a.at("id").get<int32_t>()});
  } catch (const json::exception& e) {
    return make_error(errc::corrupt_data, std::string("tokenizer.json: ") + e.what());
  }
  build_id_table(*t);
  pick_specials(*t, config_text);
  bpe_tokenizer out;
  out.impl_ = std::move(t);
  return out;
}

result<bpe_tokenizer> bpe_tokenizer::from_folder(const std::string& dir) {
  auto read = [](const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
  };
  const auto path = std::filesystem::path(dir) / "tokenizer.json";
  if (!std::filesystem::exists(path)) return make_error(errc::not_found, path.string() + ": no such file");
  const auto config = std::filesystem::path(dir) / "tokenizer_config.json";
  return from_json(read(path), std::filesystem::exists(config) ? read(config) : "");
}

// Merges the lowest-ranked adjacent pair, all its occurrences left to right, until none is left.
void bpe_tokenizer::impl::bpe(const std::string& word, std::vector<int32_t>& out) const {
  if (ignore_merges) {
    if (auto it = vocab.find(word); it != vocab.end()) {
      out.push_back(it->second);
      return;
    }
  }
  std::vector<std::string> symbols = utf8_characters(word);
  while (symbols.size() > 1) {
    int best = INT_MAX;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      auto it = merge_rank.find(symbols[i] + kMergeSeparator + symbols[i + 1]);
      if (it != merge_rank.end() && it->second < best) best = it->second;
    }
    if (best == INT_MAX) break;
    std::vector<std::string> merged;
    for (size_t i = 0; i < symbols.size(); ++i) {
      if (i + 1 < symbols.size()) {
        auto it = merge_rank.find(symbols[i] + kMergeSeparator + symbols[i + 1]);
        if (it != merge_rank.end() && it->second == best) {
          merged.push_back(symbols[i] + symbols[i + 1]);
          ++i;
          continue;
        }
      }
      merged.push_back(symbols[i]);
    }
    symbols.swap(merged);
  }
  for (const auto& s : symbols) {
    auto it = vocab.find(s);
    if (it != vocab.end()) out.push_back(it->second);
    else if (unk >= 0) out.push_back(unk);
  }
}

// Text between added tokens: normalise, pre-tokenize, map bytes, BPE each piece.
void bpe_tokenizer::impl::encode_plain(std::string_view text, std::vector<int32_t>& out) const {
  std::string normalized = normalize_nfc ? nfc(text) : std::string(text);
  if (add_prefix_space && (normalized.empty() || normalized[0] != ' ')) normalized.insert(normalized.begin(), ' ');
  std::vector<std::string_view> pieces{normalized};
  for (const auto& re : splits) {
    std::vector<std::string_view> next;
    for (auto piece : pieces)
      for (auto sub : re.split_isolated(piece)) next.push_back(sub);
    pieces.swap(next);
  }
  for (auto piece : pieces) bpe(bytes.encode(piece), out);
}

std::vector<int32_t> bpe_tokenizer::encode(std::string_view text) const {
  std::vector<int32_t> out;
  size_t plain_start = 0;
  for (size_t i = 0; i < text.size();) {
    const added_token* best = nullptr;  // longest added token starting at i
    for (const auto& a : impl_->added)
      if ((!best || a.content.size() > best->content.size()) && !a.content.empty() && text.compare(i, a.content.size(), a.content) == 0)
        best = &a;
    if (!best) {
      ++i;
      continue;
    }
    if (i > plain_start) impl_->encode_plain(text.substr(plain_start, i - plain_start), out);
    out.push_back(best->id);
    i += best->content.size();
    plain_start = i;
  }
  if (plain_start < text.size()) impl_->encode_plain(text.substr(plain_start), out);
  return out;
}

std::string bpe_tokenizer::decode(const int32_t* ids, size_t count) const {
  std::string out, pending;  // pending: byte-level text not yet mapped back to bytes
  for (size_t i = 0; i < count; ++i) {
    const int32_t id = ids[i];
    if (id < 0 || static_cast<size_t>(id) >= impl_->id_to_text.size()) continue;
    if (impl_->is_added[id]) {
      out += impl_->bytes.decode(pending);
      pending.clear();
      out += impl_->id_to_text[id];
    } else {
      pending += impl_->id_to_text[id];
    }
  }
  return out + impl_->bytes.decode(pending);
}

int64_t bpe_tokenizer::vocab_size() const { return static_cast<int64_t>(impl_->id_to_text.size()); }

std::optional<int32_t> bpe_tokenizer::token_id(std::string_view token) const {
  for (const auto& a : impl_->added)
    if (a.content == token) return a.id;
  auto it = impl_->vocab.find(std::string(token));
  if (it == impl_->vocab.end()) return std::nullopt;
  return it->second;
}

int32_t bpe_tokenizer::pad_id() const { return impl_->pad; }
int32_t bpe_tokenizer::bos_id() const { return impl_->bos; }
int32_t bpe_tokenizer::eos_id() const { return impl_->eos; }

}  // namespace aha::model
