// Weight streaming's chunks (cluster/weight_stream.hpp).
#include "cluster/weight_stream.hpp"

#include <cstring>
#include <sstream>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace aha::cluster {
namespace {

// Bytes of a CPU-contiguous tensor (a snapshot's tensors are clones: contiguous; CUDA ones are
// copied to the host first).
torch::Tensor host_contiguous(const torch::Tensor& t) { return t.to(torch::kCPU).contiguous(); }

std::uint64_t byte_size(const torch::Tensor& t) { return static_cast<std::uint64_t>(t.numel() * t.element_size()); }

template <class Block>
std::vector<Block> block_table(const std::vector<std::uint64_t>& tensor_bytes, std::uint64_t block_bytes) {
  std::vector<Block> out;
  for (std::uint32_t t = 0; t < tensor_bytes.size(); ++t) {
    for (std::uint64_t at = 0; at < tensor_bytes[t]; at += block_bytes) {
      out.push_back({t, at, std::min(block_bytes, tensor_bytes[t] - at)});
    }
  }
  return out;
}

}  // namespace

std::string layout_of(const actors::weights_snapshot& snapshot, std::uint64_t block_bytes) {
  std::ostringstream out;
  out << "block_bytes " << block_bytes << "\n";
  for (const auto& [name, tensor] : snapshot.parameters) {
    out << name << " " << c10::toString(tensor.scalar_type());
    for (auto d : tensor.sizes()) out << " " << d;
    out << "\n";
  }
  return out.str();
}

std::uint64_t checksum_of(const weight_chunk& c) {
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  const std::uint64_t header[] = {c.version, c.delta ? 1u : 0u, c.base_version, c.index, c.count,
                                  c.layout.size(), c.blocks.size(), c.payload.size()};
  XXH3_64bits_update(state, header, sizeof header);
  XXH3_64bits_update(state, c.layout.data(), c.layout.size());
  XXH3_64bits_update(state, c.blocks.data(), c.blocks.size() * sizeof(std::uint32_t));
  XXH3_64bits_update(state, c.payload.data(), c.payload.size());
  const auto out = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  return out;
}

// ---- encoder ------------------------------------------------------------------------------------

weight_encoder::weight_encoder(stream_options options) : options_(options) {
  if (options_.block_bytes == 0) options_.block_bytes = 1;
  options_.chunk_bytes = std::max(options_.chunk_bytes, options_.block_bytes);
}

void weight_encoder::plan(const actors::weights_snapshot& snapshot) {
  auto layout = layout_of(snapshot, options_.block_bytes);
  if (layout == layout_) return;
  if (!layout_.empty()) throw std::invalid_argument("weight_encoder: the model's tensors changed between versions");
  layout_ = std::move(layout);
  std::vector<std::uint64_t> sizes;
  for (const auto& item : snapshot.parameters) sizes.push_back(byte_size(item.second));
  blocks_ = block_table<block>(sizes, options_.block_bytes);
}

block_hashes weight_encoder::hash(const actors::weights_snapshot& snapshot) {
  plan(snapshot);
  block_hashes out;
  out.reserve(blocks_.size());
  std::uint32_t current = ~0u;
  torch::Tensor host;
  for (const auto& b : blocks_) {
    if (b.tensor != current) host = host_contiguous(snapshot.parameters[b.tensor].second), current = b.tensor;
    out.push_back(XXH3_64bits(static_cast<const char*>(host.data_ptr()) + b.offset, b.length));
  }
  return out;
}

std::vector<weight_chunk> weight_encoder::encode(const actors::weights_snapshot& snapshot, const block_hashes& hashes,
                                                 const block_hashes* base, std::uint64_t base_version) {
  plan(snapshot);
  if (hashes.size() != blocks_.size() || (base && base->size() != blocks_.size())) {
    throw std::invalid_argument("weight_encoder::encode: block hashes of another layout");
  }
  std::vector<weight_chunk> out;
  auto start_chunk = [&] {
    weight_chunk c;
    c.version = snapshot.version;
    c.delta = base != nullptr;
    c.base_version = base ? base_version : 0;
    c.index = static_cast<std::uint32_t>(out.size());
    if (!base && out.empty()) c.layout = layout_;
    out.push_back(std::move(c));
  };
  start_chunk();
  std::uint32_t current = ~0u;
  torch::Tensor host;
  for (std::uint32_t i = 0; i < blocks_.size(); ++i) {
    if (base && (*base)[i] == hashes[i]) continue;
    const auto& b = blocks_[i];
    if (out.back().payload.size() + b.length > options_.chunk_bytes) start_chunk();
    if (b.tensor != current) host = host_contiguous(snapshot.parameters[b.tensor].second), current = b.tensor;
    out.back().blocks.push_back(i);
    out.back().payload.append(static_cast<const char*>(host.data_ptr()) + b.offset, b.length);
  }
  for (auto& c : out) {
    c.count = static_cast<std::uint32_t>(out.size());
    c.checksum = checksum_of(c);
  }
  return out;
}

// ---- assembler ----------------------------------------------------------------------------------

weight_assembler::weight_assembler(const actors::weights_snapshot& like, stream_options options)
    : options_(options) {
  if (options_.block_bytes == 0) options_.block_bytes = 1;
  layout_ = layout_of(like, options_.block_bytes);
  std::vector<std::uint64_t> sizes;
  for (const auto& [name, tensor] : like.parameters) {
    tensors_.emplace_back(name, torch::empty(tensor.sizes(), tensor.options().device(torch::kCPU)).contiguous());
    sizes.push_back(byte_size(tensor));
  }
  blocks_ = block_table<block>(sizes, options_.block_bytes);
}

status weight_assembler::fail(const std::string& why) {
  held_.reset();
  incoming_.reset();
  next_index_ = 0;
  return make_error(errc::corrupt_data, "weights stream: " + why + " (this replica now needs a full version)");
}

status weight_assembler::apply(const weight_chunk& c) {
  const std::string at = "version " + std::to_string(c.version) + " chunk " + std::to_string(c.index);
  if (checksum_of(c) != c.checksum) return fail(at + ": checksum mismatch");
  if (c.count == 0 || c.index >= c.count) return fail(at + ": index beyond its count " + std::to_string(c.count));
  if (c.index == 0) {
    // A new version starts: a full one needs the same layout, a delta the version held now.
    if (incoming_) return fail(at + ": version " + std::to_string(*incoming_) + " was cut short");
    if (!c.delta && c.layout != layout_) {
      return fail(at + ": the sender's model differs from this replica's (layout:\n" + c.layout + "here:\n" + layout_ + ")");
    }
    if (c.delta && (!held_ || *held_ != c.base_version)) {
      return fail(at + ": a delta against version " + std::to_string(c.base_version) + ", but this replica holds " +
                  (held_ ? "version " + std::to_string(*held_) : "none"));
    }
    incoming_ = c.version;
    next_index_ = 0;
    next_block_ = 0;
    held_.reset();  // written in place from here on
  } else if (!incoming_ || *incoming_ != c.version || c.index != next_index_) {
    return fail(at + ": out of order (expected chunk " + std::to_string(next_index_) + " of version " +
                (incoming_ ? std::to_string(*incoming_) : std::string("none")) + ")");
  }
  // Check the blocks before writing a byte: in range, ascending, sizes adding up to the payload,
  // and a full version's covering every block once, in order, across its chunks.
  std::uint64_t used = 0;
  for (std::size_t k = 0; k < c.blocks.size(); ++k) {
    const auto index = c.blocks[k];
    if (index >= blocks_.size() || (k > 0 && index <= c.blocks[k - 1])) {
      return fail(at + ": bad block index " + std::to_string(index));
    }
    if (!c.delta && index != next_block_ + k) return fail(at + ": a full version skipped block " + std::to_string(next_block_ + k));
    used += blocks_[index].length;
  }
  if (used != c.payload.size()) return fail(at + ": payload of " + std::to_string(c.payload.size()) + " bytes for " + std::to_string(used) + " bytes of blocks");
  if (!c.delta) {
    next_block_ += static_cast<std::uint32_t>(c.blocks.size());
    if (c.index + 1 == c.count && next_block_ != blocks_.size()) {
      return fail(at + ": a full version ended after " + std::to_string(next_block_) + " of " +
                  std::to_string(blocks_.size()) + " blocks");
    }
  }
  used = 0;
  for (auto index : c.blocks) {
    const auto& b = blocks_[index];
    std::memcpy(static_cast<char*>(tensors_[b.tensor].second.data_ptr()) + b.offset, c.payload.data() + used, b.length);
    used += b.length;
  }
  ++next_index_;
  if (next_index_ == c.count) {
    held_ = c.version;
    incoming_.reset();
    next_index_ = 0;
  }
  return ok_status();
}

actors::weights_ptr weight_assembler::snapshot() const {
  if (!held_) return nullptr;
  auto snap = std::make_shared<actors::weights_snapshot>();
  snap->version = *held_;
  for (const auto& [name, tensor] : tensors_) snap->parameters.emplace_back(name, tensor.clone());
  return snap;
}

}  // namespace aha::cluster
