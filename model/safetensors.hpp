// safetensors: reader (mmap, strict header validation) and writer for the Hugging Face
// safetensors format: u64 little-endian header length, JSON header {name: {dtype, shape,
// data_offsets}}, raw little-endian data. Reads F32/BF16/F16 (and I64/I32) into LibTorch tensors.
// Not the model mapping (hf_checkpoint.hpp). Tests: safetensors.test.cpp.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/result.hpp"

namespace aha::model {

struct safetensors_entry {
  std::string name;
  std::string dtype;           // "F32", "BF16", "F16", "I64", "I32"
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte range within the data section
};

class safetensors_file {
 public:
  // Maps the file and validates the whole header (sizes, offsets inside the file, no overlaps,
  // byte counts matching dtype x shape). Errors name the file and tensor.
  static result<safetensors_file> open(const std::string& path);

  const std::vector<safetensors_entry>& entries() const { return entries_; }
  const safetensors_entry* find(const std::string& name) const;
  // Copies a tensor out of the mapping, converted to `dtype` (float32 by default).
  result<torch::Tensor> load(const std::string& name, torch::Dtype dtype = torch::kFloat32) const;
  const std::string& path() const { return path_; }

 private:
  struct mapping;
  std::string path_;
  std::shared_ptr<mapping> map_;  // shared so the object is cheap to move
  std::vector<safetensors_entry> entries_;
  uint64_t data_start_ = 0;
};

// Writes tensors (contiguous copies are made as needed) in `dtype` (F32, BF16 or F16), names in
// the given order, 8-byte aligned header, __metadata__ {"format": "pt"}.
status write_safetensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                         const std::string& dtype = "F32");

}  // namespace aha::model
