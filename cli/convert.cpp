// `aha convert MODEL OUT_DIR [--dtype F32|BF16|F16]`: writes a Hugging Face folder (config.json,
// model.safetensors, tokenizer.json, tokenizer_config.json, generation_config.json) that
// transformers loads, from a GGUF file (dequantized; tokenizer rebuilt from its metadata), a
// Hugging Face folder or an aha checkpoint. Tested by scripts/test_model_cli.sh.
#include <filesystem>
#include <iostream>

#include "cli/command.hpp"
#include "cli/model_source.hpp"
#include "model/hf_checkpoint.hpp"
#include "model/model_config.hpp"

namespace {

int convert(aha::cli::arguments& args) {
  const std::string dtype = args.option("--dtype").value_or("F32");
  auto positional = args.positionals();
  if (auto unknown = args.unknown_options(); !unknown.empty()) return aha::cli::usage_error("convert", unknown);
  if (positional.size() != 2) return aha::cli::usage_error("convert", "usage: aha convert MODEL OUT_DIR [--dtype F32|BF16|F16]");
  if (dtype != "F32" && dtype != "BF16" && dtype != "F16")
    return aha::cli::usage_error("convert", "--dtype " + dtype + ": expected F32, BF16 or F16");
  const auto& from = positional[0];
  const auto& to = positional[1];
  auto source = aha::cli::open_model_source(from);
  if (!source) {
    std::cerr << "aha convert: " << source.error().message << "\n";
    return 1;
  }
  aha::model::save_options options;
  options.dtype = dtype;
  options.tokenizer_from = from;  // a GGUF: rebuilt from its metadata; a folder: its tokenizer files copied
  if (auto s = aha::model::save_pretrained(source->model, to, options); !s) {
    std::cerr << "aha convert: " << s.error().message << "\n";
    return 1;
  }
  // An aha checkpoint of the tiny model names its character vocabulary in aha_tokenizer.json.
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(fs::path(from) / "aha_tokenizer.json"))
    fs::copy_file(fs::path(from) / "aha_tokenizer.json", fs::path(to) / "aha_tokenizer.json", fs::copy_options::overwrite_existing, ec);
  std::cout << "wrote " << to << " (" << source->kind << " -> Hugging Face folder, " << dtype << ", "
            << aha::model::parameter_count(source->model->config()) << " parameters)\n";
  return 0;
}

}  // namespace

AHA_COMMAND("convert", "write a GGUF file, Hugging Face folder or aha checkpoint as a Hugging Face folder", convert);
