// phrasing: the built-in tasks posed in more than one language. A prompt in language L is the
// English prompt behind L's phrase for the task ("Calcule 3+4=" for French arithmetic); English
// keeps the bare prompt, so a run in English only is unchanged. The phrase is not part of the
// problem: unposed() strips it, and split.hpp's problem_key uses it, so one problem has one split
// side and one key in every language (no held-out problem is trained on in another language).
// Only ASCII phrases: the built-in tiny model's vocabulary is ASCII (model/char_tokenizer.hpp).
// Tested by actors/tasks/tasks.test.cpp.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace aha::actors::tasks {

// The languages a built-in prompt can be posed in: en, fr, de, es.
const std::vector<std::string>& phrasing_languages();

// `text` (a built-in task's English prompt) posed in `language`; an error message (never a
// silent English prompt) when the language has no phrasing: "" on success.
std::string pose(std::string_view task, std::string_view language, std::string& text);

// `text` without the phrase a built-in task's prompt was posed with (unchanged when it has none,
// or when `task` is not built-in).
std::string_view unposed(std::string_view task, std::string_view text);

}  // namespace aha::actors::tasks
