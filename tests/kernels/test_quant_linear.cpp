// Linear layers on GGUF q8_0 / q4_0 weights, every ISA path forced.
//
// Tolerances (derived). Per output y = Σ_b t_b with t_b = fl(d_w[b] · d_a[b]) · isum_b:
//  * fast kernels vs matmul_xwt_q8act_ref (same integers, exact: |isum| <= 32 · 128 · 127 < 2^24
//    converts to f32 exactly): the scale product rounds once (u), the product with isum once (u),
//    and an f32 sum of nb terms in any order adds γ_nb (Higham §3.1); the reference rounds once to
//    f32 (u). So |fast − ref| <= (nb + 4) · u · Σ_b |d_w d_a isum_b| (+ second order).
//  * matmul_xwt_q8act_ref vs matmul_xwt_ref (exact dequantised weights, f32 x): the activation
//    rounding moves each x_k by at most d_a[b]/2 + 2u|x_k| (quant_blocks.h), so
//    |Δy| <= Σ_k |w_k| (d_a[b(k)]/2 + 2u|x_k|), plus u·|y| for each side's final rounding.
//  * large M (dequantised panel + sgemm) vs matmul_xwt_ref: f32 dot products of the same exact
//    weights, (K + 4) · u · Σ|x_k w_k| as in test_linear.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/rng.h"
#include "kernels/isa_guard.h"
#include "kernels/linear.h"
#include "kernels/quant_blocks.h"
#include "reference.h"

using namespace frugal;

namespace {

constexpr double kQlU = 1.0 / (1 << 24);
const KernelIsa kQlIsas[] = {KernelIsa::kPortable, KernelIsa::kAvx2, KernelIsa::kAvx512, KernelIsa::kAvx512Vnni};

bool ql_isa_ok(KernelIsa isa) {
  if (int(isa) <= int(best_kernel_isa())) return true;
  std::printf("note: kernel ISA %s not supported by this CPU: its cases are left out\n", kernel_isa_name(isa));
  return false;
}

// A [rows, ld] block-quantized tensor (random normal rows of varied magnitude) viewed as
// [rows, cols] from column col0; every 7th q8_0 block gets a -128 code (legal in GGUF files,
// never written by the reference quantizer).
struct QlWeight {
  std::vector<uint8_t> bytes;
  WeightView view;
};

QlWeight ql_weight(DType t, int64_t rows, int64_t ld, Rng& rng, int64_t col0 = 0, int64_t cols = -1) {
  QlWeight q;
  const int64_t rb = dtype_row_bytes(t, ld);
  q.bytes.assign(size_t(rows * rb + 1), 0);  // + 1: the data starts at an odd address
  uint8_t* base = q.bytes.data() + 1;
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<float> x = test::randn(static_cast<size_t>(ld), rng, r % 3 == 0 ? 0.02f : 1.5f);
    quantize_row_q(t, x.data(), base + r * rb, ld);
    if (t == DType::kQ8_0)
      for (int64_t b = r % 7; b < ld / 32; b += 7) base[r * rb + b * 34 + 2 + (r % 32)] = 0x80;
  }
  q.view.dtype = t;
  q.view.rows = rows;
  q.view.cols = ld;
  q.view.ld = ld;
  q.view.data = base;
  if (cols >= 0) q.view = q.view.col_slice(col0, cols);
  return q;
}

// Σ_b |d_w[b] · d_a[b] · isum_b| for every (m, n): the scale of the f32 summation error.
std::vector<double> ql_term_mass(const float* x, int64_t M, int64_t ldx, const WeightView& w) {
  const int64_t K = w.cols, nb = K / 32;
  std::vector<double> out(static_cast<size_t>(M * w.rows));
  std::vector<int8_t> qs(static_cast<size_t>(K));
  std::vector<float> da(static_cast<size_t>(nb));
  std::vector<int32_t> sa(static_cast<size_t>(nb));
  for (int64_t m = 0; m < M; ++m) {
    quantize_act_q8(x + m * ldx, K, qs.data(), da.data(), sa.data());
    for (int64_t n = 0; n < w.rows; ++n) {
      double mass = 0;
      for (int64_t b = 0; b < nb; ++b) {
        // |d_w · isum| <= Σ_j |w_j| |qa_j|: the bound the reference's terms obey.
        double s = 0;
        for (int64_t j = 0; j < 32; ++j) s += std::fabs(double(w.at(n, b * 32 + j))) * std::abs(int(qs[size_t(b * 32 + j)]));
        mass += s * da[size_t(b)];
      }
      out[size_t(m * w.rows + n)] = mass;
    }
  }
  return out;
}

}  // namespace

// Every ISA, both types, decode-sized M (1..32, covering the 4-row tiles and their 1..3 tails),
// odd N, K with odd and even block counts, column-sliced views into wider tensors.
TEST(QuantLinear, GemvMatchesIntegerReferenceOnEveryIsa) {
  Rng rng(11);
  struct Shape {
    int64_t N, ld, col0, cols;
  };
  // Block counts 1, 3, 13, 10, 1, 18 and 33: the AVX-512 kernel works in groups of 16 blocks
  // (pairs, then an odd last block), so partial and several groups are covered.
  const Shape shapes[] = {{1, 32, 0, 32},     {13, 96, 0, 96}, {37, 416, 0, 416},   {29, 512, 64, 320},
                          {5, 256, 224, 32}, {3, 576, 0, 576}, {7, 1120, 32, 1056}};
  for (DType t : {DType::kQ8_0, DType::kQ4_0}) {
    for (const Shape& sh : shapes) {
      QlWeight w = ql_weight(t, sh.N, sh.ld, rng, sh.col0, sh.cols);
      const int64_t K = sh.cols;
      for (int64_t M : {1, 2, 3, 5, 8, 32}) {
        const int64_t ldx = K + 3, ldy = sh.N + 2;
        std::vector<float> x = test::randn(static_cast<size_t>(M * ldx), rng, 0.7f);
        for (int64_t k = 0; k < K; k += 5) x[size_t(k)] *= 40.0f;  // outliers: uneven block scales
        std::vector<float> ref(static_cast<size_t>(M * ldy), 0.0f);
        matmul_xwt_q8act_ref(x.data(), M, ldx, w.view, ref.data(), ldy);
        const std::vector<double> mass = ql_term_mass(x.data(), M, ldx, w.view);
        const double c = double(K / 32 + 4) * kQlU;
        for (KernelIsa isa : kQlIsas) {
          if (!ql_isa_ok(isa)) continue;
          test::IsaGuard g(isa);
          std::vector<float> y(static_cast<size_t>(M * ldy), -7.0f);
          matmul_xwt(x.data(), M, ldx, w.view, y.data(), ldy);
          for (int64_t m = 0; m < M; ++m)
            for (int64_t n = 0; n < sh.N; ++n)
              ASSERT_LE(std::fabs(double(y[m * ldy + n]) - ref[m * ldy + n]), c * mass[size_t(m * sh.N + n)] + 1e-30)
                  << dtype_name(t) << "/" << kernel_isa_name(isa) << " N " << sh.N << " K " << K << " M " << M
                  << " m " << m << " n " << n;
          for (int64_t m = 0; m < M; ++m)  // the padding between rows of y stays untouched
            for (int64_t n = sh.N; n < ldy; ++n) ASSERT_EQ(y[m * ldy + n], -7.0f);
        }
      }
    }
  }
}

// The integer path against the exact f32 product of the dequantised weights: off by no more than
// the activation rounding allows. A wrong block index or scale would be off by O(|w||x|).
TEST(QuantLinear, IntegerReferenceIsWithinActivationRoundingOfExactProduct) {
  Rng rng(5);
  const int64_t N = 23, K = 320, M = 3;
  for (DType t : {DType::kQ8_0, DType::kQ4_0}) {
    QlWeight w = ql_weight(t, N, K, rng);
    std::vector<float> x = test::randn(static_cast<size_t>(M * K), rng, 1.0f);
    std::vector<float> yq(static_cast<size_t>(M * N)), yf(static_cast<size_t>(M * N));
    matmul_xwt_q8act_ref(x.data(), M, K, w.view, yq.data(), N);
    matmul_xwt_ref(x.data(), M, K, w.view, yf.data(), N);
    std::vector<int8_t> qs(static_cast<size_t>(K));
    std::vector<float> da(static_cast<size_t>(K / 32));
    std::vector<int32_t> sa(static_cast<size_t>(K / 32));
    double worst = 0;
    for (int64_t m = 0; m < M; ++m) {
      quantize_act_q8(x.data() + m * K, K, qs.data(), da.data(), sa.data());
      for (int64_t n = 0; n < N; ++n) {
        double bound = 0;
        for (int64_t k = 0; k < K; ++k)
          bound += std::fabs(double(w.view.at(n, k))) * (da[size_t(k / 32)] / 2 + 2 * kQlU * std::fabs(x[m * K + k]));
        bound += kQlU * (std::fabs(yq[m * N + n]) + std::fabs(yf[m * N + n]));
        const double err = std::fabs(double(yq[m * N + n]) - yf[m * N + n]);
        EXPECT_LE(err, bound) << dtype_name(t) << " m " << m << " n " << n;
        worst = std::max(worst, err / bound);
      }
    }
    // The bound is not vacuous: the rounding errors really are a sizeable part of it.
    EXPECT_GT(worst, 0.01) << dtype_name(t);
  }
}

// Prefill-sized M goes through dequantised panels and sgemm: the exact product of the weights.
TEST(QuantLinear, LargeMUsesExactDequantisedWeights) {
  Rng rng(9);
  const int64_t N = 70, K = 192, M = 40;
  for (DType t : {DType::kQ8_0, DType::kQ4_0}) {
    QlWeight w = ql_weight(t, N, K, rng);
    std::vector<float> x = test::randn(static_cast<size_t>(M * K), rng, 1.0f);
    std::vector<float> y(static_cast<size_t>(M * N)), ref(static_cast<size_t>(M * N));
    matmul_xwt_ref(x.data(), M, K, w.view, ref.data(), N);
    for (KernelIsa isa : kQlIsas) {
      if (!ql_isa_ok(isa)) continue;
      test::IsaGuard g(isa);
      matmul_xwt(x.data(), M, K, w.view, y.data(), N);
      for (int64_t m = 0; m < M; ++m)
        for (int64_t n = 0; n < N; ++n) {
          double s = 0;
          for (int64_t k = 0; k < K; ++k) s += std::fabs(double(x[m * K + k]) * w.view.at(n, k));
          ASSERT_LE(std::fabs(double(y[m * N + n]) - ref[m * N + n]), double(K + 4) * kQlU * s)
              << dtype_name(t) << "/" << kernel_isa_name(isa);
        }
    }
    // matmul_xw (absorbed MLA) on a row slice: dequantised whole, then sgemm.
    const WeightView ws = w.view.row_slice(3, 32);  // [32, K] as W[K' = 32, N' = K]
    std::vector<float> x2 = test::randn(static_cast<size_t>(2 * 32), rng, 1.0f);
    std::vector<float> y2(static_cast<size_t>(2 * K)), r2(static_cast<size_t>(2 * K));
    matmul_xw(x2.data(), 2, 32, ws, y2.data(), K);
    matmul_xw_ref(x2.data(), 2, 32, ws, r2.data(), K);
    for (int64_t m = 0; m < 2; ++m)
      for (int64_t n = 0; n < K; ++n) {
        double s2 = 0;
        for (int64_t k = 0; k < 32; ++k) s2 += std::fabs(double(x2[size_t(m * 32 + k)]) * ws.at(k, n));
        EXPECT_LE(std::fabs(double(y2[size_t(m * K + n)]) - r2[size_t(m * K + n)]), (32 + 4) * kQlU * s2) << m << " " << n;
      }
  }
}

// A NaN or Inf activation makes exactly the outputs of its row NaN, on every path.
TEST(QuantLinear, NonFiniteActivationGivesNaNRow) {
  Rng rng(2);
  const int64_t N = 9, K = 64, M = 2;
  for (DType t : {DType::kQ8_0, DType::kQ4_0}) {
    QlWeight w = ql_weight(t, N, K, rng);
    std::vector<float> x = test::randn(static_cast<size_t>(M * K), rng, 1.0f);
    x[K + 40] = std::numeric_limits<float>::infinity();
    for (KernelIsa isa : kQlIsas) {
      if (!ql_isa_ok(isa)) continue;
      test::IsaGuard g(isa);
      std::vector<float> y(static_cast<size_t>(M * N));
      matmul_xwt(x.data(), M, K, w.view, y.data(), N);
      for (int64_t n = 0; n < N; ++n) {
        EXPECT_TRUE(std::isfinite(y[size_t(n)])) << kernel_isa_name(isa);
        EXPECT_TRUE(std::isnan(y[size_t(N + n)])) << kernel_isa_name(isa);
      }
    }
  }
}

TEST(QuantLinear, ViewBytesAndSlices) {
  Rng rng(4);
  QlWeight w = ql_weight(DType::kQ4_0, 6, 128, rng);
  EXPECT_EQ(w.view.bytes(), 6 * 4 * 18);
  const WeightView s = w.view.row_slice(2, 3).col_slice(64, 64);
  EXPECT_EQ(s.bytes(), 3 * 2 * 18);
  for (int64_t r = 0; r < 3; ++r)
    for (int64_t c = 0; c < 64; ++c) EXPECT_EQ(s.at(r, c), w.view.at(r + 2, c + 64));
  EXPECT_THROW((void)w.view.col_slice(16, 32), Error);  // not whole blocks
}
