// Tests of the prompt templates: R1 wording ends in an open <think>, ChatML/Llama 3 detection
// and rendering.
#include "model/chat_template.hpp"

// LibTorch pulls in glog, whose CHECK would replace Catch2's: include Catch2 last.
#undef CHECK
#include <catch2/catch.hpp>

using namespace aha::model;

TEST_CASE("chat_template: R1 prompts end inside <think>") {
  auto p = r1_prompt("What is 2+3?");
  CHECK(p.find("User: What is 2+3? Assistant: <think>") != std::string::npos);
  CHECK(r1_prompt("q", false).substr(r1_prompt("q", false).size() - 10) == "Assistant:");
  CHECK(r1_compact_prompt("12+30") == "12+30\n<think>");
}

TEST_CASE("chat_template: ChatML and Llama 3 are detected and rendered") {
  auto chatml = detect_chat_format(R"({"chat_template": "{% for m in messages %}<|im_start|>{{m.role}}..."})");
  REQUIRE(chatml.ok());
  CHECK(*chatml == chat_format::chatml);
  CHECK(apply_chat(*chatml, {{"user", "Hi"}}) == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
  auto llama = detect_chat_format(R"({"chat_template": "<|start_header_id|>"})");
  REQUIRE(llama.ok());
  CHECK(apply_chat(*llama, {{"user", "Hi"}}, false) == "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>");
  CHECK_FALSE(detect_chat_format(R"({"chat_template": "{{ messages }}"})").ok());
  CHECK_FALSE(detect_chat_format("[]").ok());
}
