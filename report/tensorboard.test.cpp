// Tests of the hand-written TensorBoard event files: CRC-32C against published vectors
// (RFC 3720), TFRecord framing read back, the Event protobuf bytes of one scalar, and
// tb/<stage>/ from a metrics.jsonl. TensorBoard's own reader: scripts/check_tensorboard.py.
#include <catch2/catch.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "report/tensorboard.hpp"

using namespace aha::report;
namespace fs = std::filesystem;

namespace {

template <class T>
T read_le(const std::string& bytes, std::size_t at) {
  T value;
  std::memcpy(&value, bytes.data() + at, sizeof value);
  return value;
}

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Splits an event file into its payloads, checking both CRCs of every record.
std::vector<std::string> records(const std::string& file) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < file.size()) {
    REQUIRE(file.size() - at >= 16);
    auto length = read_le<std::uint64_t>(file, at);
    CHECK(read_le<std::uint32_t>(file, at + 8) == masked_crc32c(file.data() + at, 8));
    REQUIRE(file.size() - at >= 16 + length);
    std::string payload = file.substr(at + 12, length);
    CHECK(read_le<std::uint32_t>(file, at + 12 + length) == masked_crc32c(payload.data(), payload.size()));
    out.push_back(payload);
    at += 16 + length;
  }
  return out;
}

}  // namespace

TEST_CASE("tensorboard: CRC-32C of the RFC 3720 and check-value vectors") {
  CHECK(crc32c("123456789", 9) == 0xE3069283u);
  std::string zeros(32, '\0'), ones(32, '\xff'), ascending(32, '\0');
  for (int i = 0; i < 32; ++i) ascending[i] = static_cast<char>(i);
  CHECK(crc32c(zeros.data(), zeros.size()) == 0x8A9136AAu);
  CHECK(crc32c(ones.data(), ones.size()) == 0x62A8AB43u);
  CHECK(crc32c(ascending.data(), ascending.size()) == 0x46DD794Eu);
  CHECK(crc32c("", 0) == 0u);
  // The mask: rotate right 15, add 0xa282ead8 (mod 2^32).
  const std::uint32_t crc = 0xE3069283u;
  CHECK(masked_crc32c("123456789", 9) == static_cast<std::uint32_t>(((crc >> 15) | (crc << 17)) + 0xa282ead8u));
}

TEST_CASE("tensorboard: a record is length, its masked CRC, the payload, its masked CRC") {
  auto record = tfrecord("hello");
  REQUIRE(record.size() == 8 + 4 + 5 + 4);
  CHECK(read_le<std::uint64_t>(record, 0) == 5);
  CHECK(record.substr(12, 5) == "hello");
  auto parts = records(record + tfrecord(""));
  REQUIRE(parts.size() == 2);
  CHECK(parts[0] == "hello");
  CHECK(parts[1].empty());
}

TEST_CASE("tensorboard: the Event bytes of the file version and of one scalar") {
  // Event{wall_time: 1.5 (field 1, fixed64), step: 3 (field 2, varint), summary (field 5, 10 bytes):
  //   Summary{value (1, 8 bytes): Value{tag (1): "a", simple_value (2, fixed32): 0.5}}}
  const std::string expected_scalar("\x09\x00\x00\x00\x00\x00\x00\xf8\x3f"
                                    "\x10\x03"
                                    "\x2a\x0a\x0a\x08\x0a\x01" "a" "\x15\x00\x00\x00\x3f",
                                    23);
  CHECK(event_scalars(1.5, 3, {{"a", 0.5}}) == expected_scalar);
  const std::string expected_version("\x09\x00\x00\x00\x00\x00\x00\xf8\x3f\x1a\x0d" "brain.Event:2", 24);
  CHECK(event_file_version(1.5) == expected_version);
  // A step past 127 takes a two-byte varint: 300 = 0xac 0x02.
  CHECK(event_scalars(1.5, 300, {}).substr(9, 3) == std::string("\x10\xac\x02", 3));
}

TEST_CASE("tensorboard: tb/<stage>/ from metrics.jsonl, one event per line, rewritten on a second call") {
  auto dir = fs::temp_directory_path() / ("aha_tb_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "tb" / "grpo");
  std::ofstream(dir / "tb" / "grpo" / "notes.txt") << "someone's file: left alone\n";
  std::ofstream(dir / "metrics.jsonl") << R"({"step":0,"time":100.0,"elapsed":1.0,"sft/loss":2.5})" "\n"
                                       << R"({"step":1,"time":101.0,"elapsed":2.0,"sft/loss":2.0})" "\n"
                                       << R"({"step":1,"time":102.0,"elapsed":3.0,"grpo/loss":0.1,"reward_mean":0.25,"grpo/kl":null})" "\n";
  for (int round = 0; round < 2; ++round) {
    auto summary = write_tensorboard(dir.string());
    REQUIRE(summary.ok());
    CHECK(summary->events_by_stage == std::map<std::string, std::uint64_t>{{"grpo", 1}, {"sft", 2}});
    std::vector<fs::path> sft_files;
    for (const auto& f : fs::directory_iterator(dir / "tb" / "sft")) sft_files.push_back(f.path());
    REQUIRE(sft_files.size() == 1);  // the second round replaced the first round's file
    auto sft = records(slurp(sft_files[0]));
    REQUIRE(sft.size() == 3);  // file version + two steps
    CHECK(sft[0].find("brain.Event:2") != std::string::npos);
    CHECK(sft[2] == event_scalars(101.0, 1, {{"elapsed", 2.0}, {"sft/loss", 2.0}}));
  }
  CHECK(fs::exists(dir / "tb" / "grpo" / "notes.txt"));
  std::vector<fs::path> grpo_files;
  for (const auto& f : fs::directory_iterator(dir / "tb" / "grpo")) {
    if (f.path().filename() != "notes.txt") grpo_files.push_back(f.path());
  }
  REQUIRE(grpo_files.size() == 1);
  auto grpo = records(slurp(grpo_files[0]));
  REQUIRE(grpo.size() == 2);
  // The null (a NaN the run recorded) is left out; the other values are there.
  CHECK(grpo[1] == event_scalars(102.0, 1, {{"elapsed", 3.0}, {"grpo/loss", 0.1}, {"reward_mean", 0.25}}));
  fs::remove_all(dir);
}

TEST_CASE("tensorboard: a malformed metrics line is an error naming file:line") {
  auto dir = fs::temp_directory_path() / ("aha_tb_bad_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "metrics.jsonl") << R"({"step":0,"sft/loss":1})" "\n" << "not json\n" << R"({"step":1})" "\n";
  auto summary = write_tensorboard(dir.string());
  REQUIRE_FALSE(summary.ok());
  CHECK(summary.error().message.find("metrics.jsonl:2") != std::string::npos);
  CHECK_FALSE(write_tensorboard((dir / "missing").string()).ok());
  fs::remove_all(dir);
}
