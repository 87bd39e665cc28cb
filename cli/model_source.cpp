// model_source implementation.
#include "cli/model_source.hpp"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "actors/checkpoint.hpp"
#include "model/gguf_model.hpp"
#include "model/hf_checkpoint.hpp"

namespace aha::cli {

result<model_source> open_model_source(const std::string& path) {
  namespace fs = std::filesystem;
  model_source out;
  if (model::is_gguf_file(path)) {
    auto file = model::gguf_file::open(path);
    if (!file) return file.error();
    auto files = model::gguf_tokenizer(*file);
    if (!files) return files.error();
    auto config = model::gguf_model_config(*file);
    if (!config) return config.error();
    out.model = model::transformer(*config);
    if (auto s = model::load_gguf_weights(out.model, *file); !s) return s.error();
    auto tok = model::bpe_tokenizer::from_json(files->tokenizer_json, files->tokenizer_config_json);
    if (!tok) return make_error(tok.error().code, path + ": " + tok.error().message);
    out.kind = "gguf";
    out.tokenizer = std::make_shared<model::bpe_tokenizer>(std::move(*tok));
    out.tokenizer_config_json = files->tokenizer_config_json;
    out.add_bos = files->add_bos;
    return out;
  }
  if (!fs::is_directory(path))
    return make_error(errc::not_found, path + ": neither a GGUF file nor a folder with config.json (a Hugging Face model or an aha checkpoint)");
  auto m = model::load_pretrained(path);
  if (!m) return m.error();
  auto tok = actors::load_tokenizer(path);
  if (!tok) return tok.error();
  out.kind = "folder";
  out.model = *m;
  out.tokenizer = *tok;
  const auto config_path = fs::path(path) / "tokenizer_config.json";
  if (fs::exists(config_path)) {
    std::ifstream in(config_path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    out.tokenizer_config_json = s.str();
    auto j = nlohmann::json::parse(out.tokenizer_config_json, nullptr, false);
    if (j.is_object()) out.add_bos = j.value("add_bos_token", false) == true;
  }
  return out;
}

}  // namespace aha::cli
