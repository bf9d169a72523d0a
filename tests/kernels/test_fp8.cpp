// FP8 E4M3 quantization (kernels/fp8_quant.h) and the FP8 GEMM with FP32 promotion
// (kernels/gemm_fp8.h): the rounding against core/dtype's E4M3 codec, every ISA path against the
// scalar reference bit for bit, the GEMM against its double-accumulation reference, thread-count
// independence, and the limited-precision accumulator that shows why promotion matters.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/dtype.h"
#include "core/rng.h"
#include "core/sys.h"
#include "isa_guard.h"
#include "kernels/gemm_fp8.h"
#include "kernels/gemm_precision.h"
#include "kernels/linear_grad.h"
#include "reference.h"

using namespace frugal;

namespace {

using test::randn;

uint32_t fp8_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

// Equal bits, or both NaN (the reference's NaN has E4M3's payload, the fast path keeps the input's).
bool fp8_same(float a, float b) { return (std::isnan(a) && std::isnan(b)) || fp8_bits(a) == fp8_bits(b); }

std::vector<KernelIsa> fp8_isas() {
  std::vector<KernelIsa> v{KernelIsa::kPortable};
  if (best_kernel_isa() >= KernelIsa::kAvx2) v.push_back(KernelIsa::kAvx2);
  if (best_kernel_isa() >= KernelIsa::kAvx512) v.push_back(best_kernel_isa());
  return v;
}

// Every E4M3 value, every midpoint between neighbours (the ties), values just either side of them,
// the saturation edge, the subnormal range, specials, and random values over 2^-30 .. 2^30.
std::vector<float> fp8_probe_values() {
  std::vector<float> v{0.0f, -0.0f, 448.0f, 463.9f, 464.0f, 464.1f, 479.0f, 480.0f, 1e9f, 3.4e38f, INFINITY,
                       -INFINITY, std::ldexp(1.0f, -9), std::ldexp(1.0f, -10), std::ldexp(3.0f, -11), 1e-40f};
  std::vector<float> grid;
  for (int b = 0; b < 256; ++b) {
    const float f = e4m3_to_f32(uint8_t(b));
    if (std::isfinite(f) && f >= 0) grid.push_back(f);
  }
  std::sort(grid.begin(), grid.end());
  for (size_t i = 0; i + 1 < grid.size(); ++i) {
    const float mid = 0.5f * (grid[i] + grid[i + 1]);
    for (float x : {grid[i], mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f)}) {
      v.push_back(x);
      v.push_back(-x);
    }
  }
  Rng rng(11);
  for (int i = 0; i < 20000; ++i) v.push_back(rng.normal() * std::ldexp(1.0f, int(rng.uniform() * 60) - 30));
  return v;
}

TEST(Fp8, RoundingIsCoreDtypesE4m3) {
  for (float x : fp8_probe_values()) ASSERT_TRUE(fp8_same(e4m3_round(x), e4m3_to_f32(f32_to_e4m3(x)))) << x;
  EXPECT_EQ(e4m3_round(464.0f), 448.0f);      // tie between 448 and (saturated) 480
  EXPECT_EQ(e4m3_round(-1e30f), -448.0f);     // saturating
  EXPECT_EQ(e4m3_round(1.0625f), 1.0f);       // tie 1 + 2^-4 -> 1 (even)
  EXPECT_EQ(e4m3_round(1.1875f), 1.25f);      // tie 1 + 3·2^-4 -> 1 + 2^-2 (even)
  EXPECT_EQ(e4m3_round(std::ldexp(3.0f, -11)), std::ldexp(1.0f, -9));  // subnormal tie 1.5·2^-10 -> 2^-9
  EXPECT_TRUE(std::isnan(e4m3_round(std::nanf(""))));
}

// The vectorised tile quantizer against the scalar one (s = 1 and a scale that is not a power of 2).
TEST(Fp8, TileQuantizerEveryIsaMatchesScalar) {
  const std::vector<float> vals = fp8_probe_values();
  for (float s : {1.0f, 0.37f}) {
    std::vector<float> a = vals, b = vals;
    for (size_t i = 0; i < a.size(); ++i) a[i] = e4m3_round(a[i] / s);
    if (best_kernel_isa() >= KernelIsa::kAvx2) fp8_detail::quantize_tile_avx2(b.data(), int64_t(b.size()), s);
    else fp8_detail::quantize_tile_portable(b.data(), int64_t(b.size()), s);
    for (size_t i = 0; i < a.size(); ++i) ASSERT_TRUE(fp8_same(a[i], b[i])) << vals[i] << " / " << s;
  }
  std::vector<float> x = randn(1000, 3);
  x[517] = -7.5f;
  x[999] = std::nanf("");
  EXPECT_GT(fp8_detail::amax_bits_portable(x.data(), 1000), 0x7f800000u);  // the NaN wins
  EXPECT_EQ(fp8_detail::amax_bits_portable(x.data(), 999), fp8_bits(7.5f));
  if (best_kernel_isa() >= KernelIsa::kAvx2) {
    EXPECT_EQ(fp8_detail::amax_bits_avx2(x.data(), 999), fp8_bits(7.5f));
    EXPECT_GT(fp8_detail::amax_bits_avx2(x.data(), 1000), 0x7f800000u);
  }
}

// fp8_quantize equals the reference bit for bit on every ISA, scaling, stride and edge shape; the
// largest |q| of every group is 448 (its amax maps there); a NaN poisons only its own group.
TEST(Fp8, QuantizeEveryIsaMatchesReference) {
  const int64_t R = 131, K = 300, ld = 307;
  std::vector<float> X = randn(size_t(R * ld + K * ld), 5);
  for (size_t i = 0; i < X.size(); i += 97) X[i] *= 1e-3f;  // spread within groups
  X[size_t(3 * ld + 200)] = std::nanf("");                 // row 3, chunk 1 (untransposed)
  for (KernelIsa isa : fp8_isas()) {
    test::IsaGuard guard(isa);
    for (Fp8Scaling sc : {Fp8Scaling::kTile, Fp8Scaling::kBlock, Fp8Scaling::kTensor})
      for (bool trans : {false, true}) {
        const int64_t rs = trans ? 1 : ld, ks = trans ? ld : 1;
        Fp8Operand fast, ref;
        fp8_quantize(X.data(), rs, ks, R, K, sc, fast);
        fp8_quantize_ref(X.data(), rs, ks, R, K, sc, ref);
        ASSERT_EQ(fast.Kp, 384);
        ASSERT_EQ(fast.Kc, 3);
        for (size_t i = 0; i < ref.s.size(); ++i) ASSERT_TRUE(fp8_same(fast.s[i], ref.s[i])) << i;
        for (size_t i = 0; i < ref.q.size(); ++i)
          ASSERT_TRUE(fp8_same(fast.q[i], ref.q[i])) << kernel_isa_name(isa) << " " << fp8_scaling_name(sc) << " " << i;
        if (trans || sc == Fp8Scaling::kTensor) continue;  // the NaN poisons the whole tensor there
        // Untransposed tiles: the NaN's own group only; every other group reaches 448 exactly.
        for (int64_t r = 0; r < R; ++r)
          for (int64_t c = 0; c < 3; ++c) {
            const bool poisoned = c == 1 && (sc == Fp8Scaling::kTile ? r == 3 : r < 128);
            EXPECT_EQ(std::isnan(fast.s[size_t(r * 3 + c)]), poisoned) << r << " " << c;
            if (poisoned || sc == Fp8Scaling::kBlock) continue;
            float m = 0;
            for (int64_t k = c * 128; k < (c + 1) * 128; ++k) m = std::max(m, std::fabs(fast.q[size_t(r * 384 + k)]));
            EXPECT_EQ(m, 448.0f) << r << " " << c;
          }
      }
  }
}

// Quantization error: an element in its group's normal range (|v| / s >= 2^-6) is within a relative
// 2^-4 (half of E4M3's 2^-3 spacing); below it, within half the subnormal step, 2^-10 · s.
TEST(Fp8, QuantizationErrorWithinHalfAnUlp) {
  const int64_t R = 256, K = 256;
  std::vector<float> X = randn(size_t(R * K), 9);
  for (size_t i = 0; i < X.size(); i += 7) X[i] *= 1e-3f;
  for (Fp8Scaling sc : {Fp8Scaling::kTile, Fp8Scaling::kBlock, Fp8Scaling::kTensor}) {
    Fp8Operand q;
    fp8_quantize(X.data(), K, 1, R, K, sc, q);
    for (int64_t r = 0; r < R; ++r)
      for (int64_t k = 0; k < K; ++k) {
        const double s = q.s[size_t(r * q.Kc + k / 128)], v = X[size_t(r * K + k)];
        const double err = std::fabs(double(q.q[size_t(r * q.Kp + k)]) * s - v);
        const double bound = std::fabs(v) / s >= std::ldexp(1.0, -6) ? std::ldexp(std::fabs(v), -4) : std::ldexp(s, -10);
        ASSERT_LE(err, bound * (1 + 1e-6)) << fp8_scaling_name(sc) << " " << r << " " << k;
      }
  }
}

// Σ_k sa·sb·|qa·qb| + |β·c| for element (i, j): the magnitude the f32 roundings are relative to.
double fp8_magnitude(const Fp8Operand& qa, const Fp8Operand& qb, int64_t i, int64_t j) {
  double m = 0;
  for (int64_t k = 0; k < qa.Kp; ++k)
    m += double(qa.s[size_t(i * qa.Kc + k / 128)]) * double(qb.s[size_t(j * qb.Kc + k / 128)]) *
         std::fabs(double(qa.q[size_t(i * qa.Kp + k)]) * double(qb.q[size_t(j * qb.Kp + k)]));
  return m;
}

// The fast path and the reference quantize identically (tested above), and products of E4M3 values
// are exact, so they differ only in the fast path's f32 roundings: the chunk sum (127 adds), per
// chunk the scale product, its product with the sum and the promotion add, then alpha and beta. Each
// is within 2^-24 of a partial magnitude bounded by Σ sa·sb·|qa·qb| (the scale product's rounding
// enters one chunk), so |C − R| ≤ (128 + 3·Kc + 2)·2^-24·(|α|·Σ sa·sb·|qa·qb| + |β·c|).
TEST(Fp8, GemmMatchesReference) {
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (auto [ka, kb] : {std::array<Fp8Scaling, 2>{Fp8Scaling::kTile, Fp8Scaling::kBlock},
                            std::array<Fp8Scaling, 2>{Fp8Scaling::kTile, Fp8Scaling::kTile},
                            std::array<Fp8Scaling, 2>{Fp8Scaling::kTensor, Fp8Scaling::kTensor}})
        // Two C tiles across N (256 + 4) for the training policy's pair; the others need only the
        // row-block and K-chunk edges (M 130, K 300), which keeps the double reference quick.
        for (auto [M, N, K] : {std::array<int64_t, 3>{1, 1, 1},
                               std::array<int64_t, 3>{130, kb == Fp8Scaling::kBlock ? 260 : 20, 300},
                               std::array<int64_t, 3>{5, 7, 0}})
          for (float beta : {0.0f, 1.0f}) {
            const float alpha = 0.5f;
            const int64_t lda = (ta ? M : K) + 1, ldb = (tb ? K : N) + 2, ldc = N + 3;
            std::vector<float> A = randn(size_t((ta ? K : M) * lda + 1), 1);
            std::vector<float> B = randn(size_t((tb ? N : K) * ldb + 1), 2);
            std::vector<float> C = randn(size_t(M * ldc), 3), R = C, C0 = C;
            if (beta == 0.0f) std::fill(C.begin(), C.end(), std::nanf(""));
            gemm_fp8(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc, ka, kb);
            gemm_fp8_ref(ta, tb, M, N, K, alpha, A.data(), lda, B.data(), ldb, beta, R.data(), ldc, ka, kb);
            Fp8Operand qa, qb;
            fp8_quantize_ref(A.data(), ta ? 1 : lda, ta ? lda : 1, M, K, ka, qa);
            fp8_quantize_ref(B.data(), tb ? ldb : 1, tb ? 1 : ldb, N, K, kb, qb);
            for (int64_t i = 0; i < M; ++i)
              for (int64_t j = 0; j < N; ++j) {
                const double mag = alpha * fp8_magnitude(qa, qb, i, j) + beta * std::fabs(double(C0[size_t(i * ldc + j)]));
                const double tol = double(128 + 3 * qa.Kc + 2) * std::ldexp(1.0, -24) * mag + 1e-30;
                ASSERT_NEAR(C[size_t(i * ldc + j)], R[size_t(i * ldc + j)], tol)
                    << ta << tb << " " << M << "x" << N << "x" << K << " " << fp8_scaling_name(ka) << " beta " << beta;
              }
          }
}

// The training step's bit-reproducibility rests on this: the same bits with 1 and 2 threads.
TEST(Fp8, GemmSameBitsForEveryThreadCount) {
  const int64_t M = 300, N = 520, K = 700;
  std::vector<float> A = randn(size_t(M * K), 4), B = randn(size_t(N * K), 5);
  const int saved = num_threads();
  std::vector<float> c1(size_t(M * N)), c2(size_t(M * N));
  set_num_threads(1);
  gemm_fp8(false, true, M, N, K, 1.0f, A.data(), K, B.data(), K, 0.0f, c1.data(), N, Fp8Scaling::kTile, Fp8Scaling::kBlock);
  set_num_threads(2);
  gemm_fp8(false, true, M, N, K, 1.0f, A.data(), K, B.data(), K, 0.0f, c2.data(), N, Fp8Scaling::kTile, Fp8Scaling::kBlock);
  set_num_threads(saved);
  EXPECT_EQ(std::memcmp(c1.data(), c2.data(), c1.size() * 4), 0);
}

TEST(Fp8, RoundMantissa) {
  EXPECT_EQ(round_mantissa(1.0f + std::ldexp(1.0f, -15), 14), 1.0f);  // tie -> even
  EXPECT_EQ(round_mantissa(1.0f + 3 * std::ldexp(1.0f, -15), 14), 1.0f + std::ldexp(1.0f, -13));
  EXPECT_EQ(round_mantissa(1.0f + std::ldexp(1.0f, -14), 14), 1.0f + std::ldexp(1.0f, -14));
  EXPECT_EQ(round_mantissa(0.1f, 23), 0.1f);
  EXPECT_EQ(round_mantissa(-1.0f - 3 * std::ldexp(1.0f, -15), 14), -1.0f - std::ldexp(1.0f, -13));
  EXPECT_EQ(round_mantissa(1.0f + 3 * std::ldexp(1.0f, -15), 14, true), 1.0f + std::ldexp(1.0f, -14));  // toward zero
  EXPECT_EQ(round_mantissa(-1.0f - 3 * std::ldexp(1.0f, -15), 14, true), -1.0f - std::ldexp(1.0f, -14));
}

// Why promotion matters: with a 14-bit accumulator (V3's H800 figure) and same-sign products, one
// accumulation over K = 4096 loses up to K·2^-15 of the sum (each add rounds within 2^-15 of the
// running sum, which grows to the whole), while a fresh accumulator per 128-chunk bounds the
// relative error by 127·2^-15 per chunk plus the f32 promotion. Per-tensor scales, so the
// unpromoted sum is the one an FP8 Tensor Core without promotion computes.
TEST(Fp8, PromotionBoundsTheLimitedAccumulatorsError) {
  const int64_t K = 4096;
  std::vector<float> a(static_cast<size_t>(K)), b(static_cast<size_t>(K));
  Rng rng(21);
  for (int64_t k = 0; k < K; ++k) {
    a[size_t(k)] = 0.5f + rng.uniform();
    b[size_t(k)] = 0.5f + rng.uniform();
  }
  float exact = 0, promoted = 0, flat = 0;
  const Fp8Scaling t = Fp8Scaling::kTensor;
  gemm_fp8_ref(false, true, 1, 1, K, 1.0f, a.data(), K, b.data(), K, 0.0f, &exact, 1, t, t, {0, true});
  gemm_fp8_ref(false, true, 1, 1, K, 1.0f, a.data(), K, b.data(), K, 0.0f, &promoted, 1, t, t, {14, true});
  gemm_fp8_ref(false, true, 1, 1, K, 1.0f, a.data(), K, b.data(), K, 0.0f, &flat, 1, t, t, {14, false});
  const double e_promoted = std::fabs(double(promoted) - exact) / exact;
  const double e_flat = std::fabs(double(flat) - exact) / exact;
  EXPECT_LE(e_promoted, 128 * std::ldexp(1.0, -15) + 32 * std::ldexp(1.0, -24));
  EXPECT_GT(e_flat, 8 * e_promoted);  // bench_fp8 measured ~1e-3 against ~3e-6 at this K
  EXPECT_LE(e_flat, double(K) * std::ldexp(1.0, -15));
  // Truncating (toward zero, as the H800 does): every add loses up to a whole 2^-14 of the running
  // sum, always in the same direction, so without promotion the loss accumulates instead of
  // averaging out: at least a quarter of the K·2^-15 a uniform half-ulp loss would give (bench_fp8
  // measured 3.7e-2, the size of the ~2% V3 reports at this K); with promotion it stays within
  // 127·2^-14 per chunk.
  float t_promoted = 0, t_flat = 0;
  gemm_fp8_ref(false, true, 1, 1, K, 1.0f, a.data(), K, b.data(), K, 0.0f, &t_promoted, 1, t, t, {14, true, true});
  gemm_fp8_ref(false, true, 1, 1, K, 1.0f, a.data(), K, b.data(), K, 0.0f, &t_flat, 1, t, t, {14, false, true});
  EXPECT_LE(std::fabs(double(t_promoted) - exact) / exact, 128 * std::ldexp(1.0, -14));
  EXPECT_GE(std::fabs(double(t_flat) - exact) / exact, 0.25 * double(K) * std::ldexp(1.0, -15));
}

// The policy's three GEMM forms: forward and input gradient quantize B (the weight) in 128x128
// blocks, the weight gradient (trans_a) both operands in 1x128 tiles along its K; fp8-tensor one
// scale each. linear_gemm must compute exactly those (same quantization: the fast path's bits).
TEST(Fp8, LinearGemmPicksV3sScaling) {
  const int64_t M = 200, N = 150, K = 260;
  std::vector<float> x = randn(size_t(M * K), 6), w = randn(size_t(N * K), 7), dy = randn(size_t(M * N), 8);
  auto same = [](const std::vector<float>& u, const std::vector<float>& v) {
    return std::memcmp(u.data(), v.data(), u.size() * 4) == 0;
  };
  std::vector<float> y1(size_t(M * N)), y2(size_t(M * N)), dx1(size_t(M * K)), dx2(size_t(M * K)),
      dw1(size_t(N * K), 0.5f), dw2(size_t(N * K), 0.5f);
  linear_gemm(Precision::kFp8, sgemm, false, true, M, N, K, 1.0f, x.data(), K, w.data(), K, 0.0f, y1.data(), N);
  gemm_fp8(false, true, M, N, K, 1.0f, x.data(), K, w.data(), K, 0.0f, y2.data(), N, Fp8Scaling::kTile, Fp8Scaling::kBlock);
  EXPECT_TRUE(same(y1, y2));
  linear_backward(x.data(), K, w.data(), K, dy.data(), N, M, N, K, dx1.data(), K, dw1.data(), K, Precision::kFp8);
  gemm_fp8(false, false, M, K, N, 1.0f, dy.data(), N, w.data(), K, 0.0f, dx2.data(), K, Fp8Scaling::kTile, Fp8Scaling::kBlock);
  gemm_fp8(true, false, N, K, M, 1.0f, dy.data(), N, x.data(), K, 1.0f, dw2.data(), K, Fp8Scaling::kTile, Fp8Scaling::kTile);
  EXPECT_TRUE(same(dx1, dx2));
  EXPECT_TRUE(same(dw1, dw2));
  linear_gemm(Precision::kFp8Tensor, sgemm, false, true, M, N, K, 1.0f, x.data(), K, w.data(), K, 0.0f, y1.data(), N);
  gemm_fp8(false, true, M, N, K, 1.0f, x.data(), K, w.data(), K, 0.0f, y2.data(), N, Fp8Scaling::kTensor, Fp8Scaling::kTensor);
  EXPECT_TRUE(same(y1, y2));
  EXPECT_EQ(parse_precision("fp8"), Precision::kFp8);
  EXPECT_EQ(parse_precision("fp8-tensor"), Precision::kFp8Tensor);
  EXPECT_STREQ(precision_name(Precision::kFp8Tensor), "fp8-tensor");
}

// Gradients of an fp8 linear layer against the f32 reference (linear_backward_ref, double sums):
// each quantized operand is within e(v) = max(2^-4·|v|, 2^-10·s) of its value (the test above), so
// a product a·b is within e_a·|b| + |a|·e_b + e_a·e_b, and the sum within Σ of those, plus the f32
// roundings (≤ (128 + 3·Kc + 2)·2^-24 of the magnitude, far smaller; taken as 1e-5 relative).
TEST(Fp8, LinearGradientsWithinTheQuantizationBound) {
  const int64_t M = 140, N = 90, K = 200;
  std::vector<float> x = randn(size_t(M * K), 16), w = randn(size_t(N * K), 17, 0.1f), dy = randn(size_t(M * N), 18);
  std::vector<float> dx(size_t(M * K)), dw(size_t(N * K), 0.0f), dxr(size_t(M * K)), dwr(size_t(N * K), 0.0f);
  linear_backward(x.data(), K, w.data(), K, dy.data(), N, M, N, K, dx.data(), K, dw.data(), K, Precision::kFp8);
  linear_backward_ref(x.data(), K, w.data(), K, dy.data(), N, M, N, K, dxr.data(), K, dwr.data(), K);
  // err(op, r, k): the quantization error bound of element (r, k) of a quantized operand.
  auto bound = [](const Fp8Operand& q, const float* v, int64_t rs, int64_t ks, int64_t r, int64_t k) {
    const double s = q.s[size_t(r * q.Kc + k / 128)], a = std::fabs(v[r * rs + k * ks]);
    return std::max(std::ldexp(a, -4), std::ldexp(s, -10));
  };
  Fp8Operand qdy, qw, qdyt, qx;
  fp8_quantize_ref(dy.data(), N, 1, M, N, Fp8Scaling::kTile, qdy);  // dx = dy·W: dy rows, K = N
  fp8_quantize_ref(w.data(), 1, K, K, N, Fp8Scaling::kBlock, qw);   // W as K rows of N
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 0; k < K; ++k) {
      double tol = 0;
      for (int64_t n = 0; n < N; ++n) {
        const double ea = bound(qdy, dy.data(), N, 1, m, n), eb = bound(qw, w.data(), 1, K, k, n);
        tol += ea * std::fabs(w[size_t(n * K + k)]) + std::fabs(dy[size_t(m * N + n)]) * eb + ea * eb;
      }
      ASSERT_NEAR(dx[size_t(m * K + k)], dxr[size_t(m * K + k)], tol * (1 + 1e-5) + 1e-6) << m << " " << k;
    }
  fp8_quantize_ref(dy.data(), 1, N, N, M, Fp8Scaling::kTile, qdyt);  // dW = dyᵀ·x: dyᵀ rows, K = M
  fp8_quantize_ref(x.data(), 1, K, K, M, Fp8Scaling::kTile, qx);     // x as K rows of M
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      double tol = 0;
      for (int64_t m = 0; m < M; ++m) {
        const double ea = bound(qdyt, dy.data(), 1, N, n, m), eb = bound(qx, x.data(), 1, K, k, m);
        tol += ea * std::fabs(x[size_t(m * K + k)]) + std::fabs(dy[size_t(m * N + n)]) * eb + ea * eb;
      }
      ASSERT_NEAR(dw[size_t(n * K + k)], dwr[size_t(n * K + k)], tol * (1 + 1e-5) + 1e-6) << n << " " << k;
    }
}

// FP8 activation storage: bytes and per-row 1x128 scales that load back to exactly the values the
// GEMM quantizer makes of the same rows (tile scaling), on every ISA; a NaN poisons its tile only.
TEST(Fp8, StoredRowsLoadBackToTheQuantizedValues) {
  const int64_t R = 7, C = 300, Cc = 3;
  std::vector<float> x = randn(size_t(R * C), 31);
  for (size_t i = 0; i < x.size(); i += 13) x[i] *= 1e-4f;
  x[size_t(2 * C + 140)] = std::nanf("");  // row 2, tile 1
  Fp8Operand ref;
  fp8_quantize_ref(x.data(), C, 1, R, C, Fp8Scaling::kTile, ref);
  for (KernelIsa isa : fp8_isas()) {
    test::IsaGuard guard(isa);
    std::vector<uint8_t> q(size_t(R * C));
    std::vector<float> sc(size_t(R * Cc)), back(size_t(R * C));
    ASSERT_EQ(fp8_row_scales(C), Cc);
    fp8_store_rows(x.data(), R, C, q.data(), sc.data());
    fp8_load_rows(q.data(), sc.data(), R, C, back.data());
    for (int64_t r = 0; r < R; ++r)
      for (int64_t c = 0; c < C; ++c) {
        const bool poisoned = r == 2 && c / 128 == 1;
        const float want = ref.q[size_t(r * ref.Kp + c)] * ref.s[size_t(r * Cc + c / 128)];
        ASSERT_EQ(std::isnan(back[size_t(r * C + c)]), poisoned) << r << " " << c;
        if (!poisoned) {
          ASSERT_EQ(back[size_t(r * C + c)], want) << kernel_isa_name(isa) << " " << r << " " << c;
        }
      }
  }
}

}  // namespace
