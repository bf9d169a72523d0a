// Rule-based rewards (posttrain/reward.h): values of each reward, weighted sets, and what a
// reward that throws or returns NaN does.
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "posttrain/reward.h"
#include "test_util.h"

namespace frugal {
namespace {

RewardInput input_for(const Task& t, const Problem& p, std::string_view text) {
  RewardInput in;
  in.task = &t;
  in.problem = &p;
  in.completion = text;
  in.completion_tokens = 10;
  in.max_tokens = 100;
  return in;
}

TEST(Reward, AccuracyAndFormat) {
  const Task& t = find_task("arithmetic");
  Problem p;
  p.numbers = {12, 30};
  p.target = 42;
  const RewardSpec& acc = find_reward("accuracy");
  const RewardSpec& fmt = find_reward("format");
  EXPECT_EQ(acc.fn(input_for(t, p, "<think>12+30</think> 42")), 1.0);
  EXPECT_EQ(fmt.fn(input_for(t, p, "<think>12+30</think> 42")), 1.0);
  EXPECT_EQ(acc.fn(input_for(t, p, "42")), 1.0);  // right answer, no format
  EXPECT_EQ(fmt.fn(input_for(t, p, "42")), 0.0);
  EXPECT_EQ(acc.fn(input_for(t, p, "<think>x</think> 43")), 0.0);
  EXPECT_EQ(fmt.fn(input_for(t, p, "<think>x</think> 43")), 1.0);  // wrong answer, good format
  EXPECT_EQ(acc.fn(input_for(t, p, "<think>x</think> 42 apples")), 0.0);  // exact parse
}

TEST(Reward, LengthShaping) {
  const RewardSpec& len = find_reward("length");
  const Task& t = find_task("arithmetic");
  Problem p;
  RewardInput in = input_for(t, p, "x");
  in.max_tokens = 100;
  in.completion_tokens = 75;
  EXPECT_EQ(len.fn(in), 0.0);
  in.completion_tokens = 90;
  EXPECT_DOUBLE_EQ(len.fn(in), -15.0 / 25.0);
  in.completion_tokens = 100;
  EXPECT_EQ(len.fn(in), -1.0);
  in.completion_tokens = 40;
  in.truncated = true;  // cut at the budget (the context ran out first)
  EXPECT_EQ(len.fn(in), -1.0);
}

TEST(Reward, ListParsing) {
  std::vector<RewardTerm> l = parse_reward_list("accuracy, format=0.5,length=-0.25");
  ASSERT_EQ(l.size(), 3u);
  EXPECT_EQ(l[0].spec.name, "accuracy");
  EXPECT_EQ(l[0].weight, 1.0);
  EXPECT_EQ(l[1].weight, 0.5);
  EXPECT_EQ(l[2].weight, -0.25);
  test::expect_error([] { parse_reward_list("accuracy,speed"); }, ErrorKind::kInvalidArgument,
                     {"unknown reward 'speed'", "accuracy, format, length"});
  test::expect_error([] { parse_reward_list("accuracy,"); }, ErrorKind::kInvalidArgument, {"empty item"});
  test::expect_error([] { parse_reward_list("format=abc"); }, ErrorKind::kInvalidArgument, {"'abc'", "format"});
  test::expect_error([] { parse_reward_list("format=nan"); }, ErrorKind::kInvalidArgument, {"not a finite"});
  test::expect_error([] { parse_reward_list("format,format=2"); }, ErrorKind::kInvalidArgument, {"twice"});
}

TEST(Reward, ThrowingOrNonFiniteRewardScoresZeroAndIsCounted) {
  std::vector<RewardTerm> terms = parse_reward_list("accuracy=2,format");
  terms.push_back({RewardSpec{"boom", "throws", [](const RewardInput&) -> double {
                                throw std::runtime_error("bad completion");
                              }},
                   1.0});
  terms.push_back({RewardSpec{"nan", "NaN", [](const RewardInput&) { return std::nan(""); }}, 1.0});
  terms.push_back({RewardSpec{"odd", "throws an int", [](const RewardInput&) -> double { throw 3; }}, 1.0});
  RewardSet set(std::move(terms));
  const Task& t = find_task("arithmetic");
  Problem p;
  p.target = 5;
  for (int i = 0; i < 3; ++i) {
    RewardScores s = set.score(input_for(t, p, "<think>2+3</think> 5"));
    EXPECT_EQ(s.values, (std::vector<double>{1, 1, 0, 0, 0}));
    EXPECT_EQ(s.total, 3.0);  // 2·1 + 1 + the failures' zeros
  }
  EXPECT_EQ(set.errors(0), 0);
  EXPECT_EQ(set.errors(2), 3);
  EXPECT_EQ(set.errors(3), 3);
  EXPECT_EQ(set.errors(4), 3);
  EXPECT_EQ(set.total_errors(), 9);
  EXPECT_EQ(set.first_error(2), "boom reward: bad completion");
  EXPECT_EQ(set.first_error(3), "nan reward: returned a non-finite value");
  EXPECT_EQ(set.first_error(4), "odd reward: threw a non-standard exception");
  // The built-in length reward throws on a missing budget: counted, not fatal.
  RewardSet len(parse_reward_list("length"));
  RewardInput in = input_for(t, p, "x");
  in.max_tokens = 0;
  EXPECT_EQ(len.score(in).total, 0.0);
  EXPECT_EQ(len.errors(0), 1);
  EXPECT_NE(len.first_error(0).find("max_tokens = 0"), std::string::npos);
}

}  // namespace
}  // namespace frugal
