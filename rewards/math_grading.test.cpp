// Tests of the record handling behind `aha grade math`, plus one run of the built command.
#include "rewards/math_grading.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using aha::rewards::grade_math_record;
using nlohmann::json;

TEST_CASE("grade math record: verdicts and extracted answers") {
  json a = json::parse(grade_math_record(R"({"gold": "1/2", "pred": "so \\boxed{0.5}"})", 1, {}));
  CHECK(a["line"] == 1);
  CHECK(a["correct"] == true);
  CHECK(a["extracted"] == "0.5");
  json b = json::parse(grade_math_record(R"({"gold": 7, "pred": "The answer is 8."})", 2, {}));
  CHECK(b["correct"] == false);
  CHECK(b["extracted"] == "8");
}

TEST_CASE("grade math record: malformed lines get an error naming the line") {
  json a = json::parse(grade_math_record("{not json", 3, {}));
  CHECK(a["line"] == 3);
  CHECK(a["error"].get<std::string>().find("line 3") != std::string::npos);
  json b = json::parse(grade_math_record(R"({"gold": "1"})", 4, {}));
  CHECK(b["error"].get<std::string>().find("pred") != std::string::npos);
  json c = json::parse(grade_math_record(R"([1, 2])", 5, {}));
  CHECK(c.contains("error"));
  json d = json::parse(grade_math_record(R"({"gold": ["x"], "pred": "1"})", 6, {}));
  CHECK(d["error"].get<std::string>().find("gold") != std::string::npos);
}
