#include "kernels/softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace frugal {

namespace {

// Softmax of r[0, n) in place, then r[n, width) = 0. The sum runs in index order (f32).
void softmax_row(float* r, int64_t n, int64_t width) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) m = std::max(m, r[i]);
  if (m == -std::numeric_limits<float>::infinity()) {
    std::fill(r, r + width, 0.0f);
    return;
  }
  float s = 0;
  for (int64_t i = 0; i < n; ++i) {
    r[i] = std::exp(r[i] - m);
    s += r[i];
  }
  const float inv = 1.0f / s;
  for (int64_t i = 0; i < n; ++i) r[i] *= inv;
  std::fill(r + n, r + width, 0.0f);
}

// dx = y ⊙ (dy − Σ y·dy) over [0, n) (the dot in double), dx[n, width) = 0. dx may alias dy.
void softmax_row_backward(const float* y, const float* dy, float* dx, int64_t n, int64_t width) {
  double dot = 0;
  for (int64_t i = 0; i < n; ++i) dot += double(y[i]) * dy[i];
  const float d = float(dot);
  for (int64_t i = 0; i < n; ++i) dx[i] = y[i] * (dy[i] - d);
  std::fill(dx + n, dx + width, 0.0f);
}

}  // namespace

void softmax_rows(float* x, int64_t T, int64_t n, int64_t ld) {
  for (int64_t t = 0; t < T; ++t) softmax_row(x + t * ld, n, n);
}

void softmax_causal_rows(float* x, int64_t T, int64_t first, int64_t width, int64_t ld) {
  for (int64_t r = 0; r < T; ++r) softmax_row(x + r * ld, first + r, width);
}

void softmax_rows_backward(const float* y, const float* dy, int64_t T, int64_t n, int64_t ld, float* dx) {
#pragma omp parallel for schedule(static) if (T * n >= (1 << 16))
  for (int64_t t = 0; t < T; ++t) softmax_row_backward(y + t * ld, dy + t * ld, dx + t * ld, n, n);
}

void softmax_causal_rows_backward(const float* y, float* dy, int64_t T, int64_t first, int64_t width, int64_t ld) {
  for (int64_t r = 0; r < T; ++r) softmax_row_backward(y + r * ld, dy + r * ld, dy + r * ld, first + r, width);
}

void softmax_ref(double* x, int64_t n) {
  double m = -INFINITY, z = 0;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, x[i]);
  if (m == -INFINITY) {
    std::fill(x, x + n, 0.0);
    return;
  }
  for (int64_t i = 0; i < n; ++i) z += std::exp(x[i] - m);
  for (int64_t i = 0; i < n; ++i) x[i] = std::exp(x[i] - m) / z;
}

}  // namespace frugal
