// gguf implementation: a bounds-checked cursor over the bytes, the header/metadata/tensor-info
// parse with its validation, and the block dequantizers (layouts as in ggml-quants.c's
// dequantize_row_* functions, re-derived from the block structs).
#include "model/gguf.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <unordered_set>

namespace aha::model {

struct gguf_file::storage {
  const uint8_t* data = nullptr;
  size_t size = 0;
  std::vector<uint8_t> copy;  // parse(): the caller's bytes
  void* mapped = nullptr;     // open(): the mmap
  size_t mapped_size = 0;
  ~storage() {
    if (mapped) munmap(mapped, mapped_size);
  }
};

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian u32
constexpr uint32_t kMaxDims = 4;         // GGML_MAX_DIMS
constexpr int kMaxNesting = 4;           // arrays of arrays deeper than this are refused

// Reads little-endian values; every read is checked against the end of the buffer, and a failure
// records the offset and the field so the caller's error can name both.
class cursor {
 public:
  cursor(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  size_t offset() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }

  template <class T>
  bool read(T& out, const char* field) {
    if (remaining() < sizeof(T)) return fail(field, "needs " + std::to_string(sizeof(T)) + " bytes, " + std::to_string(remaining()) + " left");
    std::memcpy(&out, data_ + pos_, sizeof(T));  // the format and every supported host are little-endian
    pos_ += sizeof(T);
    return true;
  }
  bool read_string(std::string& out, const std::string& field) {
    const size_t at = pos_;
    uint64_t length = 0;
    if (!read(length, field.c_str())) return false;
    if (length > remaining()) {
      pos_ = at;
      return fail(field, "string length " + std::to_string(length) + " exceeds the " + std::to_string(remaining()) + " bytes left");
    }
    out.assign(reinterpret_cast<const char*>(data_ + pos_), length);
    pos_ += length;
    return true;
  }
  bool fail(const std::string& field, const std::string& what) {
    if (error_.empty()) error_ = "offset " + std::to_string(pos_) + ": " + field + ": " + what;
    return false;
  }
  const std::string& error() const { return error_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  std::string error_;
};

// Smallest encoded size of one value of `type`, to bound counts by the bytes left before any
// allocation (a 2^60-element array in a 100-byte file is refused, not reserved).
uint64_t min_encoded_size(gguf_type type) {
  switch (type) {
    case gguf_type::uint8: case gguf_type::int8: case gguf_type::boolean: return 1;
    case gguf_type::uint16: case gguf_type::int16: return 2;
    case gguf_type::uint32: case gguf_type::int32: case gguf_type::float32: return 4;
    case gguf_type::uint64: case gguf_type::int64: case gguf_type::float64: case gguf_type::string: return 8;
    case gguf_type::array: return 12;
  }
  return 1;
}

bool known_type(uint32_t t) { return t <= static_cast<uint32_t>(gguf_type::float64); }

bool read_scalar(cursor& c, gguf_type type, gguf_value& v, const std::string& field) {
  const char* f = field.c_str();
  switch (type) {
    case gguf_type::uint8: { uint8_t x; if (!c.read(x, f)) return false; v.ints.push_back(x); return true; }
    case gguf_type::int8: { int8_t x; if (!c.read(x, f)) return false; v.ints.push_back(x); return true; }
    case gguf_type::uint16: { uint16_t x; if (!c.read(x, f)) return false; v.ints.push_back(x); return true; }
    case gguf_type::int16: { int16_t x; if (!c.read(x, f)) return false; v.ints.push_back(x); return true; }
    case gguf_type::uint32: { uint32_t x; if (!c.read(x, f)) return false; v.ints.push_back(x); return true; }
    case gguf_type::int32: { int32_t x; if (!c.read(x, f)) return false; v.ints.push_back(x); return true; }
    case gguf_type::uint64: { uint64_t x; if (!c.read(x, f)) return false; v.ints.push_back(static_cast<int64_t>(x)); return true; }
    case gguf_type::int64: { int64_t x; if (!c.read(x, f)) return false; v.ints.push_back(x); return true; }
    case gguf_type::float32: { float x; if (!c.read(x, f)) return false; v.floats.push_back(x); return true; }
    case gguf_type::float64: { double x; if (!c.read(x, f)) return false; v.floats.push_back(x); return true; }
    case gguf_type::boolean: {
      uint8_t x;
      if (!c.read(x, f)) return false;
      if (x > 1) return c.fail(field, "bool value " + std::to_string(x) + " is neither 0 nor 1");
      v.ints.push_back(x);
      return true;
    }
    case gguf_type::string: {
      std::string s;
      if (!c.read_string(s, field)) return false;
      v.strings.push_back(std::move(s));
      return true;
    }
    case gguf_type::array: break;
  }
  return c.fail(field, "not a scalar type");
}

bool read_value(cursor& c, gguf_type type, gguf_value& v, const std::string& field, int depth) {
  v.type = type;
  if (type != gguf_type::array) return read_scalar(c, type, v, field);
  if (depth >= kMaxNesting) return c.fail(field, "arrays nested deeper than " + std::to_string(kMaxNesting));
  uint32_t element = 0;
  if (!c.read(element, (field + " (array element type)").c_str())) return false;
  if (!known_type(element)) return c.fail(field, "unknown array element type " + std::to_string(element));
  v.element_type = static_cast<gguf_type>(element);
  uint64_t count = 0;
  if (!c.read(count, (field + " (array length)").c_str())) return false;
  if (count > c.remaining() / min_encoded_size(v.element_type))
    return c.fail(field, "array of " + std::to_string(count) + " " + to_string(v.element_type) + " values cannot fit in the " +
                             std::to_string(c.remaining()) + " bytes left");
  if (v.element_type == gguf_type::array) v.items.reserve(count);
  for (uint64_t i = 0; i < count; ++i) {
    const std::string item_field = field + "[" + std::to_string(i) + "]";
    if (v.element_type == gguf_type::array) {
      v.items.emplace_back();
      if (!read_value(c, gguf_type::array, v.items.back(), item_field, depth + 1)) return false;
    } else if (!read_scalar(c, v.element_type, v, item_field)) {
      return false;
    }
  }
  return true;
}

// Element count with an overflow guard: at most 2^56, so byte counts (x4 for F32) fit in 64 bits.
bool checked_product(const std::vector<int64_t>& dims, int64_t& out) {
  out = 1;
  for (int64_t d : dims) {
    if (d != 0 && out > (int64_t{1} << 56) / d) return false;
    out *= d;
  }
  return true;
}

}  // namespace

const char* to_string(gguf_type type) {
  switch (type) {
    case gguf_type::uint8: return "uint8";
    case gguf_type::int8: return "int8";
    case gguf_type::uint16: return "uint16";
    case gguf_type::int16: return "int16";
    case gguf_type::uint32: return "uint32";
    case gguf_type::int32: return "int32";
    case gguf_type::float32: return "float32";
    case gguf_type::boolean: return "bool";
    case gguf_type::string: return "string";
    case gguf_type::array: return "array";
    case gguf_type::uint64: return "uint64";
    case gguf_type::int64: return "int64";
    case gguf_type::float64: return "float64";
  }
  return "unknown";
}

size_t gguf_value::size() const {
  if (!is_array()) return 1;
  return element_type == gguf_type::array ? items.size() : element_type == gguf_type::string ? strings.size()
         : (element_type == gguf_type::float32 || element_type == gguf_type::float64)        ? floats.size()
                                                                                             : ints.size();
}

std::string ggml_type_name(uint32_t type) {
  switch (static_cast<ggml_type>(type)) {
    case ggml_type::f32: return "F32";
    case ggml_type::f16: return "F16";
    case ggml_type::q4_0: return "Q4_0";
    case ggml_type::q4_1: return "Q4_1";
    case ggml_type::q5_0: return "Q5_0";
    case ggml_type::q5_1: return "Q5_1";
    case ggml_type::q8_0: return "Q8_0";
    case ggml_type::q8_1: return "Q8_1";
    case ggml_type::q2_k: return "Q2_K";
    case ggml_type::q3_k: return "Q3_K";
    case ggml_type::q4_k: return "Q4_K";
    case ggml_type::q5_k: return "Q5_K";
    case ggml_type::q6_k: return "Q6_K";
    case ggml_type::q8_k: return "Q8_K";
    case ggml_type::bf16: return "BF16";
  }
  return "type " + std::to_string(type);
}

bool ggml_block_layout(uint32_t type, int64_t& block_elements, int64_t& block_bytes) {
  constexpr int64_t qk_k = 256;
  switch (static_cast<ggml_type>(type)) {
    case ggml_type::f32: block_elements = 1, block_bytes = 4; return true;
    case ggml_type::f16: case ggml_type::bf16: block_elements = 1, block_bytes = 2; return true;
    case ggml_type::q4_0: block_elements = 32, block_bytes = 2 + 16; return true;
    case ggml_type::q4_1: block_elements = 32, block_bytes = 4 + 16; return true;
    case ggml_type::q5_0: block_elements = 32, block_bytes = 2 + 4 + 16; return true;
    case ggml_type::q5_1: block_elements = 32, block_bytes = 4 + 4 + 16; return true;
    case ggml_type::q8_0: block_elements = 32, block_bytes = 2 + 32; return true;
    case ggml_type::q2_k: block_elements = qk_k, block_bytes = 16 + 64 + 2 + 2; return true;
    case ggml_type::q3_k: block_elements = qk_k, block_bytes = 32 + 64 + 12 + 2; return true;
    case ggml_type::q4_k: block_elements = qk_k, block_bytes = 2 + 2 + 12 + 128; return true;
    case ggml_type::q5_k: block_elements = qk_k, block_bytes = 2 + 2 + 12 + 32 + 128; return true;
    case ggml_type::q6_k: block_elements = qk_k, block_bytes = 128 + 64 + 16 + 2; return true;
    default: return false;
  }
}

int64_t gguf_tensor_info::elements() const {
  int64_t n = 0;
  return checked_product(dims, n) ? n : 0;
}

float half_to_float(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf / nan
  } else if (exponent != 0) {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  } else if (mantissa == 0) {
    bits = sign;
  } else {  // subnormal half: normalise
    exponent = 113;
    while (!(mantissa & 0x400u)) mantissa <<= 1, --exponent;
    bits = sign | (exponent << 23) | ((mantissa & 0x3ffu) << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bf16_to_float(uint16_t h) {
  const uint32_t bits = uint32_t{h} << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

namespace {

uint16_t u16_at(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
float f16_at(const uint8_t* p) { return half_to_float(u16_at(p)); }

// Q4_K / Q5_K: eight 6-bit (scale, min) pairs packed into 12 bytes.
void scale_min_k4(int j, const uint8_t* q, uint8_t& scale, uint8_t& min) {
  if (j < 4) {
    scale = q[j] & 63;
    min = q[j + 4] & 63;
  } else {
    scale = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
    min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

void q4_0_block(const uint8_t* b, float* y) {
  const float d = f16_at(b);
  const uint8_t* qs = b + 2;
  for (int j = 0; j < 16; ++j) {
    y[j] = ((qs[j] & 0xf) - 8) * d;
    y[j + 16] = ((qs[j] >> 4) - 8) * d;
  }
}

void q4_1_block(const uint8_t* b, float* y) {
  const float d = f16_at(b), m = f16_at(b + 2);
  const uint8_t* qs = b + 4;
  for (int j = 0; j < 16; ++j) {
    y[j] = (qs[j] & 0xf) * d + m;
    y[j + 16] = (qs[j] >> 4) * d + m;
  }
}

// Q5_0 / Q5_1: a fifth bit per element in a 32-bit mask (bit j for element j).
void q5_block(const uint8_t* b, float* y, bool with_min) {
  const float d = f16_at(b), m = with_min ? f16_at(b + 2) : 0.0f;
  const uint8_t* p = b + (with_min ? 4 : 2);
  uint32_t qh;
  std::memcpy(&qh, p, 4);
  const uint8_t* qs = p + 4;
  const int offset = with_min ? 0 : 16;
  for (int j = 0; j < 16; ++j) {
    const int lo = (qs[j] & 0xf) | (((qh >> j) & 1) << 4);
    const int hi = (qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
    y[j] = (lo - offset) * d + m;
    y[j + 16] = (hi - offset) * d + m;
  }
}

void q8_0_block(const uint8_t* b, float* y) {
  const float d = f16_at(b);
  const auto* qs = reinterpret_cast<const int8_t*>(b + 2);
  for (int j = 0; j < 32; ++j) y[j] = qs[j] * d;
}

// block_q2_K: scales[16] (4-bit scale | 4-bit min), qs[64] (2 bits each), d, dmin.
void q2_k_block(const uint8_t* b, float* y) {
  const uint8_t* scales = b;
  const uint8_t* q = b + 16;
  const float d = f16_at(b + 80), dmin = f16_at(b + 82);
  int is = 0;
  for (int n = 0; n < 256; n += 128) {
    for (int shift = 0; shift < 8; shift += 2) {
      for (int half = 0; half < 2; ++half) {
        const uint8_t sc = scales[is++];
        const float dl = d * (sc & 0xf), ml = dmin * (sc >> 4);
        for (int l = 0; l < 16; ++l) *y++ = dl * ((q[l + 16 * half] >> shift) & 3) - ml;
      }
    }
    q += 32;
  }
}

// block_q3_K: hmask[32] (third bit), qs[64] (low 2 bits), scales[12] (sixteen 6-bit scales), d.
void q3_k_block(const uint8_t* b, float* y) {
  const uint8_t* hmask = b;
  const uint8_t* q = b + 32;
  const uint8_t* packed = b + 96;
  const float d = f16_at(b + 108);
  int8_t scales[16];
  for (int i = 0; i < 16; ++i) {
    // Low 4 bits: packed[i % 8] (low nibble for i < 8, high nibble after); high 2 bits: packed[8 + i % 4].
    const int low = i < 8 ? packed[i] & 0xf : packed[i - 8] >> 4;
    const int high = (packed[8 + i % 4] >> (2 * (i / 4))) & 3;
    scales[i] = static_cast<int8_t>((low | (high << 4)) - 32);
  }
  int is = 0;
  uint8_t m = 1;
  for (int n = 0; n < 256; n += 128) {
    for (int shift = 0; shift < 8; shift += 2) {
      for (int half = 0; half < 2; ++half) {
        const float dl = d * scales[is++];
        for (int l = 0; l < 16; ++l) {
          const int k = l + 16 * half;
          *y++ = dl * (((q[k] >> shift) & 3) - ((hmask[k] & m) ? 0 : 4));
        }
      }
      m <<= 1;
    }
    q += 32;
  }
}

// block_q4_K: d, dmin, scales[12], qs[128]; eight sub-blocks of 32.
void q4_k_block(const uint8_t* b, float* y) {
  const float d = f16_at(b), dmin = f16_at(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* q = b + 16;
  for (int j = 0, is = 0; j < 256; j += 64, is += 2, q += 32) {
    uint8_t sc, mn;
    scale_min_k4(is, scales, sc, mn);
    const float d1 = d * sc, m1 = dmin * mn;
    scale_min_k4(is + 1, scales, sc, mn);
    const float d2 = d * sc, m2 = dmin * mn;
    for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xf) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
  }
}

// block_q5_K: d, dmin, scales[12], qh[32] (fifth bits), qs[128].
void q5_k_block(const uint8_t* b, float* y) {
  const float d = f16_at(b), dmin = f16_at(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* ql = b + 48;
  uint8_t u1 = 1, u2 = 2;
  for (int j = 0, is = 0; j < 256; j += 64, is += 2, ql += 32, u1 <<= 2, u2 <<= 2) {
    uint8_t sc, mn;
    scale_min_k4(is, scales, sc, mn);
    const float d1 = d * sc, m1 = dmin * mn;
    scale_min_k4(is + 1, scales, sc, mn);
    const float d2 = d * sc, m2 = dmin * mn;
    for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xf) + (qh[l] & u1 ? 16 : 0)) - m1;
    for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
  }
}

// block_q6_K: ql[128] (low 4 bits), qh[64] (high 2 bits), scales[16] (int8), d.
void q6_k_block(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = f16_at(b + 208);
  for (int n = 0; n < 256; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
    for (int l = 0; l < 32; ++l) {
      const int is = l / 16;
      const int q1 = ((ql[l] & 0xf) | (((qh[l] >> 0) & 3) << 4)) - 32;
      const int q2 = ((ql[l + 32] & 0xf) | (((qh[l] >> 2) & 3) << 4)) - 32;
      const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
      const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
      y[l] = d * sc[is] * q1;
      y[l + 32] = d * sc[is + 2] * q2;
      y[l + 64] = d * sc[is + 4] * q3;
      y[l + 96] = d * sc[is + 6] * q4;
    }
  }
}

}  // namespace

bool dequantize_blocks(uint32_t type, const uint8_t* src, float* dst, int64_t count) {
  int64_t block = 0, bytes = 0;
  if (!ggml_block_layout(type, block, bytes)) return false;
  const int64_t blocks = count / block;
  switch (static_cast<ggml_type>(type)) {
    case ggml_type::f32: std::memcpy(dst, src, count * 4); return true;
    case ggml_type::f16: for (int64_t i = 0; i < count; ++i) dst[i] = f16_at(src + 2 * i); return true;
    case ggml_type::bf16: for (int64_t i = 0; i < count; ++i) dst[i] = bf16_to_float(u16_at(src + 2 * i)); return true;
    default: break;
  }
  void (*one)(const uint8_t*, float*) = nullptr;
  switch (static_cast<ggml_type>(type)) {
    case ggml_type::q4_0: one = q4_0_block; break;
    case ggml_type::q4_1: one = q4_1_block; break;
    case ggml_type::q5_0: one = [](const uint8_t* b, float* y) { q5_block(b, y, false); }; break;
    case ggml_type::q5_1: one = [](const uint8_t* b, float* y) { q5_block(b, y, true); }; break;
    case ggml_type::q8_0: one = q8_0_block; break;
    case ggml_type::q2_k: one = q2_k_block; break;
    case ggml_type::q3_k: one = q3_k_block; break;
    case ggml_type::q4_k: one = q4_k_block; break;
    case ggml_type::q5_k: one = q5_k_block; break;
    case ggml_type::q6_k: one = q6_k_block; break;
    default: return false;
  }
  for (int64_t i = 0; i < blocks; ++i) one(src + i * bytes, dst + i * block);
  return true;
}

result<gguf_file> gguf_file::open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(errc::not_found, path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return make_error(errc::invalid_argument, path + ": not a regular file");
  }
  auto s = std::make_shared<storage>();
  s->size = static_cast<size_t>(st.st_size);
  if (s->size > 0) {
    void* p = mmap(nullptr, s->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      return make_error(errc::io_error, path + ": mmap failed: " + std::strerror(errno));
    }
    s->mapped = p;
    s->mapped_size = s->size;
    s->data = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
  return parse_storage(std::move(s), path);
}

result<gguf_file> gguf_file::parse(const void* data, size_t size, const std::string& name) {
  auto s = std::make_shared<storage>();
  s->copy.assign(static_cast<const uint8_t*>(data), static_cast<const uint8_t*>(data) + size);
  s->data = s->copy.data();
  s->size = size;
  return parse_storage(std::move(s), name);
}

result<gguf_file> gguf_file::parse_storage(std::shared_ptr<const storage> bytes, const std::string& name) {
  gguf_file f;
  f.name_ = name;
  cursor c(bytes->data, bytes->size);
  auto bad = [&]() { return make_error(errc::corrupt_data, name + ": " + c.error()); };
  auto bad_at = [&](size_t offset, const std::string& field, const std::string& what) {
    return make_error(errc::corrupt_data, name + ": offset " + std::to_string(offset) + ": " + field + ": " + what);
  };

  uint32_t magic = 0;
  if (!c.read(magic, "magic")) return bad();
  if (magic != kMagic) return bad_at(0, "magic", "not a GGUF file (the first 4 bytes are not \"GGUF\")");
  if (!c.read(f.version_, "version")) return bad();
  if (f.version_ != 2 && f.version_ != 3)
    return make_error(errc::version_mismatch, name + ": offset 4: version: GGUF version " + std::to_string(f.version_) +
                                                  " is not supported (expected 2 or 3)");
  uint64_t tensor_count = 0, kv_count = 0;
  if (!c.read(tensor_count, "tensor_count") || !c.read(kv_count, "metadata_kv_count")) return bad();
  // Each key/value takes at least 8 (key length) + 4 (type) + 1 bytes, each tensor info 8 + 4 + 4 + 8.
  if (kv_count > c.remaining() / 13) return bad_at(16, "metadata_kv_count", std::to_string(kv_count) + " entries cannot fit in the file");
  if (tensor_count > c.remaining() / 24) return bad_at(8, "tensor_count", std::to_string(tensor_count) + " tensors cannot fit in the file");

  std::unordered_set<std::string> keys;
  size_t alignment_at = 0;  // where general.alignment's value is, for its errors
  f.metadata_.reserve(kv_count);
  for (uint64_t i = 0; i < kv_count; ++i) {
    std::string key;
    const size_t key_at = c.offset();
    if (!c.read_string(key, "metadata[" + std::to_string(i) + "].key")) return bad();
    if (!keys.insert(key).second) return bad_at(key_at, "metadata key \"" + key + "\"", "appears twice");
    uint32_t type = 0;
    if (!c.read(type, ("metadata \"" + key + "\" type").c_str())) return bad();
    if (!known_type(type)) return bad_at(c.offset() - 4, "metadata \"" + key + "\" type", "unknown value type " + std::to_string(type));
    gguf_value v;
    if (key == "general.alignment") alignment_at = c.offset();
    if (!read_value(c, static_cast<gguf_type>(type), v, "metadata \"" + key + "\"", 0)) return bad();
    f.metadata_.emplace_back(std::move(key), std::move(v));
  }

  if (const auto* a = f.find("general.alignment")) {
    if (a->type != gguf_type::uint32) return bad_at(alignment_at, "metadata \"general.alignment\"", std::string("is ") + to_string(a->type) + ", expected uint32");
    const auto value = static_cast<uint64_t>(a->ints[0]);
    if (value == 0 || (value & (value - 1)) != 0)
      return bad_at(alignment_at, "metadata \"general.alignment\"", std::to_string(value) + " is not a power of two");
    f.alignment_ = value;
  }

  std::unordered_set<std::string> names;
  f.tensors_.reserve(tensor_count);
  for (uint64_t i = 0; i < tensor_count; ++i) {
    gguf_tensor_info t;
    const std::string field = "tensor_info[" + std::to_string(i) + "]";
    const size_t at = c.offset();
    if (!c.read_string(t.name, field + ".name")) return bad();
    if (!names.insert(t.name).second) return bad_at(at, field + " \"" + t.name + "\"", "tensor name appears twice");
    const std::string tf = "tensor \"" + t.name + "\"";
    uint32_t n_dims = 0;
    if (!c.read(n_dims, (tf + " n_dims").c_str())) return bad();
    if (n_dims == 0 || n_dims > kMaxDims)
      return bad_at(c.offset() - 4, tf + " n_dims", std::to_string(n_dims) + " is not between 1 and " + std::to_string(kMaxDims));
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t dim = 0;
      if (!c.read(dim, (tf + " dims[" + std::to_string(d) + "]").c_str())) return bad();
      if (dim == 0 || dim > (uint64_t{1} << 40))
        return bad_at(c.offset() - 8, tf + " dims[" + std::to_string(d) + "]", std::to_string(dim) + " is not between 1 and 2^40");
      t.dims.push_back(static_cast<int64_t>(dim));
    }
    if (!c.read(t.type, (tf + " type").c_str())) return bad();
    const size_t type_at = c.offset() - 4;
    if (!c.read(t.offset, (tf + " offset").c_str())) return bad();
    int64_t block = 0, block_bytes = 0, elements = 0;
    if (!ggml_block_layout(t.type, block, block_bytes))
      return bad_at(type_at, tf + " type", ggml_type_name(t.type) + " is not supported (expected F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K)");
    if (t.dims[0] % block != 0)
      return bad_at(type_at, tf + " dims[0]", std::to_string(t.dims[0]) + " is not a multiple of " + ggml_type_name(t.type) +
                                                   "'s block of " + std::to_string(block));
    if (!checked_product(t.dims, elements)) return bad_at(at, tf + " dims", "element count overflows");
    t.bytes = static_cast<uint64_t>(elements / block) * static_cast<uint64_t>(block_bytes);
    if (t.offset % f.alignment_ != 0)
      return bad_at(c.offset() - 8, tf + " offset", std::to_string(t.offset) + " is not a multiple of the alignment " + std::to_string(f.alignment_));
    f.tensors_.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment.
  const uint64_t end_of_infos = c.offset();
  f.data_offset_ = (end_of_infos + f.alignment_ - 1) / f.alignment_ * f.alignment_;
  const uint64_t data_size = bytes->size >= f.data_offset_ ? bytes->size - f.data_offset_ : 0;
  if (!f.tensors_.empty() && f.data_offset_ > bytes->size)
    return bad_at(end_of_infos, "data section", "starts at " + std::to_string(f.data_offset_) + ", past the end of the " +
                                                    std::to_string(bytes->size) + "-byte file (truncated)");
  std::vector<const gguf_tensor_info*> by_offset;
  for (const auto& t : f.tensors_) {
    if (t.offset > data_size || t.bytes > data_size - t.offset)
      return bad_at(f.data_offset_ + t.offset, "tensor \"" + t.name + "\" data",
                    std::to_string(t.bytes) + " bytes at data offset " + std::to_string(t.offset) + " run past the end of the file (" +
                        std::to_string(data_size) + " data bytes; truncated?)");
    by_offset.push_back(&t);
  }
  std::sort(by_offset.begin(), by_offset.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i - 1]->offset + by_offset[i - 1]->bytes > by_offset[i]->offset)
      return bad_at(f.data_offset_ + by_offset[i]->offset, "tensor \"" + by_offset[i]->name + "\" data",
                    "overlaps tensor \"" + by_offset[i - 1]->name + "\"");
  f.storage_ = std::move(bytes);
  return f;
}

const gguf_value* gguf_file::find(std::string_view key) const {
  for (const auto& [k, v] : metadata_)
    if (k == key) return &v;
  return nullptr;
}

namespace {
bool is_integer(gguf_type t) {
  return t != gguf_type::float32 && t != gguf_type::float64 && t != gguf_type::string && t != gguf_type::array &&
         t != gguf_type::boolean;
}
}  // namespace

result<std::string> gguf_file::get_string(std::string_view key) const {
  const auto* v = find(key);
  if (!v) return make_error(errc::not_found, name_ + ": metadata \"" + std::string(key) + "\" is missing");
  if (v->type != gguf_type::string)
    return make_error(errc::corrupt_data, name_ + ": metadata \"" + std::string(key) + "\" is " + to_string(v->type) + ", expected string");
  return v->strings[0];
}

result<int64_t> gguf_file::get_int(std::string_view key) const {
  const auto* v = find(key);
  if (!v) return make_error(errc::not_found, name_ + ": metadata \"" + std::string(key) + "\" is missing");
  if (!is_integer(v->type))
    return make_error(errc::corrupt_data, name_ + ": metadata \"" + std::string(key) + "\" is " + to_string(v->type) + ", expected an integer");
  return v->ints[0];
}

result<double> gguf_file::get_float(std::string_view key) const {
  const auto* v = find(key);
  if (!v) return make_error(errc::not_found, name_ + ": metadata \"" + std::string(key) + "\" is missing");
  if (v->type == gguf_type::float32 || v->type == gguf_type::float64) return v->floats[0];
  if (is_integer(v->type)) return static_cast<double>(v->ints[0]);
  return make_error(errc::corrupt_data, name_ + ": metadata \"" + std::string(key) + "\" is " + to_string(v->type) + ", expected a number");
}

result<std::vector<std::string>> gguf_file::get_strings(std::string_view key) const {
  const auto* v = find(key);
  if (!v) return make_error(errc::not_found, name_ + ": metadata \"" + std::string(key) + "\" is missing");
  if (!v->is_array() || v->element_type != gguf_type::string)
    return make_error(errc::corrupt_data, name_ + ": metadata \"" + std::string(key) + "\" is not an array of strings");
  return v->strings;
}

result<std::vector<int64_t>> gguf_file::get_ints(std::string_view key) const {
  const auto* v = find(key);
  if (!v) return make_error(errc::not_found, name_ + ": metadata \"" + std::string(key) + "\" is missing");
  if (!v->is_array() || !is_integer(v->element_type))
    return make_error(errc::corrupt_data, name_ + ": metadata \"" + std::string(key) + "\" is not an array of integers");
  return v->ints;
}

const gguf_tensor_info* gguf_file::find_tensor(std::string_view name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

const uint8_t* gguf_file::tensor_data(const gguf_tensor_info& info) const {
  return storage_->data + data_offset_ + info.offset;
}

status gguf_file::dequantize(const gguf_tensor_info& info, float* out) const {
  if (!dequantize_blocks(info.type, tensor_data(info), out, info.elements()))
    return make_error(errc::invalid_argument, name_ + ": tensor \"" + info.name + "\": " + ggml_type_name(info.type) + " has no dequantizer");
  return ok_status();
}

std::vector<float> gguf_file::dequantize(const gguf_tensor_info& info, status& s) const {
  std::vector<float> out(static_cast<size_t>(info.elements()));
  s = dequantize(info, out.data());
  return out;
}

}  // namespace aha::model
