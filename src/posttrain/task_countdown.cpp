// countdown: reach the target with the given numbers. 3 or 4 numbers in [1, 99]; the target is
// the value of a random expression over all of them (so a solution exists), each step a positive
// integer of at most 999 ((+) and (*) up to 999, (-) when it stays positive, (/) when exact). The answer is
// an expression (expr.h) whose value is exactly the target and whose numbers are given ones, each
// used at most as often as it is given; "EXPR = TARGET" is accepted too.
#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "posttrain/answer.h"
#include "posttrain/expr.h"
#include "posttrain/task.h"

namespace frugal {

namespace {

Problem make_countdown(Rng& rng) {
  const int64_t n = 3 + int64_t(rng.below(2));
  std::vector<int64_t> nums(static_cast<size_t>(n));
  for (int64_t& x : nums) x = 1 + int64_t(rng.below(99));
  std::vector<size_t> order(nums.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (size_t i = order.size() - 1; i > 0; --i) std::swap(order[i], order[rng.below(i + 1)]);  // Fisher-Yates

  int64_t v = nums[order[0]];
  std::string text = std::to_string(v);
  for (size_t k = 1; k < order.size(); ++k) {
    const int64_t x = nums[order[k]];
    char ops[4];  // never empty: when v + x > 999, v > x and (-) is allowed
    int n_ops = 0;
    if (v + x <= 999) ops[n_ops++] = '+';
    if (v > x) ops[n_ops++] = '-';
    if (v * x <= 999) ops[n_ops++] = '*';
    if (x > 1 && v % x == 0) ops[n_ops++] = '/';
    const char op = ops[rng.below(uint64_t(n_ops))];
    v = op == '+' ? v + x : op == '-' ? v - x : op == '*' ? v * x : v / x;
    text = k == 1 ? fmt::format("{} {} {}", text, op, x) : fmt::format("({}) {} {}", text, op, x);
  }
  Problem p;
  std::vector<int64_t> sorted = nums;
  std::sort(sorted.begin(), sorted.end());
  p.key = fmt::format("countdown:{}={}", fmt::join(sorted, ","), v);
  p.question = fmt::format(
      "Using the numbers {} (each at most once) and + - * / with parentheses, write an expression equal to {}.",
      fmt::join(nums, ", "), v);
  p.reference = text;
  p.numbers = nums;
  p.target = v;
  return p;
}

bool check_countdown(const Problem& p, std::string_view answer) {
  std::string_view expr = answer;
  if (const size_t eq = answer.find('='); eq != std::string_view::npos) {
    const std::optional<int64_t> rhs = parse_exact_int(answer.substr(eq + 1));
    if (!rhs || *rhs != p.target) return false;
    expr = answer.substr(0, eq);
  }
  const ExprResult r = evaluate_expression(trim(expr));
  if (!r.ok || r.value != Rational{p.target, 1}) return false;
  std::vector<int64_t> left = p.numbers;  // each given number may be used once per occurrence
  for (int64_t lit : r.literals) {
    auto it = std::find(left.begin(), left.end(), lit);
    if (it == left.end()) return false;
    left.erase(it);
  }
  return true;
}

}  // namespace

Task countdown_task() {
  return {"countdown", "reach the target with 3-4 given numbers and + - * /; the answer is an expression", &make_countdown,
          &check_countdown};
}

}  // namespace frugal
