// hf_checkpoint implementation: name -> file resolution, shape checks, copy into parameters.
#include "model/hf_checkpoint.hpp"

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "model/gguf_model.hpp"
#include "model/safetensors.hpp"

namespace aha::model {
namespace {

namespace fs = std::filesystem;

result<std::string> read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(errc::not_found, path.string() + ": cannot open");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// name -> file for a folder: the index's weight_map, or every tensor of model.safetensors.
result<std::map<std::string, std::string>> weight_files(const fs::path& dir) {
  std::map<std::string, std::string> where;
  const auto index = dir / "model.safetensors.index.json";
  if (fs::exists(index)) {
    auto text = read_text(index);
    if (!text) return text.error();
    auto j = nlohmann::json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.contains("weight_map") || !j["weight_map"].is_object())
      return make_error(errc::corrupt_data, index.string() + ": expected an object with a \"weight_map\" object");
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it.value().is_string()) return make_error(errc::corrupt_data, index.string() + ": weight_map[\"" + it.key() + "\"] is not a file name");
      where[it.key()] = (dir / it.value().get<std::string>()).string();
    }
    return where;
  }
  const auto single = dir / "model.safetensors";
  if (!fs::exists(single)) return make_error(errc::not_found, dir.string() + ": no model.safetensors or model.safetensors.index.json");
  auto f = safetensors_file::open(single.string());
  if (!f) return f.error();
  for (const auto& e : f->entries()) where[e.name] = single.string();
  return where;
}

std::string shape_text(torch::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

result<model_config> read_model_config(const std::string& dir) {
  auto text = read_text(fs::path(dir) / "config.json");
  if (!text) return text.error();
  auto c = parse_model_config(*text);
  if (!c) return make_error(c.error().code, dir + "/" + c.error().message);
  return c;
}

status load_weights(transformer& model, const std::string& dir) {
  auto where = weight_files(dir);
  if (!where) return where.error();
  std::map<std::string, safetensors_file> open_files;
  torch::NoGradGuard no_grad;
  for (auto& [name, param] : named_parameters(model)) {
    auto it = where->find(name);
    if (it == where->end())
      return make_error(errc::not_found, dir + ": missing tensor \"" + name + "\" (expected shape " + shape_text(param.sizes()) + ")");
    auto file = open_files.find(it->second);
    if (file == open_files.end()) {
      auto f = safetensors_file::open(it->second);
      if (!f) return f.error();
      file = open_files.emplace(it->second, std::move(*f)).first;
    }
    auto t = file->second.load(name, param.scalar_type());
    if (!t) return t.error();
    if (!t->sizes().equals(param.sizes()))
      return make_error(errc::invalid_argument, it->second + ": tensor \"" + name + "\" has shape " + shape_text(t->sizes()) +
                                                    ", expected " + shape_text(param.sizes()));
    param.copy_(*t);
  }
  return ok_status();
}

result<transformer> load_pretrained(const std::string& dir) {
  if (is_gguf_file(dir)) return load_gguf_model(dir);
  auto config = read_model_config(dir);
  if (!config) return config.error();
  transformer model(*config);
  if (auto s = load_weights(model, dir); !s) return s.error();
  return model;
}

status save_pretrained(transformer& model, const std::string& dir, const save_options& options) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error(errc::io_error, dir + ": cannot create: " + ec.message());
  model_config config = model->config();
  config.torch_dtype = options.dtype == "BF16" ? "bfloat16" : options.dtype == "F16" ? "float16" : "float32";
  std::ofstream(fs::path(dir) / "config.json") << to_config_json(config) << "\n";
  if (auto s = write_safetensors((fs::path(dir) / "model.safetensors").string(), named_parameters(model), options.dtype); !s)
    return s;
  if (options.tokenizer_from.empty()) return ok_status();
  if (is_gguf_file(options.tokenizer_from)) {  // the tokenizer rebuilt from the GGUF metadata
    auto f = gguf_file::open(options.tokenizer_from);
    if (!f) return f.error();
    auto files = gguf_tokenizer(*f);
    if (!files) return files.error();
    std::ofstream(fs::path(dir) / "tokenizer.json", std::ios::binary) << files->tokenizer_json;
    std::ofstream(fs::path(dir) / "tokenizer_config.json", std::ios::binary) << files->tokenizer_config_json << "\n";
    nlohmann::json generation = {{"bos_token_id", config.bos_token_id}, {"eos_token_id", config.eos_token_id}};
    std::ofstream(fs::path(dir) / "generation_config.json") << generation.dump(2) << "\n";
    return ok_status();
  }
  for (const char* name : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"}) {
    const auto from = fs::path(options.tokenizer_from) / name;
    if (fs::exists(from) && !fs::equivalent(from.parent_path(), fs::path(dir), ec))
      fs::copy_file(from, fs::path(dir) / name, fs::copy_options::overwrite_existing, ec);
    if (ec) return make_error(errc::io_error, from.string() + ": cannot copy: " + ec.message());
  }
  return ok_status();
}

}  // namespace aha::model
