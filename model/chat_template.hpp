// chat_template: the few prompt formats the recipes use — DeepSeek-R1's <think>/<answer>
// template (full, or compact for the tiny character model) and a checkpoint's own simple chat
// format (ChatML as in Qwen2, or Llama 3 headers), detected from tokenizer_config.json.
// Not Jinja: unknown templates are reported, not guessed. Tests: chat_template.test.cpp.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace aha::model {

// R1-Zero's template: "A conversation between User and Assistant. ... User: {question}
// Assistant: <think>" (open_think: the prompt ends inside <think>, as in R1 training).
std::string r1_prompt(std::string_view question, bool open_think = true);
// The same contract in few characters for the tiny model: "{question}\n<think>".
std::string r1_compact_prompt(std::string_view question);

struct chat_message {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

enum class chat_format { chatml, llama3 };

// From tokenizer_config.json's "chat_template": ChatML (<|im_start|>) or Llama 3
// (<|start_header_id|>); an error when neither is recognised.
result<chat_format> detect_chat_format(const std::string& tokenizer_config_json);

// Renders messages; add_generation_prompt appends the assistant header to continue from.
std::string apply_chat(chat_format format, const std::vector<chat_message>& messages, bool add_generation_prompt = true);

}  // namespace aha::model
