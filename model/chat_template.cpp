// chat_template implementation.
#include "model/chat_template.hpp"

#include <nlohmann/json.hpp>

namespace aha::model {

std::string r1_prompt(std::string_view question, bool open_think) {
  std::string s =
      "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The "
      "assistant first thinks about the reasoning process in the mind and then provides the user with the answer. "
      "The reasoning process and answer are enclosed within <think> </think> and <answer> </answer> tags, "
      "respectively, i.e., <think> reasoning process here </think> <answer> answer here </answer>. User: ";
  s += question;
  s += " Assistant:";
  if (open_think) s += " <think>";
  return s;
}

std::string r1_compact_prompt(std::string_view question) { return std::string(question) + "\n<think>"; }

result<chat_format> detect_chat_format(const std::string& tokenizer_config_json) {
  auto j = nlohmann::json::parse(tokenizer_config_json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return make_error(errc::corrupt_data, "tokenizer_config.json: not a JSON object");
  auto it = j.find("chat_template");
  if (it == j.end() || !it->is_string())
    return make_error(errc::not_found, "tokenizer_config.json: no chat_template string");
  const auto t = it->get<std::string>();
  if (t.find("<|im_start|>") != std::string::npos) return chat_format::chatml;
  if (t.find("<|start_header_id|>") != std::string::npos) return chat_format::llama3;
  return make_error(errc::invalid_argument, "tokenizer_config.json: chat_template is neither ChatML nor Llama 3");
}

std::string apply_chat(chat_format format, const std::vector<chat_message>& messages, bool add_generation_prompt) {
  std::string s;
  if (format == chat_format::chatml) {
    for (const auto& m : messages) s += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
    if (add_generation_prompt) s += "<|im_start|>assistant\n";
    return s;
  }
  s = "<|begin_of_text|>";
  for (const auto& m : messages) s += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + m.content + "<|eot_id|>";
  if (add_generation_prompt) s += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return s;
}

}  // namespace aha::model
