#include "posttrain/expr.h"

#include <numeric>

namespace frugal {

namespace {

constexpr size_t kMaxText = 256;
constexpr int kMaxDepth = 32;

// Each operation reduces its result; a part that does not fit in int64 is an overflow (the
// intermediate products are taken in 128 bits, so nothing wraps).
bool make(__int128 num, __int128 den, Rational& out) {
  if (den == 0) return false;
  if (den < 0) num = -num, den = -den;
  __int128 a = num < 0 ? -num : num, b = den;
  while (b != 0) {
    const __int128 t = a % b;
    a = b;
    b = t;
  }
  const __int128 g = a == 0 ? 1 : a;
  num /= g;
  den /= g;
  if (num > INT64_MAX || num < -INT64_MAX || den > INT64_MAX) return false;
  out = {int64_t(num), int64_t(den)};
  return true;
}

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  ExprResult run() {
    ExprResult r;
    if (s_.size() > kMaxText) return fail(r, "longer than 256 bytes");
    Rational v;
    if (!expr(v, 0)) return fail(r, error_);
    skip_space();
    if (pos_ != s_.size()) return fail(r, "unexpected '" + std::string(1, s_[pos_]) + "' at byte " + std::to_string(pos_));
    r.ok = true;
    r.value = v;
    r.literals = std::move(literals_);
    return r;
  }

 private:
  ExprResult fail(ExprResult& r, const std::string& why) {
    r.ok = false;
    r.error = why;
    return r;
  }
  bool err(const std::string& why) {
    if (error_.empty()) error_ = why;
    return false;
  }
  void skip_space() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
  }
  bool peek(char c) {
    skip_space();
    return pos_ < s_.size() && s_[pos_] == c;
  }

  bool expr(Rational& out, int depth) {
    if (!term(out, depth)) return false;
    while (peek('+') || peek('-')) {
      const char op = s_[pos_++];
      Rational r;
      if (!term(r, depth)) return false;
      const __int128 a = __int128(out.num) * r.den, b = __int128(r.num) * out.den;
      if (!make(op == '+' ? a + b : a - b, __int128(out.den) * r.den, out)) return err("overflow");
    }
    return true;
  }

  bool term(Rational& out, int depth) {
    if (!factor(out, depth)) return false;
    while (peek('*') || peek('/')) {
      const char op = s_[pos_++];
      Rational r;
      if (!factor(r, depth)) return false;
      if (op == '*') {
        if (!make(__int128(out.num) * r.num, __int128(out.den) * r.den, out)) return err("overflow");
      } else {
        if (r.num == 0) return err("division by zero");
        if (!make(__int128(out.num) * r.den, __int128(out.den) * r.num, out)) return err("overflow");
      }
    }
    return true;
  }

  bool factor(Rational& out, int depth) {
    skip_space();
    if (pos_ >= s_.size()) return err("expression ends early");
    if (s_[pos_] == '(') {
      if (depth + 1 > kMaxDepth) return err("parentheses nested deeper than 32");
      ++pos_;
      if (!expr(out, depth + 1)) return false;
      if (!peek(')')) return err("missing ')' at byte " + std::to_string(pos_));
      ++pos_;
      return true;
    }
    int64_t v = 0;
    size_t digits = 0;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') {
      if (++digits > 9) return err("a number longer than 9 digits");
      v = v * 10 + (s_[pos_++] - '0');
    }
    if (digits == 0) return err("expected a number or '(' at byte " + std::to_string(pos_));
    literals_.push_back(v);
    out = {v, 1};
    return true;
  }

  std::string_view s_;
  size_t pos_ = 0;
  std::string error_;
  std::vector<int64_t> literals_;
};

}  // namespace

ExprResult evaluate_expression(std::string_view text) { return Parser(text).run(); }

}  // namespace frugal
