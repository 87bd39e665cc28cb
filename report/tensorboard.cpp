// TensorBoard event files by hand (report/tensorboard.hpp).
#include "report/tensorboard.hpp"

#include <array>
#include <cstring>
#include <filesystem>

#include "report/run_files.hpp"

namespace aha::report {
namespace fs = std::filesystem;
namespace {

constexpr const char* kFileSuffix = ".aha";  // marks the event files this writer owns

std::array<std::uint32_t, 256> crc32c_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));  // reflected Castagnoli
    table[i] = crc;
  }
  return table;
}

// Protobuf wire format: a key is (field number << 3 | wire type); 0 varint, 1 fixed64, 2 bytes, 5 fixed32.
void put_varint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}
template <class T>
void put_fixed(std::string& out, T value) {  // little-endian, as the wire wants (x86 and ARM are)
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}
void put_key(std::string& out, int field, int wire_type) { put_varint(out, static_cast<std::uint64_t>(field << 3 | wire_type)); }
void put_bytes(std::string& out, int field, const std::string& bytes) {
  put_key(out, field, 2);
  put_varint(out, bytes.size());
  out += bytes;
}

// Event fields: 1 wall_time (double), 2 step (int64), 3 file_version (string), 5 summary (Summary).
std::string event_head(double wall_time, std::int64_t step) {
  std::string event;
  put_key(event, 1, 1);
  put_fixed(event, wall_time);
  if (step != 0) {  // proto3 leaves a zero out; readers default it to 0
    put_key(event, 2, 0);
    put_varint(event, static_cast<std::uint64_t>(step));
  }
  return event;
}

}  // namespace

std::uint32_t crc32c(const void* data, std::size_t size) {
  static const auto table = crc32c_table();
  const auto* bytes = static_cast<const unsigned char*>(data);
  std::uint32_t crc = 0xFFFFFFFFu;
  for (std::size_t i = 0; i < size; ++i) crc = table[(crc ^ bytes[i]) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

std::uint32_t masked_crc32c(const void* data, std::size_t size) {
  std::uint32_t crc = crc32c(data, size);
  return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

std::string tfrecord(const std::string& payload) {
  std::string record;
  const std::uint64_t length = payload.size();
  put_fixed(record, length);
  put_fixed(record, masked_crc32c(record.data(), sizeof length));
  record += payload;
  put_fixed(record, masked_crc32c(payload.data(), payload.size()));
  return record;
}

std::string event_file_version(double wall_time) {
  std::string event = event_head(wall_time, 0);
  put_bytes(event, 3, "brain.Event:2");
  return event;
}

std::string event_scalars(double wall_time, std::int64_t step, const std::map<std::string, double>& scalars) {
  std::string summary;  // Summary: 1 repeated Value; Value: 1 tag (string), 2 simple_value (float)
  for (const auto& [tag, value] : scalars) {
    std::string item;
    put_bytes(item, 1, tag);
    put_key(item, 2, 5);
    put_fixed(item, static_cast<float>(value));
    put_bytes(summary, 1, item);
  }
  std::string event = event_head(wall_time, step);
  put_bytes(event, 5, summary);
  return event;
}

result<event_writer> event_writer::open(const std::string& folder, double wall_time) {
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec) return make_error(errc::io_error, "cannot create " + folder + ": " + ec.message());
  event_writer writer;
  writer.path_ = (fs::path(folder) / ("events.out.tfevents." + std::to_string(static_cast<long long>(wall_time)) +
                                      kFileSuffix)).string();
  writer.out_.open(writer.path_, std::ios::binary | std::ios::trunc);
  if (!writer.out_) return make_error(errc::io_error, "cannot write " + writer.path_);
  writer.out_ << tfrecord(event_file_version(wall_time));
  return writer;
}

status event_writer::scalars(double wall_time, std::int64_t step, const std::map<std::string, double>& values) {
  out_ << tfrecord(event_scalars(wall_time, step, values));
  out_.flush();
  if (!out_) return make_error(errc::io_error, "cannot write " + path_);
  return ok_status();
}

status event_writer::close() {
  out_.close();
  if (!out_) return make_error(errc::io_error, "cannot write " + path_);
  return ok_status();
}

status stage_writers::write(const metrics_line& line) {
  auto found = writers_.find(line.stage);
  if (found == writers_.end()) {
    auto opened = event_writer::open((fs::path(tb_dir_) / line.stage).string(), line.time);
    if (!opened) return opened.error();
    found = writers_.emplace(line.stage, std::move(*opened)).first;
  }
  return found->second.scalars(line.time, static_cast<std::int64_t>(line.step), line.values);
}

status stage_writers::close() {
  for (auto& [stage, writer] : writers_) {
    if (auto closed = writer.close(); !closed) return closed.error();
  }
  return ok_status();
}

std::vector<std::string> stage_writers::files() const {
  std::vector<std::string> out;
  for (const auto& [stage, writer] : writers_) out.push_back(writer.path());
  return out;
}

result<tensorboard_summary> write_tensorboard(const std::string& run_dir) {
  auto metrics = read_metrics((fs::path(run_dir) / "metrics.jsonl").string());
  if (!metrics) return metrics.error();
  const fs::path tb = fs::path(run_dir) / "tb";
  std::error_code ec;
  for (const auto& stage : fs::directory_iterator(tb, ec)) {  // no tb/ yet: nothing to remove
    for (const auto& file : fs::directory_iterator(stage.path(), ec)) {
      const auto name = file.path().filename().string();
      if (name.find("tfevents") != std::string::npos && file.path().extension() == kFileSuffix) fs::remove(file.path(), ec);
    }
  }
  tensorboard_summary summary;
  summary.notes = metrics->notes;
  stage_writers writers(tb.string());
  for (const auto& line : metrics->lines) {
    if (auto written = writers.write(line); !written) return written.error();
    summary.events_by_stage[line.stage] += 1;
  }
  if (auto closed = writers.close(); !closed) return closed.error();
  summary.files = writers.files();
  return summary;
}

}  // namespace aha::report
