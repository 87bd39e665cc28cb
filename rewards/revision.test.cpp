// Tests of the self-revision detector (rewards/revision.hpp).
#include <catch2/catch.hpp>

#include "rewards/revision.hpp"

using aha::rewards::revises_itself;

TEST_CASE("revision: words that go back on the reasoning count, inside the thinking") {
  CHECK(revises_itself("<think>12*3=36. Wait, the target is 35.</think><answer>35</answer>"));
  CHECK(revises_itself("<think>Let me recheck: 7+5=12</think><answer>12</answer>"));
  CHECK(revises_itself("no tags at all, ACTUALLY it is 5"));
  CHECK(!revises_itself("<think>7+5+0=12,4+8+1=13</think><answer>132</answer>"));
  CHECK(!revises_itself("<think>7+5=12</think><answer>wait</answer>"));  // the answer is not reasoning
}

TEST_CASE("revision: a step recomputed with another result counts, a repeated identical step does not") {
  CHECK(revises_itself("<think>7+5+0=12,4+8+1=12,4+8+1=13</think><answer>132</answer>"));
  CHECK(!revises_itself("<think>7+5+0=12,7+5+0=12</think><answer>12</answer>"));
  CHECK(!revises_itself("<think>=,==,a=</think>"));
}
