// tensorboard: TensorBoard event files without TensorFlow or protobuf. An event file is a
// sequence of TFRecords (length, masked CRC-32C of the length, payload, masked CRC-32C of the
// payload); each payload an Event protobuf, hand-encoded here: the first carries file_version
// "brain.Event:2", the rest wall_time, step and a Summary of {tag, simple_value} values.
// write_tensorboard() turns a run's metrics.jsonl into tb/<stage>/ (one TensorBoard run per
// stage). Tested by tensorboard.test.cpp (framing, CRC vectors) and, with TensorBoard's own
// reader, by scripts/check_tensorboard.py (CTest report.tensorboard_reader).
#pragma once

#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/result.hpp"

namespace aha::report {

// CRC-32C (Castagnoli), as TFRecord uses it; crc32c("123456789") = 0xE3069283.
std::uint32_t crc32c(const void* data, std::size_t size);
// TFRecord's masked form: rotate right by 15 bits, add 0xa282ead8.
std::uint32_t masked_crc32c(const void* data, std::size_t size);

// One TFRecord around `payload`.
std::string tfrecord(const std::string& payload);

// Event payloads (protobuf wire format).
std::string event_file_version(double wall_time);  // Event{wall_time, file_version: "brain.Event:2"}
std::string event_scalars(double wall_time, std::int64_t step, const std::map<std::string, double>& scalars);

// Writes events to a new <folder>/events.out.tfevents.<unix seconds>.aha (TensorBoard reads any
// file whose name holds "tfevents"), creating the folder; the file_version record comes first, and
// every event is flushed at once so a TensorBoard watching the folder sees it.
class event_writer {
 public:
  static result<event_writer> open(const std::string& folder, double wall_time);
  status scalars(double wall_time, std::int64_t step, const std::map<std::string, double>& values);
  status close();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ofstream out_;
};

struct metrics_line;

// Metrics lines into tb/<stage>/ under `tb_dir` as they come: a stage's file is opened at its
// first line. The metrics actor keeps one (actors/metrics.hpp) so TensorBoard follows a run live.
class stage_writers {
 public:
  explicit stage_writers(std::string tb_dir) : tb_dir_(std::move(tb_dir)) {}
  status write(const metrics_line& line);
  status close();
  std::vector<std::string> files() const;

 private:
  std::string tb_dir_;
  std::map<std::string, event_writer> writers_;  // stage -> its file
};

struct tensorboard_summary {
  std::map<std::string, std::uint64_t> events_by_stage;  // stage -> events (steps) written
  std::vector<std::string> files;
  std::vector<std::string> notes;  // from reading metrics.jsonl
};

// Rewrites <run_dir>/tb/ from <run_dir>/metrics.jsonl: tb/<stage>/ per stage ("sft", "grpo",
// "run"), one event per line with every value of the line under its metrics.jsonl name. The
// event files aha wrote there before (live, or by an earlier call) are removed first, so a resumed
// run's repeated steps and a crashed run's torn files leave no trace; nothing else in tb/ is touched.
result<tensorboard_summary> write_tensorboard(const std::string& run_dir);

}  // namespace aha::report
