#include "kernels/rope.h"

#include <cmath>

#include "core/error.h"

namespace frugal {

RopeAngles rope_angles(const int64_t* pos, int64_t P, const double* inv_freq, int64_t half, double mscale) {
  RopeAngles a;
  a.positions = P;
  a.half = half;
  a.cos.resize(size_t(P * half));
  a.sin.resize(size_t(P * half));
  for (int64_t p = 0; p < P; ++p)
    for (int64_t i = 0; i < half; ++i) {
      const double t = double(pos[p]) * inv_freq[i];
      a.cos[size_t(p * half + i)] = float(std::cos(t) * mscale);
      a.sin[size_t(p * half + i)] = float(std::sin(t) * mscale);
    }
  return a;
}

namespace {

void check(const RopeSlices& s, const RopeAngles& a) {
  FRUGAL_ASSERT(s.N == 0 || (a.positions > 0 && int64_t(a.cos.size()) == a.positions * a.half),
                "RoPE: {} rows against a table of {} positions x {} pairs", s.N, a.positions, a.half);
}

// Rotates row n's slices by its position's angles: forward y = Rot(θ)·x, or (transpose) the
// inverse rotation in place. Rows are independent, so threading cannot change a bit; small calls
// (a decode step's few rows) stay out of OpenMP, whose fork costs more than their work.
template <bool kTranspose>
void rotate(const float* src, float* dst, const RopeSlices& s, const RopeAngles& a) {
  check(s, a);
  const int64_t half = a.half;
  auto row = [&](int64_t n) {
    const float* c = a.cos.data() + (n % a.positions) * half;
    const float* sn = a.sin.data() + (n % a.positions) * half;
    for (int64_t h = 0; h < s.nh; ++h) {
      const float* x = src + n * s.ld + s.off + h * s.hstride;
      float* y = dst + n * s.ld + s.off + h * s.hstride;
      for (int64_t i = 0; i < half; ++i) {
        const float x0 = x[2 * i], x1 = x[2 * i + 1];
        if constexpr (kTranspose) {  // transpose of [[c, −s], [s, c]]
          y[2 * i] = x0 * c[i] + x1 * sn[i];
          y[2 * i + 1] = -x0 * sn[i] + x1 * c[i];
        } else {
          y[2 * i] = x0 * c[i] - x1 * sn[i];
          y[2 * i + 1] = x0 * sn[i] + x1 * c[i];
        }
      }
    }
  };
  if (s.N * s.nh * half >= (1 << 15)) {
#pragma omp parallel for schedule(static)
    for (int64_t n = 0; n < s.N; ++n) row(n);
  } else {
    for (int64_t n = 0; n < s.N; ++n) row(n);
  }
}

}  // namespace

void rope_forward(const float* src, float* dst, const RopeSlices& s, const RopeAngles& a) {
  rotate<false>(src, dst, s, a);
}

void rope_backward(float* g, const RopeSlices& s, const RopeAngles& a) { rotate<true>(g, g, s, a); }

void rope_ref(double* x, int64_t R, int64_t pos, const double* inv_freq, double mscale) {
  for (int64_t i = 0; i < R / 2; ++i) {
    const double t = double(pos) * inv_freq[i];
    const double c = std::cos(t) * mscale, s = std::sin(t) * mscale;
    const double x0 = x[2 * i], x1 = x[2 * i + 1];
    x[2 * i] = x0 * c - x1 * s;
    x[2 * i + 1] = x0 * s + x1 * c;
  }
}

void rope_interleaved(float* x, int64_t ld, int64_t T, int64_t R, const int64_t* pos, const double* inv_freq,
                      double mscale) {
  if (T <= 0 || R < 2) return;
  const RopeSlices s{ld, T, 1, 0, 0};
  rope_forward(x, x, s, rope_angles(pos, T, inv_freq, R / 2, mscale));
}

void rope_interleaved_backward(float* dx, int64_t ld, int64_t T, int64_t R, const int64_t* pos,
                               const double* inv_freq, double mscale) {
  if (T <= 0 || R < 2) return;
  const RopeSlices s{ld, T, 1, 0, 0};
  rope_backward(dx, s, rope_angles(pos, T, inv_freq, R / 2, mscale));
}

}  // namespace frugal
