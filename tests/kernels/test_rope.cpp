// Interleaved RoPE (kernels/rope.h): the double reference rope_ref and the f32 passes against the
// complex-rotation definition, the backward against finite differences, and the two layouts
// (inference: one slice, the rows' own positions; training: many head slices per row, positions
// repeating every T rows) against each other bit for bit.
//
// Tolerances. A rotated value is 2 products and 1 add of O(1) f32 values with cos/sin rounded to
// f32 once: within a few 6e-8 ulps of the double value, checked at 1e-5 (1e-6 · mscale · the size
// of the two inputs for the gradient, as the rotation is linear in them).
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <cstring>
#include <vector>

#include "grad_check.h"
#include "kernels/rope.h"
#include "reference.h"

using namespace frugal;

namespace {

using test::fd_grad;
using test::randn;
using test::to_double;

// Interleaved RoPE is multiplication of (x[2i] + i·x[2i+1]) by mscale·e^{i·pos·freq_i}.
TEST(Rope, IsComplexRotationOfAdjacentPairs) {
  const int64_t T = 4, R = 8, ld = 11;
  auto x = randn(size_t(T * ld), 6);
  auto ref = x;
  std::vector<int64_t> pos = {0, 1, 37, 100000};
  std::vector<double> freq = {1.0, 0.0625, 0.0025, 0.00025};
  for (double mscale : {1.0, 0.8}) {
    auto y = x;
    rope_interleaved(y.data(), ld, T, R, pos.data(), freq.data(), mscale);
    for (int64_t t = 0; t < T; ++t) {
      std::vector<double> rd(ref.begin() + t * ld, ref.begin() + t * ld + R);
      rope_ref(rd.data(), R, pos[size_t(t)], freq.data(), mscale);
      for (int64_t i = 0; i < R / 2; ++i) {
        std::complex<double> z(ref[size_t(t * ld + 2 * i)], ref[size_t(t * ld + 2 * i + 1)]);
        z *= std::polar(mscale, double(pos[size_t(t)]) * freq[size_t(i)]);
        EXPECT_NEAR(y[size_t(t * ld + 2 * i)], z.real(), 1e-5);
        EXPECT_NEAR(y[size_t(t * ld + 2 * i + 1)], z.imag(), 1e-5);
        EXPECT_NEAR(rd[size_t(2 * i)], z.real(), 1e-12);
        EXPECT_NEAR(rd[size_t(2 * i + 1)], z.imag(), 1e-12);
      }
    }
    for (int64_t t = 0; t < T; ++t)
      for (int64_t i = R; i < ld; ++i) EXPECT_EQ(y[size_t(t * ld + i)], ref[size_t(t * ld + i)]);  // only the rope dims
  }
}

// Σ G ⊙ rope(x) over T rows (ld apart) of R rotated values, in double; an odd last value passes.
double rope_loss_d(const std::vector<double>& x, const std::vector<double>& G, int64_t T, int64_t R, int64_t ld,
                   const std::vector<int64_t>& pos, const std::vector<double>& inv_freq, double mscale) {
  double L = 0;
  std::vector<double> y(static_cast<size_t>(R));
  for (int64_t t = 0; t < T; ++t) {
    std::copy_n(x.begin() + t * ld, R, y.begin());
    rope_ref(y.data(), R, pos[size_t(t)], inv_freq.data(), mscale);
    for (int64_t i = 0; i < R; ++i) L += G[size_t(t * ld + i)] * y[size_t(i)];
  }
  return L;
}

TEST(Rope, BackwardIsTransposedRotation) {
  const double mscale = 1.3;
  for (int64_t R : {1, 2, 7, 8})
    for (int64_t T : {1, 3}) {
      const int64_t ld = R + 3;
      std::vector<double> inv_freq(size_t(std::max<int64_t>(R / 2, 1)));
      for (size_t i = 0; i < inv_freq.size(); ++i) inv_freq[i] = std::pow(10000.0, -2.0 * double(i) / double(R));
      // Position 0 (identity·mscale), small, and large (angles ~1e5–1e6 rad at freq 1).
      std::vector<int64_t> pos = T == 1 ? std::vector<int64_t>{163839} : std::vector<int64_t>{0, 5, 1000003};
      auto x = randn(size_t(T * ld), uint64_t(R + 7 * T)), G = randn(size_t(T * ld), uint64_t(R + 7 * T + 1));
      auto y = x;
      rope_interleaved(y.data(), ld, T, R, pos.data(), inv_freq.data(), mscale);
      auto dx = G;
      rope_interleaved_backward(dx.data(), ld, T, R, pos.data(), inv_freq.data(), mscale);
      auto xd = to_double(x), Gd = to_double(G);
      auto fx = fd_grad(&xd, [&] { return rope_loss_d(xd, Gd, T, R, ld, pos, inv_freq, mscale); });
      for (int64_t t = 0; t < T; ++t)
        for (int64_t i = 0; i < ld; ++i) {
          const size_t k = size_t(t * ld + i);
          if (i >= R) {
            EXPECT_EQ(dx[k], G[k]);  // outside the rotated span: untouched
            continue;
          }
          EXPECT_NEAR(dx[k], fx[k], 1e-6 * mscale * (std::fabs(Gd[k]) + std::fabs(Gd[size_t(t * ld + (i ^ 1))]) + 1))
              << "R=" << R << " T=" << T << " t=" << t << " i=" << i;
        }
      // Backward ∘ forward = mscale² · identity on the rotated span (rotation is orthogonal).
      auto z = y;
      rope_interleaved_backward(z.data(), ld, T, R, pos.data(), inv_freq.data(), mscale);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t i = 0; i < R - R % 2; ++i) {
          const size_t k = size_t(t * ld + i);
          EXPECT_NEAR(z[k], mscale * mscale * x[k], 1e-5 * (1 + std::fabs(x[k])));
        }
    }
}

// The training layout (B sequences of T rows, positions 0..T-1 each; H head slices per row plus
// gaps between them; out of place) gives, slice by slice, exactly the inference call's bits, and
// writes nothing outside the slices. Likewise the backward.
TEST(Rope, HeadSlicesWithRepeatingPositionsEqualOneSliceCalls) {
  const int64_t B = 3, T = 5, N = B * T, H = 3, dn = 2, dr = 6, hstride = dn + dr + 1, off = dn, ld = H * hstride + 2;
  std::vector<double> inv_freq = {1.0, 0.1, 0.01};
  const double mscale = 1.1;
  std::vector<int64_t> pos_t(static_cast<size_t>(T)), pos_n(static_cast<size_t>(N));
  for (int64_t t = 0; t < T; ++t) pos_t[size_t(t)] = t;
  for (int64_t n = 0; n < N; ++n) pos_n[size_t(n)] = n % T;
  const RopeAngles angles = rope_angles(pos_t.data(), T, inv_freq.data(), dr / 2, mscale);
  const RopeSlices slices{ld, N, H, off, hstride};

  const auto x = randn(size_t(N * ld), 71);
  std::vector<float> dst(x.size(), -7.0f), in_place = x, want = x;
  rope_forward(x.data(), dst.data(), slices, angles);
  rope_forward(in_place.data(), in_place.data(), slices, angles);
  for (int64_t h = 0; h < H; ++h)
    rope_interleaved(want.data() + off + h * hstride, ld, N, dr, pos_n.data(), inv_freq.data(), mscale);
  EXPECT_EQ(0, std::memcmp(in_place.data(), want.data(), want.size() * sizeof(float)));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < ld; ++c) {
      const int64_t in_slice = c >= off && (c - off) % hstride < dr && (c - off) / hstride < H;
      const size_t k = size_t(n * ld + c);
      if (in_slice) EXPECT_EQ(0, std::memcmp(&dst[k], &want[k], sizeof(float))) << n << " " << c;
      else EXPECT_EQ(dst[k], -7.0f) << n << " " << c;  // not copied: dst keeps its other columns
    }

  auto g = randn(size_t(N * ld), 72), g_want = g;
  rope_backward(g.data(), slices, angles);
  for (int64_t h = 0; h < H; ++h)
    rope_interleaved_backward(g_want.data() + off + h * hstride, ld, N, dr, pos_n.data(), inv_freq.data(), mscale);
  EXPECT_EQ(0, std::memcmp(g.data(), g_want.data(), g.size() * sizeof(float)));
}

TEST(Rope, AnglesTableIsRoundedOnce) {
  const std::vector<int64_t> pos = {3, 0, 100000};
  const std::vector<double> inv_freq = {1.0, 1e-3};
  const RopeAngles a = rope_angles(pos.data(), 3, inv_freq.data(), 2, 0.9);
  ASSERT_EQ(a.positions, 3);
  ASSERT_EQ(a.half, 2);
  for (size_t p = 0; p < 3; ++p)
    for (size_t i = 0; i < 2; ++i) {
      const double t = double(pos[p]) * inv_freq[i];
      EXPECT_EQ(a.cos[p * 2 + i], float(std::cos(t) * 0.9));
      EXPECT_EQ(a.sin[p * 2 + i], float(std::sin(t) * 0.9));
    }
}

}  // namespace
