// Random data and double-precision references shared by the tests. The references restate each
// formula as a plain double loop: the definition the f32 kernels and the model code are checked
// against, directly or through finite differences (grad_check.h). Kernel-level references that
// the library itself exposes (sgemm_ref, softmax_ref, rope_ref, ...) live beside their fast paths
// in src/kernels; the ones here are only needed by tests.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/rng.h"

namespace frugal::test {

// max_i |a[i] − b[i]|.
inline float max_abs_diff(const float* a, const float* b, int64_t n) {
  float m = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

// n values scale·N(0, 1), drawn from rng (which advances) or from a fresh Rng(seed).
inline std::vector<float> randn(size_t n, Rng& rng, float scale = 1.0f) {
  std::vector<float> v(n);
  for (float& x : v) x = scale * rng.normal();
  return v;
}
inline std::vector<float> randn(size_t n, uint64_t seed, float scale = 1.0f) {
  Rng rng(seed);
  return randn(n, rng, scale);
}

// y [N, out] = x [N, in] · Wᵀ, W [out, in] (the nn.Linear convention), rows dense.
inline std::vector<double> linear_ref(const std::vector<double>& x, const std::vector<double>& w, int64_t N,
                                      int64_t in, int64_t out) {
  std::vector<double> y(size_t(N * out), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < out; ++o) {
      double s = 0;
      for (int64_t i = 0; i < in; ++i) s += x[size_t(n * in + i)] * w[size_t(o * in + i)];
      y[size_t(n * out + o)] = s;
    }
  return y;
}

// RMSNorm in place on columns [0, D) of N rows ld apart: x · rsqrt(mean(x²) + eps) · w.
inline void rmsnorm_ref(double* x, const double* w, int64_t N, int64_t D, int64_t ld, double eps) {
  for (int64_t n = 0; n < N; ++n) {
    double* r = x + n * ld;
    double ss = 0;
    for (int64_t i = 0; i < D; ++i) ss += r[i] * r[i];
    const double inv = 1.0 / std::sqrt(ss / double(D) + eps);
    for (int64_t i = 0; i < D; ++i) r[i] = r[i] * inv * w[i];
  }
}

// silu(g) = g · σ(g); SwiGLU's elementwise part is silu(g) · u.
inline double silu_ref(double g) { return g / (1.0 + std::exp(-g)); }

// y [D] += scale · down(silu(gate · x) ⊙ (up · x)) for one row x [D]; gate, up [F, D], down [D, F].
inline void mlp_row_ref(const double* gate, const double* up, const double* down, int64_t D, int64_t F,
                        const double* x, double scale, double* y) {
  std::vector<double> h(static_cast<size_t>(F));
  for (int64_t f = 0; f < F; ++f) {
    double a = 0, b = 0;
    for (int64_t i = 0; i < D; ++i) {
      a += gate[f * D + i] * x[i];
      b += up[f * D + i] * x[i];
    }
    h[size_t(f)] = silu_ref(a) * b;
  }
  for (int64_t d = 0; d < D; ++d) {
    double s = 0;
    for (int64_t f = 0; f < F; ++f) s += down[d * F + f] * h[size_t(f)];
    y[d] += scale * s;
  }
}

}  // namespace frugal::test
