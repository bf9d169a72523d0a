#include "kernels/ops.h"

#include <cmath>
#include <limits>

namespace frugal {

void rmsnorm_forward(const float* x, int64_t ldx, const float* w, int64_t T, int64_t D, float eps, float* y,
                     int64_t ldy) {
#pragma omp parallel for schedule(static) if (T * D >= (1 << 16))
  for (int64_t t = 0; t < T; ++t) {
    const float* xr = x + t * ldx;
    float* yr = y + t * ldy;
    float ss = 0;
    for (int64_t i = 0; i < D; ++i) ss += xr[i] * xr[i];
    float r = 1.0f / std::sqrt(ss / float(D) + eps);
    for (int64_t i = 0; i < D; ++i) yr[i] = xr[i] * r * w[i];
  }
}

float silu(float x) { return x / (1.0f + std::exp(-x)); }

void add_inplace(float* x, const float* y, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= (1 << 16))
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void swiglu_forward(const float* g, const float* u, int64_t T, int64_t F, float* h) {
  const int64_t n = T * F;
#pragma omp parallel for schedule(static) if (n >= (1 << 16))
  for (int64_t i = 0; i < n; ++i) h[i] = silu(g[i]) * u[i];
}

void softmax_rows(float* x, int64_t T, int64_t n, int64_t ld) {
  for (int64_t t = 0; t < T; ++t) {
    float* r = x + t * ld;
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < n; ++i) m = std::max(m, r[i]);
    if (m == -std::numeric_limits<float>::infinity()) {
      for (int64_t i = 0; i < n; ++i) r[i] = 0;
      continue;
    }
    float s = 0;
    for (int64_t i = 0; i < n; ++i) {
      r[i] = std::exp(r[i] - m);
      s += r[i];
    }
    float inv = 1.0f / s;
    for (int64_t i = 0; i < n; ++i) r[i] *= inv;
  }
}

void rope_interleaved(float* x, int64_t ld, int64_t T, int64_t R, const int64_t* pos, const double* inv_freq,
                      double mscale) {
  for (int64_t t = 0; t < T; ++t) {
    float* r = x + t * ld;
    for (int64_t i = 0; i < R / 2; ++i) {
      // Angles in double: pos·freq reaches 1e5 rad at long context, where f32 would lose ~1e-2 rad.
      double a = double(pos[t]) * inv_freq[i];
      float c = float(std::cos(a) * mscale), s = float(std::sin(a) * mscale);
      float x0 = r[2 * i], x1 = r[2 * i + 1];
      r[2 * i] = x0 * c - x1 * s;
      r[2 * i + 1] = x0 * s + x1 * c;
    }
  }
}

}  // namespace frugal
