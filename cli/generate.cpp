// `aha generate --model PATH --prompt TEXT [--chat] [--system TEXT] [--max-new-tokens N]
// [--temperature T] [--top-p P] [--top-k K] [--seed S] [--threads N (default 1)] [--json]`: prints a
// completion of TEXT by a GGUF file, a Hugging Face folder or an aha checkpoint. --chat wraps the
// prompt in the model's chat template (ChatML or Llama 3, from its tokenizer_config.json or GGUF
// metadata; the template's own default system turn unless --system is given, --system "" for
// none) and stops at its end-of-turn token. Temperature 0 (the default) is greedy. --json
// prints one JSON object instead of the text. Tested by scripts/test_model_cli.sh.
#include <chrono>
#include <iostream>
#include <regex>

#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "cli/model_source.hpp"
#include "model/chat_template.hpp"
#include "model/engine.hpp"
#include "model/runtime.hpp"

namespace {

// A ChatML template's built-in system turn, written as a literal in the template (SmolLM2's and
// Qwen2.5's add one when the conversation has none): what transformers' apply_chat_template
// would render without a system message. Empty when there is none.
std::string default_system_prompt(const std::string& tokenizer_config_json) {
  auto j = nlohmann::json::parse(tokenizer_config_json, nullptr, false);
  if (!j.is_object() || !j.contains("chat_template") || !j["chat_template"].is_string()) return "";
  const auto t = j["chat_template"].get<std::string>();
  static const std::regex literal(R"('<\|im_start\|>system(?:\n|\\n)([^']*)<\|im_end\|>)");
  std::smatch m;
  if (!std::regex_search(t, m, literal)) return "";
  std::string text = m[1].str();
  for (size_t at; (at = text.find("\\n")) != std::string::npos;) text.replace(at, 2, "\n");  // a Jinja "\n" escape
  return text;
}

const char* finish_name(aha::model::finish_reason f) {
  switch (f) {
    case aha::model::finish_reason::stop_token: return "stop_token";
    case aha::model::finish_reason::stop_string: return "stop_string";
    case aha::model::finish_reason::length: break;
  }
  return "length";
}

int generate(aha::cli::arguments& args) {
  const char* name = "generate";
  auto model_path = args.option("--model");
  auto prompt = args.option("--prompt");
  auto system = args.option("--system");
  const bool chat = args.flag("--chat");
  const bool as_json = args.flag("--json");
  aha::model::sampling_params params;
  params.temperature = 0;
  int threads = 1;  // one: two OpenMP threads on a busy 2-core machine ran 5x slower (docs/model.md)
  try {
    if (auto v = args.option("--max-new-tokens")) params.max_new_tokens = std::stoll(*v);
    if (auto v = args.option("--temperature")) params.temperature = std::stod(*v);
    if (auto v = args.option("--top-p")) params.top_p = std::stod(*v);
    if (auto v = args.option("--top-k")) params.top_k = std::stoll(*v);
    if (auto v = args.option("--seed")) params.seed = std::stoull(*v);
    if (auto v = args.option("--threads")) threads = std::stoi(*v);
  } catch (const std::exception&) {
    return aha::cli::usage_error(name, "--max-new-tokens, --temperature, --top-p, --top-k, --seed and --threads take numbers");
  }
  if (auto unknown = args.unknown_options(); !unknown.empty()) return aha::cli::usage_error(name, unknown);
  if (!model_path || !prompt || !args.positionals().empty())
    return aha::cli::usage_error(name, "usage: aha generate --model PATH --prompt TEXT [--chat] [--max-new-tokens N] [--temperature T] [--json]");
  if (params.max_new_tokens < 1 || params.temperature < 0 || params.top_p <= 0 || params.top_p > 1 || params.top_k < 0 || threads < 1)
    return aha::cli::usage_error(name, "need --max-new-tokens >= 1, --temperature >= 0, 0 < --top-p <= 1, --top-k >= 0, --threads >= 1");

  aha::model::set_threads(threads);
  aha::model::tune_malloc();
  auto source = aha::cli::open_model_source(*model_path);
  if (!source) {
    std::cerr << "aha generate: " << source.error().message << "\n";
    return 1;
  }
  const auto& tok = *source->tokenizer;
  std::string text = *prompt;
  if (chat) {
    auto format = aha::model::detect_chat_format(source->tokenizer_config_json.empty() ? "{}" : source->tokenizer_config_json);
    if (!format) {
      std::cerr << "aha generate: --chat: " << format.error().message << "\n";
      return 1;
    }
    std::vector<aha::model::chat_message> messages;
    const std::string system_text = system ? *system : default_system_prompt(source->tokenizer_config_json);
    if (!system_text.empty()) messages.push_back({"system", system_text});
    messages.push_back({"user", *prompt});
    text = aha::model::apply_chat(*format, messages, true);
    for (const char* end : {"<|im_end|>", "<|eot_id|>"})
      if (auto id = tok.token_id(end)) params.stop_token_ids.push_back(*id);
  }
  std::vector<int32_t> ids;
  if (source->add_bos && tok.bos_id() >= 0 && text.rfind("<|begin_of_text|>", 0) != 0) ids.push_back(tok.bos_id());
  for (auto id : tok.encode(text)) ids.push_back(id);
  if (ids.empty()) return aha::cli::usage_error(name, "--prompt encodes to no tokens");
  if (tok.eos_id() >= 0) params.stop_token_ids.push_back(tok.eos_id());

  const auto started = std::chrono::steady_clock::now();
  aha::model::engine engine(source->model, 1, static_cast<int64_t>(ids.size()) + params.max_new_tokens);
  auto out = engine.generate({ids}, params, &tok);
  if (!out) {
    std::cerr << "aha generate: " << out.error().message << "\n";
    return 1;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const auto& c = out->front();
  std::vector<int32_t> shown = c.tokens;
  if (c.finish == aha::model::finish_reason::stop_token && !shown.empty()) shown.pop_back();  // the end-of-turn token itself
  const std::string completion = tok.decode(shown);
  if (!as_json) {
    std::cout << completion << "\n";
    return 0;
  }
  nlohmann::json j = {{"model", *model_path},
                      {"prompt", text},
                      {"completion", completion},
                      {"prompt_tokens", ids.size()},
                      {"completion_tokens", c.tokens.size()},
                      {"token_ids", c.tokens},
                      {"finish", finish_name(c.finish)},
                      {"temperature", params.temperature},
                      {"seconds", seconds},
                      {"tokens_per_second", seconds > 0 ? static_cast<double>(c.tokens.size()) / seconds : 0.0}};
  std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  return 0;
}

}  // namespace

AHA_COMMAND("generate", "print a completion of --prompt by a GGUF file, Hugging Face folder or aha checkpoint", generate);
