// arithmetic: one operation on multi-digit integers. a + b and a - b with 2- or 3-digit operands
// (a difference may be negative), a * b with a 2- or 3-digit a and a 1- or 2-digit b. The answer
// is the exact integer. addsub is its easy subset: a + b or a - b with two 2-digit operands, small
// enough for a model of a few million parameters trained from scratch in minutes to half-learn,
// which is where reinforcement learning has a signal to work with (docs/posttrain.md, The R1
// recipe on a tiny model). Both write the same keys, so a problem has one split in either task.
#include <fmt/format.h>

#include "posttrain/answer.h"
#include "posttrain/task.h"

namespace frugal {

namespace {

int64_t with_digits(Rng& rng, int64_t digits) {
  int64_t lo = 1;
  for (int64_t i = 1; i < digits; ++i) lo *= 10;
  return lo + int64_t(rng.below(uint64_t(9 * lo)));  // [10^(d-1), 10^d)
}

Problem arithmetic_problem(int64_t a, char op, int64_t b) {
  const int64_t r = op == '+' ? a + b : op == '-' ? a - b : a * b;
  Problem p;
  p.key = fmt::format("arithmetic:{}{}{}", a, op, b);
  p.question = fmt::format("What is {} {} {}?", a, op, b);
  p.reference = std::to_string(r);
  p.numbers = {a, b};
  p.target = r;
  return p;
}

Problem make_arithmetic(Rng& rng) {
  static constexpr char kOps[] = {'+', '-', '*'};
  const char op = kOps[rng.below(3)];
  const int64_t a = with_digits(rng, 2 + int64_t(rng.below(2)));
  const int64_t b = op == '*' ? with_digits(rng, 1 + int64_t(rng.below(2))) : with_digits(rng, 2 + int64_t(rng.below(2)));
  return arithmetic_problem(a, op, b);
}

Problem make_addsub(Rng& rng) {
  const char op = rng.below(2) ? '+' : '-';
  const int64_t a = with_digits(rng, 2);
  return arithmetic_problem(a, op, with_digits(rng, 2));
}

bool check_arithmetic(const Problem& p, std::string_view answer) {
  const std::optional<int64_t> v = parse_exact_int(answer);
  return v && *v == p.target;
}

}  // namespace

Task arithmetic_task() {
  return {"arithmetic", "a + b, a - b (2-3 digits) or a * b (2-3 by 1-2 digits); the answer is the exact integer",
          &make_arithmetic, &check_arithmetic};
}

Task addsub_task() {
  return {"addsub", "a + b or a - b with 2-digit operands (the easy part of arithmetic); the answer is the exact integer",
          &make_addsub, &check_arithmetic};
}

}  // namespace frugal
