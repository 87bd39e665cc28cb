// safetensors implementation: POSIX mmap for reading, one buffered write for writing.
#include "model/safetensors.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

namespace aha::model {
namespace {

using json = nlohmann::json;
constexpr uint64_t kMaxHeader = 100ull << 20;  // the reference implementation's limit

struct dtype_info {
  const char* name;
  torch::Dtype dtype;
  int64_t bytes;
};
constexpr dtype_info kDtypes[] = {{"F32", torch::kFloat32, 4}, {"BF16", torch::kBFloat16, 2}, {"F16", torch::kFloat16, 2},
                                  {"I64", torch::kInt64, 8},   {"I32", torch::kInt32, 4}};

const dtype_info* find_dtype(const std::string& name) {
  for (const auto& d : kDtypes)
    if (name == d.name) return &d;
  return nullptr;
}
const dtype_info* find_dtype(torch::Dtype dtype) {
  for (const auto& d : kDtypes)
    if (dtype == d.dtype) return &d;
  return nullptr;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Parses and checks one header entry; `where` prefixes every error.
result<safetensors_entry> parse_entry(const std::string& name, const json& v, uint64_t data_size, const std::string& where) {
  auto bad = [&](const std::string& what) { return make_error(errc::corrupt_data, where + ": tensor \"" + name + "\": " + what); };
  if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
    return bad("expected an object with dtype, shape and data_offsets");
  safetensors_entry e;
  e.name = name;
  if (!v["dtype"].is_string()) return bad("dtype is not a string");
  e.dtype = v["dtype"].get<std::string>();
  const auto* info = find_dtype(e.dtype);
  if (!info) return bad("unsupported dtype \"" + e.dtype + "\" (expected F32, BF16, F16, I64 or I32)");
  int64_t numel = 1;
  if (!v["shape"].is_array()) return bad("shape is not an array");
  for (const auto& d : v["shape"]) {
    if (!d.is_number_unsigned()) return bad("shape has a non-integer or negative dimension");
    e.shape.push_back(d.get<int64_t>());
    numel *= e.shape.back();
  }
  const auto& off = v["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
    return bad("data_offsets must be two non-negative integers");
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  if (e.begin > e.end || e.end > data_size)
    return bad("data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + ") outside the data section of " +
               std::to_string(data_size) + " bytes");
  const uint64_t expected = static_cast<uint64_t>(numel) * info->bytes;
  if (e.end - e.begin != expected)
    return bad("holds " + std::to_string(e.end - e.begin) + " bytes, expected " + std::to_string(expected) + " for " + e.dtype +
               " " + shape_text(e.shape));
  return e;
}

}  // namespace

struct safetensors_file::mapping {
  void* data = nullptr;
  size_t size = 0;
  ~mapping() {
    if (data && data != MAP_FAILED) munmap(data, size);
  }
};

result<safetensors_file> safetensors_file::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(errc::not_found, path + ": cannot open: " + std::strerror(errno));
  struct stat st {};
  fstat(fd, &st);
  auto map = std::make_shared<mapping>();
  map->size = static_cast<size_t>(st.st_size);
  if (map->size > 0) map->data = mmap(nullptr, map->size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map->size > 0 && map->data == MAP_FAILED) return make_error(errc::io_error, path + ": mmap failed");
  if (map->size < 8) return make_error(errc::corrupt_data, path + ": " + std::to_string(map->size) + " bytes, too short for a safetensors header");
  uint64_t header_len = 0;
  std::memcpy(&header_len, map->data, 8);  // little-endian host assumed (x86-64, aarch64)
  if (header_len > kMaxHeader || header_len > map->size - 8)
    return make_error(errc::corrupt_data, path + ": header length " + std::to_string(header_len) + " exceeds the file (" +
                                              std::to_string(map->size) + " bytes)");
  const char* base = static_cast<const char*>(map->data);
  json header = json::parse(base + 8, base + 8 + header_len, nullptr, false);
  if (header.is_discarded() || !header.is_object()) return make_error(errc::corrupt_data, path + ": header is not a JSON object");
  safetensors_file f;
  f.path_ = path;
  f.map_ = map;
  f.data_start_ = 8 + header_len;
  const uint64_t data_size = map->size - f.data_start_;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    auto e = parse_entry(it.key(), it.value(), data_size, path);
    if (!e) return e.error();
    f.entries_.push_back(std::move(*e));
  }
  auto sorted = f.entries_;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i].begin < sorted[i - 1].end)
      return make_error(errc::corrupt_data, path + ": tensors \"" + sorted[i - 1].name + "\" and \"" + sorted[i].name + "\" overlap");
  return f;
}

const safetensors_entry* safetensors_file::find(const std::string& name) const {
  for (const auto& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

result<torch::Tensor> safetensors_file::load(const std::string& name, torch::Dtype dtype) const {
  const auto* e = find(name);
  if (!e) return make_error(errc::not_found, path_ + ": no tensor \"" + name + "\"");
  const auto* info = find_dtype(e->dtype);
  // Copy into a fresh (aligned) tensor: offsets in the file need not be aligned for the dtype.
  auto raw = torch::empty(e->shape, info->dtype);
  std::memcpy(raw.data_ptr(), static_cast<const char*>(map_->data) + data_start_ + e->begin, e->end - e->begin);
  return raw.to(dtype);
}

status write_safetensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                         const std::string& dtype) {
  const auto* info = find_dtype(dtype);
  if (!info || (dtype != "F32" && dtype != "BF16" && dtype != "F16"))
    return make_error(errc::invalid_argument, "write_safetensors: dtype \"" + dtype + "\" (expected F32, BF16 or F16)");
  json header = json::object();
  header["__metadata__"] = {{"format", "pt"}};
  std::vector<torch::Tensor> data;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    auto c = t.detach().to(torch::kCPU).to(info->dtype).contiguous();
    const uint64_t bytes = static_cast<uint64_t>(c.numel()) * info->bytes;
    header[name] = {{"dtype", dtype}, {"shape", c.sizes().vec()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
    data.push_back(c);
  }
  std::string text = header.dump();
  text.append((8 - (8 + text.size()) % 8) % 8, ' ');  // data section starts 8-byte aligned
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return make_error(errc::io_error, path + ": cannot create");
  const uint64_t len = text.size();
  out.write(reinterpret_cast<const char*>(&len), 8);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  for (const auto& c : data) out.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.numel() * info->bytes));
  out.close();
  if (!out) return make_error(errc::io_error, path + ": write failed");
  return ok_status();
}

}  // namespace aha::model
