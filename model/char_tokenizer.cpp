// char_tokenizer implementation: longest special-token match at '<', else one id per byte.
#include "model/char_tokenizer.hpp"

namespace aha::model {
namespace {
constexpr int kSpecialCount = 8;  // <pad> <bos> <eos> <unk> <think> </think> <answer> </answer>
}

char_tokenizer::char_tokenizer() {
  pieces_ = {"<pad>", "<bos>", "<eos>", "<unk>", "<think>", "</think>", "<answer>", "</answer>", "\n", "\t"};
  for (char c = ' '; c <= '~'; ++c) pieces_.emplace_back(1, c);
  ascii_.fill(-1);
  for (size_t id = kSpecialCount; id < pieces_.size(); ++id)
    ascii_[static_cast<unsigned char>(pieces_[id][0])] = static_cast<int32_t>(id);
}

std::vector<int32_t> char_tokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text[i] == '<') {
      int32_t best = -1;
      size_t best_len = 0;
      for (int id = 0; id < kSpecialCount; ++id)
        if (pieces_[id].size() > best_len && text.compare(i, pieces_[id].size(), pieces_[id]) == 0) {
          best = id;
          best_len = pieces_[id].size();
        }
      if (best >= 0) {
        ids.push_back(best);
        i += best_len;
        continue;
      }
    }
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 128) {
      ids.push_back(ascii_[byte] >= 0 ? ascii_[byte] : unk_id());
      ++i;
      continue;
    }
    ids.push_back(unk_id());  // one <unk> per UTF-8 code point: skip its continuation bytes
    for (++i; i < text.size() && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80; ++i) {
    }
  }
  return ids;
}

std::string char_tokenizer::decode(const int32_t* ids, size_t count) const {
  std::string out;
  for (size_t i = 0; i < count; ++i)
    if (ids[i] >= 0 && static_cast<size_t>(ids[i]) < pieces_.size()) out += pieces_[ids[i]];
  return out;
}

std::optional<int32_t> char_tokenizer::token_id(std::string_view token) const {
  for (size_t id = 0; id < pieces_.size(); ++id)
    if (pieces_[id] == token) return static_cast<int32_t>(id);
  return std::nullopt;
}

}  // namespace aha::model
