// Completion parsing (posttrain/answer.h) and the countdown expression evaluator (posttrain/expr.h).
#include <gtest/gtest.h>

#include <string>

#include "posttrain/answer.h"
#include "posttrain/expr.h"

namespace frugal {
namespace {

TEST(Answer, ThinkThenAnswer) {
  ParsedCompletion p = parse_completion("<think>3+4 is 7</think> 7", false);
  EXPECT_TRUE(p.formatted);
  EXPECT_EQ(p.answer, "7");
  p = parse_completion("  <think>\nx\n</think>\n<answer> 12 </answer>\n", false);
  EXPECT_TRUE(p.formatted);
  EXPECT_EQ(p.answer, "12");
}

TEST(Answer, FormatFailuresStillYieldAnAnswer) {
  // No tags: all answer, not formatted.
  ParsedCompletion p = parse_completion("42", false);
  EXPECT_FALSE(p.formatted);
  EXPECT_EQ(p.answer, "42");
  // Text before <think>, two </think>, nothing after </think>, an unclosed <think>.
  EXPECT_FALSE(parse_completion("so <think>a</think> 1", false).formatted);
  p = parse_completion("<think>a</think> 1 </think> 2", false);
  EXPECT_FALSE(p.formatted);
  EXPECT_EQ(p.answer, "2");  // after the last </think>
  EXPECT_FALSE(parse_completion("<think>a</think>   ", false).formatted);
  EXPECT_FALSE(parse_completion("<think>a 1", false).formatted);
  EXPECT_FALSE(parse_completion("<think><think>a</think> 1", false).formatted);
  EXPECT_FALSE(parse_completion("<think>a</think> <answer>1", false).formatted);
}

TEST(Answer, PrefilledThinkTag) {
  // The template ended the prompt with "<think>\n": the completion starts inside the reasoning.
  EXPECT_TRUE(prompt_prefills_think("<｜Assistant｜><think>\n"));
  EXPECT_FALSE(prompt_prefills_think("<｜Assistant｜>"));
  ParsedCompletion p = parse_completion("reasoning</think>\n\n5", true);
  EXPECT_TRUE(p.formatted);
  EXPECT_EQ(p.answer, "5");
  EXPECT_FALSE(parse_completion("<think>r</think>5", true).formatted);  // a second opening tag
  EXPECT_FALSE(parse_completion("reasoning</think>\n\n5", false).formatted);
}

TEST(Answer, ExactInt) {
  EXPECT_EQ(parse_exact_int(" 42 "), 42);
  EXPECT_EQ(parse_exact_int("-7"), -7);
  EXPECT_EQ(parse_exact_int("+3"), 3);
  EXPECT_EQ(parse_exact_int("007"), 7);
  for (const char* bad : {"", "-", "4 2", "42.", "1,000", "0x1F", "4e2", "999999999999999999999", "seven"})
    EXPECT_FALSE(parse_exact_int(bad).has_value()) << bad;
}

TEST(Answer, IntList) {
  using V = std::vector<int64_t>;
  EXPECT_EQ(parse_int_list("1, 2, 3"), V({1, 2, 3}));
  EXPECT_EQ(parse_int_list("[1,2,3]"), V({1, 2, 3}));
  EXPECT_EQ(parse_int_list("3 -1  7"), V({3, -1, 7}));
  for (const char* bad : {"", "[]", ",1", "1,,2", "1,", "12-3", "1, two", "[1, 2"})
    EXPECT_FALSE(parse_int_list(bad).has_value()) << bad;
  std::string many;
  for (int i = 0; i < 5000; ++i) many += "1,";
  many += "1";
  EXPECT_FALSE(parse_int_list(many).has_value());  // more than 4096 items
}

Rational value_of(const char* s) {
  ExprResult r = evaluate_expression(s);
  EXPECT_TRUE(r.ok) << s << ": " << r.error;
  return r.value;
}

TEST(Expr, PrecedenceParenthesesAndExactRationals) {
  EXPECT_EQ(value_of("2 + 3 * 4"), (Rational{14, 1}));
  EXPECT_EQ(value_of("(2 + 3) * 4"), (Rational{20, 1}));
  EXPECT_EQ(value_of("10 - 4 - 3"), (Rational{3, 1}));  // left-associative
  EXPECT_EQ(value_of("7 / 2 * 2"), (Rational{7, 1}));   // exact, no integer truncation
  EXPECT_EQ(value_of("1 / 3"), (Rational{1, 3}));
  EXPECT_EQ(value_of("2 - 5"), (Rational{-3, 1}));
  EXPECT_EQ(value_of("((((6))))"), (Rational{6, 1}));
  ExprResult r = evaluate_expression("(25 - 5) * 4 + 3");
  EXPECT_EQ(r.literals, (std::vector<int64_t>{25, 5, 4, 3}));
}

TEST(Expr, BadInputIsAnErrorNotACrash) {
  struct Case {
    std::string text, why;
  };
  const std::string deep = std::string(40, '(') + "1" + std::string(40, ')');
  const std::string big = "999999999 * 999999999 * 999999999 * 999999999 * 999999999";
  for (const Case& c : std::vector<Case>{{"1 / 0", "division by zero"},
                                         {"1 / (2 - 2)", "division by zero"},
                                         {big, "overflow"},
                                         {deep, "nested deeper"},
                                         {std::string(300, '1'), "longer than 256"},
                                         {"1234567890", "9 digits"},
                                         {"", "ends early"},
                                         {"1 +", "ends early"},
                                         {"(1 + 2", "missing ')'"},
                                         {"-3 + 5", "expected a number"},
                                         {"2 x 3", "unexpected 'x'"},
                                         {"2 ** 3", "expected a number"},
                                         {"3 = 3", "unexpected '='"}}) {
    ExprResult r = evaluate_expression(c.text);
    EXPECT_FALSE(r.ok) << c.text;
    EXPECT_NE(r.error.find(c.why), std::string::npos) << c.text << ": " << r.error;
  }
}

}  // namespace
}  // namespace frugal
