// Finite-difference helpers shared by the gradient tests: central differences of a double-precision
// reference loss, perturbing one entry at a time.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace frugal::test {

// Step of the central differences: the double reference's rounding (~1e-16 · |loss|) divided by h
// stays far below the O(h²) truncation error at this size.
constexpr double kFdStep = 1e-6;

inline std::vector<double> to_double(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

// d loss / d x[i] for one entry (loss() reads *x).
template <typename Fn>
double fd_grad_at(std::vector<double>* x, size_t i, Fn&& loss, double h = kFdStep) {
  const double x0 = (*x)[i];
  (*x)[i] = x0 + h;
  const double lp = loss();
  (*x)[i] = x0 - h;
  const double lm = loss();
  (*x)[i] = x0;
  return (lp - lm) / (2 * h);
}

// d objective / d v[i] for an f32 parameter the model reads in place (a ParamStore value): the
// step is taken in f32, the difference formed in double.
template <typename Fn>
double fd_grad_at_f32(float* v, int64_t i, Fn&& objective, float h = 1e-3f) {
  const float orig = v[i];
  v[i] = orig + h;
  const double up = objective();
  v[i] = orig - h;
  const double down = objective();
  v[i] = orig;
  return (up - down) / (2.0 * double(h));
}

// Index of the largest |g[i]| (the first on ties): the most informative element to check.
inline int64_t argmax_abs(const float* g, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; ++i)
    if (std::fabs(g[i]) > std::fabs(g[best])) best = i;
  return best;
}

// d loss / d x for every entry of *x.
template <typename Fn>
std::vector<double> fd_grad(std::vector<double>* x, Fn&& loss, double h = kFdStep) {
  std::vector<double> g(x->size());
  for (size_t i = 0; i < x->size(); ++i) g[i] = fd_grad_at(x, i, loss, h);
  return g;
}

// Checks a whole tensor's gradient: |got − want| ≤ rel_tol · max|want| (+ 1e-8 of FD noise) for
// every entry, the scale being the tensor's largest gradient (its entries' f32 errors are relative
// to the size of the terms that form them, which that bounds). Returns the worst error / tolerance.
inline double expect_grad_near(const float* got, const std::vector<double>& want, double rel_tol,
                               const std::string& what) {
  double scale = 0, worst = 0;
  for (double w : want) scale = std::max(scale, std::fabs(w));
  const double tol = rel_tol * scale + 1e-8;
  for (size_t i = 0; i < want.size(); ++i) {
    const double err = std::fabs(double(got[i]) - want[i]);
    worst = std::max(worst, err / tol);
    EXPECT_LE(err, tol) << what << " [" << i << "] got " << got[i] << " want " << want[i];
  }
  return worst;
}

}  // namespace frugal::test
