// A safe parser and exact evaluator of arithmetic expressions, for checking countdown answers:
//   expr := term (('+' | '-') term)*      term := factor (('*' | '/') factor)*
//   factor := INTEGER | '(' expr ')'
// Integers are non-negative literals of at most 9 digits (no unary minus: a countdown answer only
// combines the given numbers). Arithmetic is exact over rationals num/den with 64-bit parts, so
// 7 / 2 * 2 is 7 and (1/3)*3 is 1. Model output is untrusted: the text is at most 256 bytes,
// parentheses nest at most 32 deep, and division by zero, overflow past 64 bits, a stray character
// or trailing text give ok = false with the reason, never an exception or a crash.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace frugal {

struct Rational {
  int64_t num = 0, den = 1;  // den > 0, gcd(num, den) = 1
  bool operator==(const Rational&) const = default;
};

struct ExprResult {
  bool ok = false;
  Rational value;
  std::vector<int64_t> literals;  // every integer literal, in reading order
  std::string error;              // why ok is false
};

ExprResult evaluate_expression(std::string_view text);

}  // namespace frugal
