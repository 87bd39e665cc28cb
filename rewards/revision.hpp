// Does a completion revise itself? R1-Zero's signature over training ("wait, let me recheck"):
// the share of completions that go back on their own reasoning. Two kinds are counted inside
// <think>...</think> (the whole text when there is none): a revision word ("wait", "recheck",
// "let me check", "actually", "mistake", ... in English or Chinese), or a worked step recomputed
// with a different result ("4+8+1=12,4+8+1=13"). A metric, not a reward: nothing trains on it.
// Tested by rewards/revision.test.cpp.
#pragma once

#include <string_view>

namespace aha::rewards {

bool revises_itself(std::string_view completion);

}  // namespace aha::rewards
