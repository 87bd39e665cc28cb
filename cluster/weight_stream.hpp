// weight_stream: policy weights as versioned, checksummed chunks, for replicas on other hosts.
// The learner's snapshot (actors::weights_snapshot, in-process tensors) is cut into blocks of
// block_bytes per tensor; each block has a 64-bit hash (XXH3). A version goes out as chunks of
// at most chunk_bytes, each carrying whole blocks and a checksum over its header and bytes.
// Full mode sends every block; delta mode sends only the blocks whose hash differs from the
// version the receiver holds (its base), so frozen or unchanged tensors cost nothing.
//
// The receiver (weight_assembler) checks everything before it trusts a byte: the checksum, the
// order of chunks, a delta's base against the version it holds, block indices and sizes, and on
// a full version the tensor layout (names, shapes, dtype) against its own model. Writes go in
// place; a version that fails half way leaves no usable version (the receiver asks for a full
// one), never a mix of two. Tested by cluster/weight_stream.test.cpp; the actors that move the
// chunks are in cluster/weight_sync.hpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "actors/policy_trainer.hpp"
#include "core/result.hpp"

namespace aha::cluster {

struct stream_options {
  std::uint64_t block_bytes = 64 * 1024;         // unit of change detection (delta mode)
  std::uint64_t chunk_bytes = 4 * 1024 * 1024;   // payload bound of one message (>= block_bytes)
};

// The block size, then the names, dtypes and shapes of a model's tensors in snapshot order, one
// line each: both sides compute it from their own tensors, and a full version carries the
// sender's (the block table follows from it).
std::string layout_of(const actors::weights_snapshot& snapshot, std::uint64_t block_bytes);

// One message of a version.
struct weight_chunk {
  std::uint64_t version = 0;
  bool delta = false;               // true: blocks not carried are those of base_version
  std::uint64_t base_version = 0;
  std::uint32_t index = 0;          // this chunk's position, 0-based
  std::uint32_t count = 1;          // chunks in this version
  std::string layout;               // chunk 0 of a full version: layout_of(sender's snapshot)
  std::vector<std::uint32_t> blocks;  // global block indices carried, ascending
  std::string payload;              // their bytes, concatenated in that order
  std::uint64_t checksum = 0;       // XXH3 over every field above
};
std::uint64_t checksum_of(const weight_chunk& chunk);

// The block hashes of one version, in global block order.
using block_hashes = std::vector<std::uint64_t>;

// Cuts versions into chunks. The block table is fixed by the first snapshot's layout.
class weight_encoder {
 public:
  explicit weight_encoder(stream_options options = {});
  // Hashes every block of `snapshot` (compute once per version, then encode for each receiver).
  block_hashes hash(const actors::weights_snapshot& snapshot);
  // The chunks of `snapshot` (hashes from hash()): all blocks when `base` is null, else those
  // whose hash differs from `base` (the hashes of `base_version`, which the receiver holds).
  // A version with nothing changed is still one (empty) chunk: the receiver learns the version.
  std::vector<weight_chunk> encode(const actors::weights_snapshot& snapshot, const block_hashes& hashes,
                                   const block_hashes* base = nullptr, std::uint64_t base_version = 0);
  std::uint64_t block_count() const { return blocks_.size(); }

 private:
  struct block {
    std::uint32_t tensor;
    std::uint64_t offset;  // bytes into the tensor
    std::uint64_t length;
  };
  void plan(const actors::weights_snapshot& snapshot);
  stream_options options_;
  std::string layout_;
  std::vector<block> blocks_;
};

// Rebuilds versions from chunks into tensors shaped like `like` (the receiver's own model).
class weight_assembler {
 public:
  weight_assembler(const actors::weights_snapshot& like, stream_options options = {});
  // Applies one chunk; once the last chunk of a version is in, that version is current. An
  // error leaves no current version (needs_full() is then true).
  status apply(const weight_chunk& chunk);
  // The version held, complete; nullopt before the first one or after a failed one.
  std::optional<std::uint64_t> version() const { return held_; }
  bool needs_full() const { return !held_; }
  // A copy of the current version's tensors (each generator copies it into its replica).
  actors::weights_ptr snapshot() const;

 private:
  status fail(const std::string& why);
  stream_options options_;
  std::string layout_;
  std::vector<std::pair<std::string, torch::Tensor>> tensors_;
  struct block {
    std::uint32_t tensor;
    std::uint64_t offset;
    std::uint64_t length;
  };
  std::vector<block> blocks_;
  std::optional<std::uint64_t> held_;       // complete version in tensors_
  std::optional<std::uint64_t> incoming_;   // version being written (tensors_ partly overwritten)
  std::uint32_t next_index_ = 0;  // the chunk expected next
  std::uint32_t next_block_ = 0;  // a full version: the block expected next
};

}  // namespace aha::cluster
