// gguf: reader for llama.cpp's GGUF files (versions 2 and 3) — header, metadata key/values of
// every type (arrays and nested arrays included), tensor infos, alignment, data offsets — and
// dequantization of the tensor types small models ship in (F32, F16, BF16, Q8_0, Q4_0, Q4_1,
// Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) into float32. No LibTorch here, so the libFuzzer
// target (gguf.fuzz.cpp) builds it alone. Every malformed or truncated input is an error naming
// the byte offset and the field; nothing is read outside the buffer.
// The mapping onto the transformer and the tokenizer is gguf_model.hpp.
// Tests: gguf.test.cpp (hand-built files, dequantization against gguf-py's values), gguf.fuzz.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace aha::model {

// Metadata value types, numbered as in the file.
enum class gguf_type : uint32_t {
  uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, boolean = 7,
  string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12,
};
const char* to_string(gguf_type type);

// One metadata value. Scalars use the first element of their vector; arrays of numbers/bools,
// strings or arrays fill ints/floats, strings or items (element_type says which).
struct gguf_value {
  gguf_type type = gguf_type::uint8;
  gguf_type element_type = gguf_type::uint8;  // arrays only
  std::vector<int64_t> ints;                  // every integer type and bool (uint64 kept as its bits)
  std::vector<double> floats;                 // float32, float64
  std::vector<std::string> strings;
  std::vector<gguf_value> items;              // arrays of arrays
  bool is_array() const { return type == gguf_type::array; }
  size_t size() const;                        // element count (1 for a scalar)
};

// ggml tensor types, numbered as in ggml.h. Only those listed in the header comment dequantize.
enum class ggml_type : uint32_t {
  f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9,
  q2_k = 10, q3_k = 11, q4_k = 12, q5_k = 13, q6_k = 14, q8_k = 15, bf16 = 30,
};
// Name ("Q4_1"), or "type N" for a number this reader does not know.
std::string ggml_type_name(uint32_t type);
// Elements per block and bytes per block; false for a type this reader cannot dequantize.
bool ggml_block_layout(uint32_t type, int64_t& block_elements, int64_t& block_bytes);

struct gguf_tensor_info {
  std::string name;
  std::vector<int64_t> dims;  // GGUF order: dims[0] varies fastest (a row); torch shape is reversed
  uint32_t type = 0;          // ggml_type number
  uint64_t offset = 0;        // from the start of the data section (a multiple of the alignment)
  uint64_t bytes = 0;         // size of the data
  int64_t elements() const;
  std::vector<int64_t> torch_shape() const { return {dims.rbegin(), dims.rend()}; }
};

class gguf_file {
 public:
  // Maps `path` and parses it. Errors name the file, the byte offset and the field.
  static result<gguf_file> open(const std::string& path);
  // Parses bytes held by the caller (copied), e.g. a file built in a test or a fuzz input.
  static result<gguf_file> parse(const void* data, size_t size, const std::string& name = "<memory>");

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // file offset of the data section
  const std::string& name() const { return name_; }

  // Metadata in file order.
  const std::vector<std::pair<std::string, gguf_value>>& metadata() const { return metadata_; }
  const gguf_value* find(std::string_view key) const;
  // Typed look-ups. A missing key or a value of another type is an error naming the key; the
  // integer getter accepts every integer type, the float getter float32/float64 and integers.
  result<std::string> get_string(std::string_view key) const;
  result<int64_t> get_int(std::string_view key) const;
  result<double> get_float(std::string_view key) const;
  result<std::vector<std::string>> get_strings(std::string_view key) const;  // array of strings
  result<std::vector<int64_t>> get_ints(std::string_view key) const;         // array of integers

  const std::vector<gguf_tensor_info>& tensors() const { return tensors_; }
  const gguf_tensor_info* find_tensor(std::string_view name) const;
  // The raw bytes of a tensor (inside the mapping; valid while this object or a copy lives).
  const uint8_t* tensor_data(const gguf_tensor_info& info) const;
  // Dequantizes a whole tensor into out (info.elements() floats, row-major in torch order).
  // Errors: a type without a dequantizer (named).
  status dequantize(const gguf_tensor_info& info, float* out) const;
  std::vector<float> dequantize(const gguf_tensor_info& info, status& s) const;

 private:
  struct storage;
  std::shared_ptr<const storage> storage_;  // the mapping or the copied bytes; shared by copies
  std::string name_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, gguf_value>> metadata_;
  std::vector<gguf_tensor_info> tensors_;

  static result<gguf_file> parse_storage(std::shared_ptr<const storage> bytes, const std::string& name);
};

// Dequantizes `count` elements (a multiple of the type's block size) of one run of blocks.
// Returns false for a type without a dequantizer. src must hold count / block * block_bytes bytes.
bool dequantize_blocks(uint32_t type, const uint8_t* src, float* dst, int64_t count);

// IEEE half / bfloat16 bits -> float.
float half_to_float(uint16_t bits);
float bf16_to_float(uint16_t bits);

}  // namespace aha::model
