// Tasks (posttrain/task.h): generation is seeded and split-disjoint, reference answers pass the
// checks and wrong ones do not.
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <set>
#include <string>

#include "posttrain/task.h"
#include "test_util.h"

namespace frugal {
namespace {

TEST(Tasks, RegistryAndUnknownName) {
  EXPECT_EQ(task_names(), "arithmetic, addsub, countdown, sort");
  EXPECT_EQ(find_task("countdown").name, "countdown");
  test::expect_error([] { find_task("countdwn"); }, ErrorKind::kInvalidArgument,
                     {"unknown task 'countdwn'", "arithmetic, addsub, countdown, sort"});
}

TEST(Tasks, ReferenceAnswersPassAndSplitsAreDisjointAndSeeded) {
  for (const Task& t : task_registry()) {
    SCOPED_TRACE(std::string(t.name));
    const std::vector<Problem> train = task_problems(t, 7, Split::kTrain, 400);
    const std::vector<Problem> eval = task_problems(t, 7, Split::kEval, 400);
    std::set<std::string> train_keys;
    for (const Problem& p : train) {
      EXPECT_EQ(split_of(p.key), Split::kTrain) << p.key;
      EXPECT_TRUE(t.check(p, p.reference)) << p.key << " reference " << p.reference;
      train_keys.insert(p.key);
    }
    EXPECT_EQ(train_keys.size(), train.size());  // distinct
    for (const Problem& p : eval) {
      EXPECT_EQ(split_of(p.key), Split::kEval) << p.key;
      EXPECT_TRUE(t.check(p, p.reference)) << p.key;
      EXPECT_EQ(train_keys.count(p.key), 0u) << p.key;
    }
    // Seeded: the same seed gives the same list, a prefix of a longer one; another seed differs.
    const std::vector<Problem> again = task_problems(t, 7, Split::kEval, 500);
    for (size_t i = 0; i < eval.size(); ++i) EXPECT_EQ(again[i].key, eval[i].key);
    const std::vector<Problem> other = task_problems(t, 8, Split::kEval, 400);
    int same = 0;
    for (size_t i = 0; i < eval.size(); ++i) same += other[i].key == eval[i].key;
    EXPECT_LT(same, 20);
  }
}

TEST(Tasks, EvalSplitIsAboutOneEighth) {
  // Binomial(8000, 1/8): mean 1000, sd 29.6; the bound is 5 sd.
  int eval = 0;
  for (int i = 0; i < 8000; ++i) eval += split_of(fmt::format("k{}", i)) == Split::kEval;
  EXPECT_NEAR(eval, 1000, 150);
}

TEST(Tasks, ArithmeticChecksTheExactInteger) {
  const Task& t = find_task("arithmetic");
  Problem p = task_problem(t, 1, Split::kTrain, 0);
  EXPECT_TRUE(t.check(p, std::to_string(p.target)));
  EXPECT_FALSE(t.check(p, std::to_string(p.target + 1)));
  EXPECT_FALSE(t.check(p, std::to_string(p.target) + "."));
  EXPECT_FALSE(t.check(p, ""));
  // Operands have 2-3 digits (1-2 for a multiplier).
  for (const Problem& q : task_problems(t, 3, Split::kTrain, 300)) {
    EXPECT_GE(q.numbers[0], 10);
    EXPECT_LT(q.numbers[0], 1000);
    EXPECT_GE(q.numbers[1], 1);
  }
}

// addsub is arithmetic's 2-digit + and - subset with the same keys, so its evaluation problems are
// evaluation problems of arithmetic too: text generated from arithmetic's training split never
// contains one.
TEST(Tasks, AddsubIsTheTwoDigitSubsetWithArithmeticKeys) {
  const Task& t = find_task("addsub");
  std::set<char> ops;
  for (const Problem& q : task_problems(t, 3, Split::kEval, 300)) {
    for (int64_t x : q.numbers) {
      EXPECT_GE(x, 10);
      EXPECT_LT(x, 100);
    }
    const char op = q.question.at(q.question.find(' ', 8) + 1);
    ops.insert(op);
    EXPECT_EQ(q.key, fmt::format("arithmetic:{}{}{}", q.numbers[0], op, q.numbers[1]));
    EXPECT_EQ(q.target, op == '+' ? q.numbers[0] + q.numbers[1] : q.numbers[0] - q.numbers[1]);
  }
  EXPECT_EQ(ops, (std::set<char>{'+', '-'}));
}

TEST(Tasks, CountdownChecksValueAndNumberUse) {
  const Task& t = find_task("countdown");
  Problem p;
  p.numbers = {3, 7, 25, 50};
  p.target = 100;
  EXPECT_FALSE(t.check(p, "50 * (7 - 3) / 2"));  // 2 is not given
  EXPECT_TRUE(t.check(p, "(7 - 3) * 25"));
  EXPECT_TRUE(t.check(p, "(7 - 3) * 25 = 100"));
  EXPECT_FALSE(t.check(p, "(7 - 3) * 25 = 99"));
  EXPECT_FALSE(t.check(p, "50 + 25 + 25"));  // 25 used twice, given once
  EXPECT_FALSE(t.check(p, "50 + 25 + 7 + 3"));       // 85
  EXPECT_FALSE(t.check(p, "100"));                   // not a given number
  EXPECT_FALSE(t.check(p, "(7 - 3) * 25 +"));        // does not parse
  EXPECT_FALSE(t.check(p, "25 / 0"));
  p.numbers = {5, 5, 4};
  p.target = 20;
  EXPECT_TRUE(t.check(p, "5 * 4"));
  EXPECT_FALSE(t.check(p, "(5 + 5) * 4 / 2"));  // 2 is not given
  EXPECT_FALSE(t.check(p, "5 * 5 - 5"));        // three 5s, two given
  p.target = 5;
  EXPECT_TRUE(t.check(p, "5 / 5 + 4"));  // both 5s may be used
  // Generated targets are in [1, 999], with 3-4 numbers in [1, 99].
  for (const Problem& q : task_problems(t, 2, Split::kTrain, 300)) {
    EXPECT_GE(q.target, 1);
    EXPECT_LE(q.target, 999);
    EXPECT_TRUE(q.numbers.size() == 3 || q.numbers.size() == 4);
    for (int64_t x : q.numbers) EXPECT_TRUE(x >= 1 && x <= 99);
  }
}

TEST(Tasks, SortChecksTheSortedList) {
  const Task& t = find_task("sort");
  Problem p;
  p.numbers = {42, 7, 19, 7};
  EXPECT_TRUE(t.check(p, "7, 7, 19, 42"));
  EXPECT_TRUE(t.check(p, "[7,7,19,42]"));
  EXPECT_FALSE(t.check(p, "7, 19, 42"));
  EXPECT_FALSE(t.check(p, "42, 19, 7, 7"));
  EXPECT_FALSE(t.check(p, "7, 7, 19, 42, 1"));
}

}  // namespace
}  // namespace frugal
