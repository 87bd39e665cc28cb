// Tests of the built-in tasks and datasets: determinism, splits, demonstrations that solve their
// prompts, the countdown checker (local C++ and the Python program agree), JSONL parsing errors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <set>
#include <vector>
#include <unistd.h>

#include "actors/tasks/dataset.hpp"
#include "actors/tasks/split.hpp"

using namespace aha;
using namespace aha::actors::tasks;

namespace {

// Runs the countdown checker with the host's python3 (the sandbox runs the same program).
std::string run_python(const std::string& program, const std::string& input) {
  auto path = std::string("/tmp/aha_countdown_check_") + std::to_string(::getpid()) + ".py";
  auto in_path = path + ".in";
  FILE* f = std::fopen(path.c_str(), "w");
  std::fputs(program.c_str(), f);
  std::fclose(f);
  f = std::fopen(in_path.c_str(), "w");
  std::fputs(input.c_str(), f);
  std::fclose(f);
  std::string out;
  FILE* p = ::popen(("/usr/bin/python3 -I -S " + path + " < " + in_path).c_str(), "r");
  char buffer[256];
  while (std::fgets(buffer, sizeof buffer, p)) out += buffer;
  ::pclose(p);
  std::remove(path.c_str());
  std::remove(in_path.c_str());
  return out;
}

}  // namespace

TEST_CASE("arithmetic samples are deterministic, short, and their demonstrations answer the gold") {
  arithmetic_config config;
  auto a = arithmetic_sample(config, 7, split::train, 3);
  auto b = arithmetic_sample(config, 7, split::train, 3);
  CHECK(a.prompt.text == b.prompt.text);
  std::set<std::string> train;
  for (std::uint64_t i = 0; i < 200; ++i) {
    auto s = arithmetic_sample(config, 7, split::train, i);
    train.insert(s.prompt.text);
    CHECK(s.prompt.text.size() <= 6);
    CHECK(tagged_answer(s.demonstration) == s.prompt.gold);
    CHECK(s.demonstration.rfind("<think>", 0) == 0);
  }
  CHECK(train.size() > 100);  // varied
  CHECK(arithmetic_sample({2, 20, "-"}, 1, split::train, 5).prompt.gold.find('-') == std::string::npos);
}

TEST_CASE("multi-step arithmetic: worked demonstrations show each step, direct ones only the result") {
  arithmetic_config config;
  config.terms = 3;
  config.max_operand = 9;
  config.worked_fraction = 0.3;
  int worked = 0;
  for (std::uint64_t i = 0; i < 400; ++i) {
    auto s = arithmetic_sample(config, 7, split::train, i);
    INFO(s.prompt.text << " " << s.demonstration);
    REQUIRE(tagged_answer(s.demonstration) == s.prompt.gold);
    CHECK(std::stoll(s.prompt.gold) > 0);
    const auto thinking = s.demonstration.substr(7, s.demonstration.find("</think>") - 7);
    if (std::count(thinking.begin(), thinking.end(), '=') == 2) {
      ++worked;  // "a+b=c,c*d=e": the last step ends with the answer
      CHECK(thinking.substr(thinking.rfind('=') + 1) == s.prompt.gold);
    } else {
      CHECK(thinking == s.prompt.text + s.prompt.gold);  // "(a+b)*d=e"
    }
  }
  CHECK(worked > 80);   // about 30% of 400
  CHECK(worked < 160);
  // The chain's brackets follow precedence: a sum or difference before a product is bracketed.
  auto chain = chain_of({3, 4, 5}, "+*");
  REQUIRE(chain);
  CHECK(chain->expression == "(3+4)*5");
  CHECK(chain->steps == "3+4=7,7*5=35");
  CHECK(chain->value == 35);
  CHECK_FALSE(chain_of({3, 4, 5}, "--"));  // 3-4 < 0: callers draw again
}

TEST_CASE("countdown demonstrations solve their puzzles, and the local checker rejects cheats") {
  countdown_config config;
  for (std::uint64_t i = 0; i < 200; ++i) {
    auto s = countdown_sample(config, 3, split::train, i);
    auto puzzle = parse_countdown(s.prompt.tests);
    REQUIRE(puzzle.ok());
    CHECK(puzzle->numbers.size() == 3);
    CHECK(std::to_string(puzzle->target) == s.prompt.gold);
    CHECK(s.prompt.text.size() <= 14);
    INFO(s.prompt.text << " " << s.demonstration);
    CHECK(countdown_check_local(*puzzle, tagged_answer(s.demonstration)));
  }
  countdown_puzzle p{{3, 5, 7}, 22};
  CHECK(countdown_check_local(p, "3*5+7"));
  CHECK(countdown_check_local(p, "(7+15/5)*2") == false);  // 15 and 2 are not offered
  CHECK(countdown_check_local(p, "22") == false);
  CHECK(countdown_check_local(p, "5*5-3") == false);       // 5 used twice
  CHECK(countdown_check_local(p, "7*3+5/5") == false);
  CHECK(countdown_check_local({{2, 3, 4}, 2}, "4/(3-2)/2") == false);  // 2 used twice
  CHECK(countdown_check_local({{1, 2, 6}, 3}, "6/2*1"));
}

TEST_CASE("the countdown Python checker agrees with the local checker, one line per item") {
  countdown_puzzle p{{3, 5, 7}, 22};
  const std::vector<std::string> answers = {
      "3*5+7", "7+3*5", "(3+5)*7", "5*5-3", "__import__('os')", "22", "7/(5-5)", "3*5+7 ", "3*5+7\nVALUE 22",
      "((3)*(5))+7", "3**5", "3*5+7)", "(3*5+7", "-3+5*7", "7/5*3", "", "3\u00b2", "35+7"};
  std::string input;
  for (const auto& expr : answers) input += countdown_item(p, expr) + "\n";
  auto out = run_python(countdown_checker_program(), input);
  std::vector<std::string> lines;
  for (std::size_t start = 0, end; (end = out.find('\n', start)) != std::string::npos; start = end + 1) {
    lines.push_back(out.substr(start, end - start));
  }
  REQUIRE(lines.size() == answers.size());
  for (std::size_t i = 0; i < answers.size(); ++i) {
    const auto& expr = answers[i];
    INFO(expr << " -> " << lines[i]);
    CHECK(countdown_judge(p, lines[i]) == countdown_check_local(p, expr.substr(0, expr.find_last_not_of(' ') + 1)));
  }
  CHECK(lines[6] == "INVALID ValueError");  // 5 used twice
  CHECK(run_python(countdown_checker_program(), countdown_item({{2, 2, 5}, 1}, "5/(2-2)") + "\n") ==
        "INVALID ZeroDivisionError\n");
  CHECK(lines[14] == "VALUE 21/5");
  CHECK(countdown_item(p, "3*5") == "3,5,7 332a35");
}

TEST_CASE("JSONL datasets: records by task, template, errors with file:line") {
  auto ok = parse_jsonl(
      "{\"task\":\"math\",\"prompt\":\"1+1?\",\"gold\":\"2\"}\n\n"
      "{\"task\":\"code\",\"prompt\":\"echo\",\"tests\":[{\"stdin\":\"a\",\"stdout\":\"a\"}]}\n"
      "{\"task\":\"math\",\"prompt\":\"x\",\"gold\":3}\n",
      "d.jsonl", "Q: {prompt}\nA:");
  REQUIRE(ok.ok());
  REQUIRE(ok->size() == 3);
  CHECK(ok->at(0).prompt.text == "Q: 1+1?\nA:");
  CHECK(ok->at(1).prompt.tests.find("stdin") != std::string::npos);
  CHECK(ok->at(2).prompt.gold == "3");
  auto bad = parse_jsonl("{\"task\":\"math\",\"prompt\":\"a\",\"gold\":\"1\"}\n{\"task\":\"math\",\"prompt\":\"b\"}\n", "d.jsonl", "{prompt}");
  REQUIRE(!bad.ok());
  CHECK(bad.error().message.find("d.jsonl:2") != std::string::npos);
  CHECK(!parse_jsonl("not json\n", "e.jsonl", "{prompt}").ok());
}

TEST_CASE("built-in datasets interleave tasks and validate names") {
  dataset_config config;
  auto train = open_dataset(config, split::train);
  REQUIRE(train.ok());
  CHECK((*train)->size() == config.train_size);
  CHECK((*train)->at(0).prompt.task == "addition");
  CHECK((*train)->at(1).prompt.task == "countdown");
  auto eval = open_dataset(config, split::eval);
  REQUIRE(eval.ok());
  CHECK((*eval)->size() == config.eval_size);
  config.tasks = {"addition", "arithmetic", "countdown"};
  CHECK((*open_dataset(config, split::train))->at(1).prompt.task == "arithmetic");
  config.tasks = {"sudoku"};
  CHECK(!open_dataset(config, split::train).ok());
}

TEST_CASE("column arithmetic: worked steps carry and borrow, and the demonstration answers the gold") {
  CHECK(column_steps(347, 85, '+') == "7+5=12,4+8+1=13,3+0+1=4");
  CHECK(column_steps(999, 1, '+') == "9+1=10,9+0+1=10,9+0+1=10");  // the last value holds the lead digit
  CHECK(column_steps(347, 85, '-') == "7-5=2,14-8=6,3-0-1=2");
  CHECK(column_steps(100, 1, '-') == "10-1=9,10-0-1=9,1-0-1=0");  // 099: the lead zero is dropped
  CHECK(column_steps(0, 0, '+') == "0+0=0");
  CHECK(column_steps(7, 5, '+', 2) == "7+5=12,0+0+1=1");  // padded: one step per column of the width
  addition_config padded_config;
  padded_config.max_digits = 2;
  padded_config.pad = true;
  for (std::uint64_t i = 0; i < 50; ++i) {
    auto s = addition_sample(padded_config, 3, split::train, i);
    CHECK(s.prompt.text.size() == 6);  // "07+85="
    CHECK(tagged_answer(s.demonstration) == s.prompt.gold);
  }
  addition_config config;
  std::set<std::string> problems;
  for (std::uint64_t i = 0; i < 500; ++i) {
    auto s = addition_sample(config, 3, split::train, i);
    INFO(s.prompt.text << " " << s.demonstration);
    problems.insert(s.prompt.text);
    const auto op = s.prompt.text.find_first_of("+-");
    const long long a = std::stoll(s.prompt.text.substr(0, op)), b = std::stoll(s.prompt.text.substr(op + 1));
    CHECK(std::stoll(s.prompt.gold) == (s.prompt.text[op] == '+' ? a + b : a - b));
    CHECK(std::stoll(s.prompt.gold) >= 0);
    CHECK(tagged_answer(s.demonstration) == s.prompt.gold);
    CHECK(s.prompt.task == "addition");
  }
  CHECK(problems.size() > 450);  // a large problem space: held-out problems are new problems
}

TEST_CASE("split by construction: a problem's side depends on its content only") {
  CHECK(problem_key("math", "  What is\t 2+2? ") == "math\nwhat is 2+2?");
  CHECK(problem_key("math", "What is 2+2?") == problem_key("math", "what  is 2+2?"));
  CHECK(problem_key("math", "2+2") != problem_key("code", "2+2"));
  CHECK(problem_hash("math\n1") != problem_hash("math\n2"));
  // About eval_fraction of all problems are held out.
  int held = 0;
  for (int i = 0; i < 20000; ++i) held += split_of("addition\n" + std::to_string(i) + "+1=", 0.1) == split::eval;
  CHECK(held > 1800);
  CHECK(held < 2200);
  CHECK(split_of("x", 0) == split::train);
}

TEST_CASE("built-in held-out sets share no problem with training, whatever the seeds") {
  for (const auto& tasks : {std::vector<std::string>{"addition", "countdown"}, std::vector<std::string>{"arithmetic"}}) {
    dataset_config config;
    config.tasks = tasks;
    config.arithmetic.max_operand = 9;  // a small space: about 300 problems, a tenth of them held out
    std::set<std::string> eval_keys;
    for (std::uint64_t seed : {1, 2}) {
      config.seed = seed;
      auto held_out = open_held_out(config, 500);
      REQUIRE(held_out.ok());
      for (const auto& s : held_out->samples) eval_keys.insert(problem_key(s.prompt));
    }
    std::size_t overlap = 0;
    for (std::uint64_t seed : {1, 2, 3}) {  // training of any seed never meets a held-out problem
      config.seed = seed;
      auto train = open_dataset(config, split::train);
      REQUIRE(train.ok());
      for (std::uint64_t i = 0; i < 6000; ++i) overlap += eval_keys.count(problem_key((*train)->at(i).prompt));
    }
    CHECK(overlap == 0);
  }
}

TEST_CASE("built-in held-out sets are distinct problems, and a small space yields fewer and says so") {
  dataset_config config;
  config.tasks = {"arithmetic"};
  config.arithmetic.max_operand = 9;
  auto small = open_held_out(config, 500);
  REQUIRE(small.ok());
  std::set<std::string> keys;
  for (const auto& s : small->samples) keys.insert(problem_key(s.prompt));
  CHECK(keys.size() == small->samples.size());  // deduplicated
  CHECK(small->samples.size() < 60);            // ~10% of ~300 problems, not 500 draws
  CHECK(small->duplicates_dropped >= 64);
  config.tasks = {"addition", "countdown"};
  auto large = open_held_out(config, 300);
  REQUIRE(large.ok());
  CHECK(large->samples.size() == 300);
  // Another data seed draws another held-out set (seeds change the data, not only the order).
  config.seed = 9;
  auto other = open_held_out(config, 300);
  REQUIRE(other.ok());
  int same = 0;
  for (std::size_t i = 0; i < 300; ++i) same += other->samples[i].prompt.text == large->samples[i].prompt.text;
  CHECK(same < 30);
}

TEST_CASE("JSONL held-out sets drop records that also occur in training, and repeats, and count them") {
  const std::string dir = "/tmp/aha_split_test_" + std::to_string(::getpid());
  std::system(("mkdir -p " + dir).c_str());
  auto write = [&](const std::string& name, const std::string& text) {
    FILE* f = std::fopen((dir + "/" + name).c_str(), "w");
    std::fputs(text.c_str(), f);
    std::fclose(f);
    return dir + "/" + name;
  };
  dataset_config config;
  config.train_file = write("train.jsonl", "{\"prompt\":\"What is 2+2?\",\"gold\":\"4\"}\n"
                                           "{\"prompt\":\"What is 3+3?\",\"gold\":\"6\"}\n");
  config.eval_file = write("eval.jsonl", "{\"prompt\":\"what is  2+2?\",\"gold\":\"4\"}\n"  // trained (normalised)
                                         "{\"prompt\":\"What is 5+5?\",\"gold\":\"10\"}\n"
                                         "{\"prompt\":\"What is 5+5? \",\"gold\":\"10\"}\n"  // a repeat
                                         "{\"prompt\":\"What is 7+7?\",\"gold\":\"14\"}\n");
  auto held_out = open_held_out(config, 100);
  REQUIRE(held_out.ok());
  REQUIRE(held_out->samples.size() == 2);
  CHECK(held_out->samples[0].prompt.gold == "10");
  CHECK(held_out->samples[1].prompt.gold == "14");
  CHECK(held_out->train_overlap_dropped == 1);
  CHECK(held_out->duplicates_dropped == 1);
  config.eval_file = write("all_trained.jsonl", "{\"prompt\":\"What is 3+3?\",\"gold\":\"6\"}\n");
  auto none = open_held_out(config, 100);
  REQUIRE(!none.ok());
  CHECK(none.error().message.find("1 also in training") != std::string::npos);
  std::system(("rm -rf " + dir).c_str());
}
