// Checkpoint folders (actors/checkpoint.hpp): atomic save, trainer state, tokenizer marker.
#include "actors/checkpoint.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "core/fault_point.hpp"
#include "model/bpe_tokenizer.hpp"
#include "model/char_tokenizer.hpp"
#include "model/hf_checkpoint.hpp"

namespace aha::actors {
namespace {

namespace fs = std::filesystem;

constexpr const char* kStateFile = "trainer_state.json";
constexpr const char* kStateFormat = "aha.trainer_state/1";
constexpr const char* kTokenizerFile = "aha_tokenizer.json";
constexpr const char* kTokenizerFormat = "aha.tokenizer/1";

status write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text << "\n";
  if (!out.flush()) return make_error(errc::io_error, path.string() + ": cannot write");
  return ok_status();
}

result<nlohmann::json> read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return make_error(errc::not_found, path.string() + ": cannot open");
  std::stringstream text;
  text << in.rdbuf();
  auto j = nlohmann::json::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return make_error(errc::corrupt_data, path.string() + ": not a JSON object");
  return j;
}

// fsync of one file or folder: written data, or a folder's entries, reach the disk.
status sync_path(const fs::path& path, bool folder) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (folder ? O_DIRECTORY : 0));
  if (fd < 0) return make_error(errc::io_error, "open " + path.string() + ": " + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  if (rc != 0) return make_error(errc::io_error, "fsync " + path.string() + ": " + std::strerror(saved));
  return ok_status();
}

// A checkpoint must survive a machine crash, not only a process crash: the trainer state it
// carries says which rollouts were trained, so its files and the folder are synced before it
// replaces the previous one.
status sync_folder(const fs::path& folder) {
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    if (auto s = sync_path(it->path(), false); !s) return s;
  }
  if (ec) return make_error(errc::io_error, "list " + folder.string() + ": " + ec.message());
  return sync_path(folder, true);
}

// Puts the complete folder `tmp` in place of `target`. Linux swaps two folders in one step
// (RENAME_EXCHANGE); where the file system cannot, the old folder steps aside to <target>.old
// first, and read_trainer_state() moves it back if a crash came between the two renames.
status publish_folder(const fs::path& tmp, const fs::path& target) {
  std::error_code ec;
  if (!fs::exists(target)) {
    fs::rename(tmp, target, ec);
    if (ec) return make_error(errc::io_error, "rename " + tmp.string() + " -> " + target.string() + ": " + ec.message());
    return ok_status();
  }
  if (::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0) {
    fs::remove_all(tmp, ec);  // now holds the previous checkpoint
    return ok_status();
  }
  const fs::path old = target.string() + ".old";
  fs::remove_all(old, ec);
  fs::rename(target, old, ec);
  if (!ec) fs::rename(tmp, target, ec);
  if (ec) return make_error(errc::io_error, "replace " + target.string() + ": " + ec.message());
  fs::remove_all(old, ec);
  return ok_status();
}

}  // namespace

status save_checkpoint(const std::string& dir, const checkpoint_parts& parts, const trainer_state& state) {
  const fs::path target = dir;
  const fs::path tmp = dir + ".tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);  // the leftover of a save that crashed
  model::save_options options;
  const auto* chars = dynamic_cast<const model::char_tokenizer*>(parts.tokenizer);
  if (!chars) options.tokenizer_from = parts.tokenizer_from;
  if (auto s = model::save_pretrained(*parts.policy, tmp.string(), options); !s) return s;
  if (chars) {
    auto files = tokenizer_files(*chars, "");
    if (!files) return files.error();
    if (auto s = write_text(tmp / kTokenizerFile, files->at(kTokenizerFile)); !s) return s;
  }
  if (parts.optimizer) {
    if (auto s = parts.optimizer->save((tmp / "optimizer.pt").string()); !s) return s;
  }
  nlohmann::json j{{"format", kStateFormat},         {"stage", state.stage},
                   {"sft_steps", state.sft_steps},   {"grpo_step", state.grpo_step},
                   {"weight_version", state.weight_version}, {"stage_index", state.stage_index},
                   {"stage_name", state.stage_name},         {"stage_done", state.stage_done}};
  if (auto s = write_text(tmp / kStateFile, j.dump()); !s) return s;  // last: its presence marks a complete folder
  if (auto s = sync_folder(tmp); !s) return s;
  AHA_FAULT_POINT("checkpoint.before_publish");
  if (auto s = publish_folder(tmp, target); !s) return s;
  return sync_path(target.has_parent_path() ? target.parent_path() : fs::path("."), true);  // the rename itself
}

result<std::optional<trainer_state>> read_trainer_state(const std::string& dir) {
  const fs::path target = dir;
  const fs::path old = dir + ".old";
  std::error_code ec;
  if (!fs::exists(target / kStateFile) && fs::exists(old / kStateFile)) {
    // A replacement stopped between its two renames: the previous checkpoint is complete.
    fs::remove_all(target, ec);
    fs::rename(old, target, ec);
    if (ec) return make_error(errc::io_error, "restore " + old.string() + ": " + ec.message());
  }
  if (!fs::exists(target / kStateFile)) return std::optional<trainer_state>{};
  auto j = read_json(target / kStateFile);
  if (!j) return j.error();
  if (j->value("format", std::string()) != kStateFormat) {
    return make_error(errc::version_mismatch, (target / kStateFile).string() + ": format '" +
                                                  j->value("format", std::string()) + "', expected '" + kStateFormat + "'");
  }
  trainer_state state;
  state.stage = j->value("stage", std::string());
  state.sft_steps = j->value("sft_steps", std::uint64_t{0});
  state.grpo_step = j->value("grpo_step", std::uint64_t{0});
  state.weight_version = j->value("weight_version", std::uint64_t{0});
  state.stage_index = j->value("stage_index", std::int64_t{-1});
  state.stage_name = j->value("stage_name", std::string());
  state.stage_done = j->value("stage_done", false);
  if (state.stage != "sft" && state.stage != "grpo" && state.stage != "rejection_sample" && state.stage != "distill" &&
      state.stage != "eval") {
    return make_error(errc::corrupt_data, (target / kStateFile).string() + ": stage '" + state.stage +
                                              "', expected \"sft\", \"grpo\", \"rejection_sample\", \"distill\" or \"eval\"");
  }
  return std::optional<trainer_state>{state};
}

result<std::map<std::string, std::string>> tokenizer_files(const model::tokenizer& tokenizer, const std::string& from) {
  std::map<std::string, std::string> out;
  if (const auto* chars = dynamic_cast<const model::char_tokenizer*>(&tokenizer)) {
    nlohmann::json marker{{"format", kTokenizerFormat}, {"type", "char"}, {"vocab_size", chars->vocab_size()}};
    out[kTokenizerFile] = marker.dump();
    return out;
  }
  for (const char* name : {"tokenizer.json", "tokenizer_config.json"}) {
    const fs::path file = fs::path(from) / name;
    if (!fs::is_regular_file(file)) continue;
    std::ifstream in(file, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) return make_error(errc::io_error, file.string() + ": cannot read");
    out[name] = std::move(text);
  }
  if (!out.count("tokenizer.json")) {
    return make_error(errc::not_found, "no tokenizer.json in '" + from + "' (a GGUF file's tokenizer has none: "
                                       "`aha convert` it into a Hugging Face folder first)");
  }
  return out;
}

result<std::shared_ptr<const model::tokenizer>> load_tokenizer(const std::string& dir) {
  const fs::path marker = fs::path(dir) / kTokenizerFile;
  if (fs::exists(marker)) {
    auto j = read_json(marker);
    if (!j) return j.error();
    auto chars = std::make_shared<model::char_tokenizer>();
    if (j->value("format", std::string()) != kTokenizerFormat || j->value("type", std::string()) != "char") {
      return make_error(errc::version_mismatch, marker.string() + ": expected {\"format\": \"" + kTokenizerFormat +
                                                    "\", \"type\": \"char\"}");
    }
    if (j->value("vocab_size", std::int64_t{0}) != chars->vocab_size()) {
      return make_error(errc::version_mismatch, marker.string() + ": a character vocabulary of " +
                                                    std::to_string(j->value("vocab_size", std::int64_t{0})) +
                                                    " tokens; this build's has " + std::to_string(chars->vocab_size()));
    }
    return std::shared_ptr<const model::tokenizer>(std::move(chars));
  }
  auto bpe = model::bpe_tokenizer::from_folder(dir);
  if (!bpe) return bpe.error();
  return std::shared_ptr<const model::tokenizer>(std::make_shared<model::bpe_tokenizer>(std::move(*bpe)));
}

}  // namespace aha::actors
