// Linear kernels against their double-accumulating references: every dtype, odd shapes, block
// scales with partial edge blocks, views starting mid-block, unaligned data, both ISAs.
//
// Tolerance (derived, not tuned). Let w_k = fl(code_k * scale) be the weight WeightView::at()
// returns, S = Σ|x_k w_k|, u = 2^-24 (f32 unit roundoff), γ_n = n·u / (1 − n·u). Higham (Accuracy
// and Stability of Numerical Algorithms, §3.1): a dot product of n terms summed in f32 in ANY order
// (SIMD lanes, tiles, OpenBLAS with or without FMA) is within γ_n Σ|terms| of the exact value.
//   reference: double products and sum (error ~K·2^-53, negligible) rounded once to f32: u·S.
//   fast paths multiply the same exactly-representable f32 numbers in one of three ways:
//    (a) x_k · w_k (portable, dequantised panels + sgemm, AVX2 with M > 1): γ_K · S;
//    (b) per-segment partial sums of x_k · (code_k · 2^-8 for e4m3) times the scale (AVX2, M = 1,
//        saves a multiply per weight): the products use the unrounded code·scale, which is within
//        u of w_k, and the scale multiply adds one rounding level: (γ_{K+1} + u) · S;
//    (c) fl(x_k · scale) · code_k (AVX2, M = 1, block-scaled): same as (b).
// So |fast − ref| <= (γ_{K+1} + 2u) · S <= (K + 4) · u · S for K <= 4000 (the second-order part of
// γ is below u there): c · K · eps_f32 · S with eps_f32 = 2u and c ~ 1/2. A wrong weight, scale or
// index moves some y by about one |x_k w_k|, far above this (~K · 6e-8 of S).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "kernels/isa_guard.h"
#include "core/arena.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/sys.h"
#include "kernels/linear.h"
#include "reference.h"

using namespace frugal;

namespace {

constexpr double kU = 1.0 / (1 << 24);  // unit roundoff of f32
const DType kAllDtypes[] = {DType::kF32, DType::kBF16, DType::kF16, DType::kF8E4M3, DType::kF8E5M2};
const KernelIsa kIsas[] = {KernelIsa::kPortable, KernelIsa::kAvx2, KernelIsa::kAvx512, KernelIsa::kAvx512Vnni};

// Whether this CPU runs `isa`; says so once per ISA and test when it does not (those cases are left
// out; not a gtest skip, since the other ISAs of the same test did run).
bool isa_available(KernelIsa isa) {
  if (int(isa) <= int(best_kernel_isa())) return true;
  std::printf("note: kernel ISA %s not supported by this CPU (%s): its cases are left out\n", kernel_isa_name(isa),
              cpu_features_str().c_str());
  return false;
}

bool cpu_has_avx512_kernels() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
         __builtin_cpu_supports("avx512vbmi");
}

// Forces an ISA for one scope, then restores the best one.
using test::IsaGuard;

// A [rows, cols] weight tensor (row stride ld) in storage dtype, optionally block-scaled, whose
// data pointer is `misalign` bytes past a 64-byte boundary.
struct TestWeight {
  std::vector<uint8_t> storage;
  std::vector<float> scales;
  WeightView view;
};

TestWeight make_weight(DType t, int64_t rows, int64_t cols, Rng& rng, int64_t block_rows = 0,
                       int64_t block_cols = 0, size_t misalign = 0, int64_t ld_pad = 0) {
  TestWeight tw;
  const int64_t ld = cols + ld_pad;
  const size_t es = dtype_size(t);
  tw.storage.assign(size_t(rows * ld) * es + 128, 0xAB);
  uint8_t* base = tw.storage.data();
  base += (64 - reinterpret_cast<uintptr_t>(base) % 64) % 64 + misalign;
  for (int64_t i = 0; i < rows * ld; ++i) {
    uint8_t* p = base + size_t(i) * es;
    switch (t) {
      case DType::kF32: {
        float v = rng.normal();
        std::memcpy(p, &v, 4);
        break;
      }
      case DType::kBF16: {
        uint16_t h = f32_to_bf16(rng.normal());
        std::memcpy(p, &h, 2);
        break;
      }
      case DType::kF16: {  // 1 in 8 tiny enough to be an f16 subnormal
        uint16_t h = f32_to_f16(rng.normal() * (rng.below(8) == 0 ? 1e-6f : 1.0f));
        std::memcpy(p, &h, 2);
        break;
      }
      case DType::kF8E4M3: {  // every code but the NaNs: subnormals and ±448 included
        uint8_t c;
        do c = uint8_t(rng.below(256)); while ((c & 0x7f) == 0x7f);
        *p = c;
        break;
      }
      case DType::kF8E5M2: {  // every finite code
        uint8_t c;
        do c = uint8_t(rng.below(256)); while ((c & 0x7c) == 0x7c);
        *p = c;
        break;
      }
      default: ADD_FAILURE() << "dtype";
    }
  }
  WeightView& v = tw.view;
  v.dtype = t;
  v.rows = rows;
  v.cols = cols;
  v.ld = ld;
  v.data = base;
  if (block_rows > 0) {
    const int64_t gr = (rows + block_rows - 1) / block_rows, gc = (cols + block_cols - 1) / block_cols;
    tw.scales.resize(size_t(gr * gc));
    // Not powers of two, so code * scale rounds: both paths must round it the same way.
    for (float& s : tw.scales) s = std::ldexp(1.0f + rng.uniform(), -int(rng.below(10)));
    v.scale_inv = tw.scales.data();
    v.scale_ld = gc;
    v.block_rows = block_rows;
    v.block_cols = block_cols;
  }
  return tw;
}

using test::randn;

constexpr float kCanary = -12345.0f;

// Runs `run` (a matmul into y [M, N] with row stride N + 3) and checks it against the reference
// yref with the derived bound; abs_prod(m, n) gives Σ_k |x_mk w_kn|. The 3 padding floats per row
// must stay untouched, and y starts as NaN so unwritten outputs fail.
template <typename Run, typename AbsProd>
void check_against(int64_t M, int64_t N, int64_t K, const std::vector<float>& yref, int64_t ldr, Run&& run,
                   AbsProd&& abs_prod) {
  const int64_t ldy = N + 3;
  std::vector<float> y(size_t(std::max<int64_t>(M, 1) * ldy), std::numeric_limits<float>::quiet_NaN());
  for (int64_t m = 0; m < M; ++m)
    for (int64_t j = N; j < ldy; ++j) y[m * ldy + j] = kCanary;
  run(y.data(), ldy);
  int failures = 0;
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t j = N; j < ldy; ++j) EXPECT_EQ(y[m * ldy + j], kCanary) << "wrote past N at m=" << m;
    for (int64_t n = 0; n < N; ++n) {
      const float got = y[m * ldy + n], want = yref[m * ldr + n];
      if (std::isnan(want)) {
        if (!std::isnan(got) && failures++ < 5) ADD_FAILURE() << "m=" << m << " n=" << n << " want NaN got " << got;
        continue;
      }
      const double tol = double(K + 4) * kU * abs_prod(m, n);
      if (!(std::fabs(double(got) - double(want)) <= tol) && failures++ < 5)
        ADD_FAILURE() << "m=" << m << " n=" << n << " got " << got << " want " << want << " tol " << tol;
    }
  }
  EXPECT_EQ(failures, 0);
}

// matmul_xwt(x [M, K] with row stride K + 1, w) vs matmul_xwt_ref.
void check_xwt(const WeightView& w, int64_t M, Rng& rng, Arena* scratch = nullptr) {
  const int64_t N = w.rows, K = w.cols, ldx = K + 1;
  const std::vector<float> x = randn(size_t(std::max<int64_t>(M, 1) * ldx), rng);
  std::vector<float> yref(size_t(M * N));
  matmul_xwt_ref(x.data(), M, ldx, w, yref.data(), N);
  std::vector<float> wf(size_t(N * K));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) wf[n * K + k] = w.at(n, k);
  check_against(
      M, N, K, yref, N, [&](float* y, int64_t ldy) { matmul_xwt(x.data(), M, ldx, w, y, ldy, scratch); },
      [&](int64_t m, int64_t n) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k) s += std::fabs(double(x[m * ldx + k]) * wf[n * K + k]);
        return s;
      });
}

// matmul_xw(x [M, K], w [K, N]) vs matmul_xw_ref.
void check_xw(const WeightView& w, int64_t M, Rng& rng, Arena* scratch = nullptr) {
  const int64_t K = w.rows, N = w.cols, ldx = K + 2;
  const std::vector<float> x = randn(size_t(std::max<int64_t>(M, 1) * ldx), rng);
  std::vector<float> yref(size_t(M * N));
  matmul_xw_ref(x.data(), M, ldx, w, yref.data(), N);
  check_against(
      M, N, K, yref, N, [&](float* y, int64_t ldy) { matmul_xw(x.data(), M, ldx, w, y, ldy, scratch); },
      [&](int64_t m, int64_t n) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k) s += std::fabs(double(x[m * ldx + k]) * w.at(k, n));
        return s;
      });
}

std::string name(DType t, KernelIsa isa) { return std::string(dtype_name(t)) + "/" + kernel_isa_name(isa); }

}  // namespace

TEST(Linear, DispatchPicksBestIsa) {
  const CpuFeatures& f = cpu_features();
  const bool vnni = __builtin_cpu_supports("avx512vnni");
  const KernelIsa want = !(f.avx2 && f.fma && f.f16c)    ? KernelIsa::kPortable
                         : !cpu_has_avx512_kernels()     ? KernelIsa::kAvx2
                         : vnni                          ? KernelIsa::kAvx512Vnni
                                                         : KernelIsa::kAvx512;
  EXPECT_EQ(best_kernel_isa(), want) << cpu_features_str();
  EXPECT_EQ(kernel_isa(), want);
  EXPECT_STREQ(kernel_isa_name(kernel_isa()), want == KernelIsa::kAvx512Vnni ? "avx512vnni"
                                              : want == KernelIsa::kAvx512   ? "avx512"
                                              : want == KernelIsa::kAvx2     ? "avx2"
                                                                             : "portable");
  for (KernelIsa isa : kIsas) {
    if (int(isa) <= int(want)) {
      IsaGuard g(isa);
      EXPECT_EQ(kernel_isa(), isa);
    } else {
      EXPECT_THROW(set_kernel_isa(isa), Error) << kernel_isa_name(isa);
    }
  }
  EXPECT_EQ(kernel_isa(), want);
}

TEST(Linear, BlasIsOpenBlas) {
  const std::string info = blas_info();
  EXPECT_NE(info.find("OpenBLAS"), std::string::npos) << info;
  EXPECT_NE(info.find("openmp"), std::string::npos) << info;
}

TEST(Linear, ViewAtSlicesAndBytes) {
  Rng rng(1);
  TestWeight tw = make_weight(DType::kF8E4M3, 70, 90, rng, 32, 32);
  const WeightView& w = tw.view;
  const auto* codes = static_cast<const uint8_t*>(w.data);
  EXPECT_EQ(w.at(40, 65), e4m3_to_f32(codes[40 * 90 + 65]) * tw.scales[1 * 3 + 2]);
  // A view starting mid-block still finds the block of the full tensor.
  const WeightView v = w.row_slice(30, 20).col_slice(60, 25);
  EXPECT_EQ(v.rows, 20);
  EXPECT_EQ(v.cols, 25);
  EXPECT_EQ(v.row0, 30);
  EXPECT_EQ(v.col0, 60);
  for (int64_t r = 0; r < v.rows; ++r)
    for (int64_t c = 0; c < v.cols; ++c) ASSERT_EQ(v.at(r, c), w.at(r + 30, c + 60));
  // Rows 30..49 touch scale rows 0..1, cols 60..84 scale cols 1..2: 4 scales.
  EXPECT_EQ(v.bytes(), 20 * 25 + 4 * 4);
  TestWeight tb = make_weight(DType::kBF16, 5, 6, rng);
  EXPECT_EQ(tb.view.bytes(), 5 * 6 * 2);
  EXPECT_EQ(tb.view.at(2, 3), bf16_to_f32(static_cast<const uint16_t*>(tb.view.data)[2 * 6 + 3]));
}

// The shape sweep: odd K (tails), N not a multiple of the 3/4-row groups, M across the GEMV tiles
// (1..4, chunks of 4), the GEMV/GEMM switches (16/17 for f32, 32/33 for the others) and the panel
// path (64, 300).
TEST(Linear, XwtAllDtypesOddShapes) {
  Rng rng(2);
  for (KernelIsa isa : kIsas) {
    if (!isa_available(isa)) continue;
    IsaGuard guard(isa);
    for (DType t : kAllDtypes)
      for (int64_t K : {1, 7, 33, 1000})
        for (int64_t N : {1, 13, 70}) {
          // fp8 gets 32x32 block scales here (partial edge blocks: 1000 % 32, 70 % 32, 13 < 32).
          const bool fp8 = t == DType::kF8E4M3 || t == DType::kF8E5M2;
          TestWeight tw = make_weight(t, N, K, rng, fp8 ? 32 : 0, fp8 ? 32 : 0);
          for (int64_t M : {1, 2, 3, 5, 16, 17, 32, 33, 64, 300}) {
            SCOPED_TRACE(name(t, isa) + " M=" + std::to_string(M) + " K=" + std::to_string(K) +
                         " N=" + std::to_string(N));
            check_xwt(tw.view, M, rng);
          }
        }
  }
}

// Block scales: 32x32 (fixtures), 128x128 (DeepSeek checkpoints), 16x48 (non-square) on a
// [200, 300] tensor with partial edge blocks, through views that start mid-block.
TEST(Linear, XwtBlockScaledViews) {
  Rng rng(3);
  struct Block { int64_t r, c; };
  for (KernelIsa isa : kIsas) {
    if (!isa_available(isa)) continue;
    IsaGuard guard(isa);
    for (DType t : {DType::kF8E4M3, DType::kF8E5M2, DType::kBF16})
      for (Block b : {Block{32, 32}, Block{128, 128}, Block{16, 48}}) {
        TestWeight tw = make_weight(t, 200, 300, rng, b.r, b.c);
        const WeightView& w = tw.view;
        const WeightView views[] = {w, w.row_slice(37, 90), w.col_slice(21, 250),
                                    w.row_slice(5, 150).col_slice(50, 203), w.row_slice(131, 3).col_slice(129, 7)};
        for (size_t vi = 0; vi < std::size(views); ++vi)
          for (int64_t M : {1, 3, 17, 64}) {
            SCOPED_TRACE(name(t, isa) + " block " + std::to_string(b.r) + "x" + std::to_string(b.c) + " view " +
                         std::to_string(vi) + " M=" + std::to_string(M));
            check_xwt(views[vi], M, rng);
          }
      }
  }
}

// mmapped safetensors data is only 8-byte aligned, and a tensor after an odd-sized one may not
// even be element aligned: every offset 1..7 past a 64-byte boundary, row stride > cols.
TEST(Linear, XwtUnalignedData) {
  Rng rng(4);
  for (KernelIsa isa : kIsas) {
    if (!isa_available(isa)) continue;
    IsaGuard guard(isa);
    for (DType t : kAllDtypes)
      for (size_t mis = 1; mis < 8; ++mis) {
        TestWeight tw = make_weight(t, 29, 67, rng, 0, 0, mis, /*ld_pad=*/5);
        for (int64_t M : {1, 4, 40}) {
          SCOPED_TRACE(name(t, isa) + " misalign " + std::to_string(mis) + " M=" + std::to_string(M));
          check_xwt(tw.view, M, rng);
        }
      }
  }
}

// Large enough for the parallel GEMV split and several dequantised panels; with an arena the panel
// scratch is given back.
TEST(Linear, XwtLargeWithArena) {
  Rng rng(5);
  Arena arena(1 << 16);
  TestWeight tw = make_weight(DType::kF8E4M3, 2100, 1100, rng, 128, 128);
  for (int64_t M : {1, 2, 7, 40}) {
    SCOPED_TRACE("M=" + std::to_string(M));
    arena.alloc<float>(10);
    const size_t used = arena.used();
    check_xwt(tw.view, M, rng, &arena);
    EXPECT_EQ(arena.used(), used);
  }
}

// The AVX-512 kernels decode 64 e4m3 codes / 32 bf16 per step and keep x in a permuted order:
// K around the step edges, N around the 4-row groups, M across the 4-row chunks, unscaled and with
// 128x128 / 16x48 blocks whose edges are not step-aligned, on every ISA.
TEST(Linear, XwtStepEdges) {
  Rng rng(11);
  for (KernelIsa isa : kIsas) {
    if (!isa_available(isa)) continue;
    IsaGuard guard(isa);
    for (DType t : {DType::kF8E4M3, DType::kBF16})
      for (int64_t blk : {0, 128, 48})
        for (int64_t K : {31, 32, 63, 64, 65, 127, 128, 129, 300}) {
          TestWeight tw = make_weight(t, 9, K, rng, blk ? blk / 3 : 0, blk);
          for (const WeightView& v : {tw.view, tw.view.row_slice(2, 7).col_slice(K / 3, K - K / 3)})
            for (int64_t M : {1, 2, 4, 5, 9}) {
              SCOPED_TRACE(name(t, isa) + " block " + std::to_string(blk) + " K=" + std::to_string(v.cols) +
                           " col0=" + std::to_string(v.col0) + " M=" + std::to_string(M));
              check_xwt(v, M, rng);
            }
        }
  }
}

// Invalid fp8 codes behave as in WeightView::at(): an e4m3 NaN code (S.1111.111, which the AVX2
// decode would otherwise widen to ±480) or an e5m2 NaN makes that output row NaN; e5m2 ±inf too.
TEST(Linear, XwtNonFiniteCodes) {
  Rng rng(6);
  for (KernelIsa isa : kIsas) {
    if (!isa_available(isa)) continue;
    IsaGuard guard(isa);
    for (DType t : {DType::kF8E4M3, DType::kF8E5M2}) {
      TestWeight tw = make_weight(t, 20, 45, rng, 16, 16);
      auto* codes = const_cast<uint8_t*>(static_cast<const uint8_t*>(tw.view.data));
      const uint8_t nan_code = t == DType::kF8E4M3 ? 0x7f : 0x7d;
      codes[3 * 45 + 10] = nan_code;
      codes[7 * 45 + 44] = uint8_t(nan_code | 0x80);  // negative NaN, in the K tail
      if (t == DType::kF8E5M2) codes[11 * 45 + 0] = 0x7c;  // +inf
      for (int64_t M : {1, 3, 40}) {
        SCOPED_TRACE(name(t, isa) + " M=" + std::to_string(M));
        const int64_t ldx = 45;
        std::vector<float> x = randn(size_t(M * ldx), rng), y(size_t(M * 20));
        matmul_xwt(x.data(), M, ldx, tw.view, y.data(), 20);
        for (int64_t m = 0; m < M; ++m) {
          EXPECT_TRUE(std::isnan(y[m * 20 + 3]));
          EXPECT_TRUE(std::isnan(y[m * 20 + 7]));
          EXPECT_FALSE(std::isnan(y[m * 20 + 4]));
          if (t == DType::kF8E5M2) {
            EXPECT_TRUE(std::isinf(y[m * 20 + 11]));
          }
        }
      }
      // Rows of 200 codes: NaN codes inside full 32/64-code steps and in the tail, next to x = 0.
      TestWeight tl = make_weight(t, 6, 200, rng, 128, 128);
      auto* lc = const_cast<uint8_t*>(static_cast<const uint8_t*>(tl.view.data));
      lc[0 * 200 + 10] = nan_code;
      lc[2 * 200 + 130] = uint8_t(nan_code | 0x80);
      lc[5 * 200 + 199] = nan_code;
      for (int64_t M : {1, 2, 6}) {
        SCOPED_TRACE(name(t, isa) + " K=200 M=" + std::to_string(M));
        std::vector<float> x = randn(size_t(M * 200), rng), y(size_t(M * 6));
        for (int64_t m = 0; m < M; ++m) x[m * 200 + 10] = 0.0f;
        matmul_xwt(x.data(), M, 200, tl.view, y.data(), 6);
        for (int64_t m = 0; m < M; ++m)
          for (int64_t n = 0; n < 6; ++n)
            EXPECT_EQ(std::isnan(y[m * 6 + n]), n == 0 || n == 2 || n == 5) << "m=" << m << " n=" << n;
      }
    }
  }
}

TEST(Linear, XwtDegenerate) {
  Rng rng(7);
  TestWeight tw = make_weight(DType::kBF16, 5, 9, rng);
  std::vector<float> x(20, 1.0f), y(20, kCanary);
  matmul_xwt(x.data(), 0, 9, tw.view, y.data(), 5);  // M = 0: nothing written
  EXPECT_EQ(y[0], kCanary);
  WeightView k0 = tw.view.col_slice(0, 0);  // K = 0: y = 0
  matmul_xwt(x.data(), 3, 1, k0, y.data(), 5);
  for (int i = 0; i < 15; ++i) EXPECT_EQ(y[i], 0.0f);
  WeightView bad = tw.view;
  bad.dtype = DType::kI32;
  EXPECT_THROW(matmul_xwt(x.data(), 1, 9, bad, y.data(), 5), Error);
}

// Absorbed MLA: q_nope [heads, 128-ish] · a [K, N] row slice of kv_b_proj starting mid-block.
TEST(Linear, XwAllDtypesAndViews) {
  Rng rng(8);
  Arena arena;
  for (KernelIsa isa : kIsas) {
    if (!isa_available(isa)) continue;
    IsaGuard guard(isa);
    for (DType t : kAllDtypes) {
      const bool fp8 = t == DType::kF8E4M3 || t == DType::kF8E5M2;
      TestWeight tw = make_weight(t, 150, 170, rng, fp8 ? 32 : 0, fp8 ? 32 : 0);
      const WeightView& w = tw.view;
      for (const WeightView& v : {w, w.row_slice(40, 33), w.row_slice(17, 1).col_slice(3, 100), w.col_slice(50, 7)})
        for (int64_t M : {1, 5, 40}) {
          SCOPED_TRACE(name(t, isa) + " K=" + std::to_string(v.rows) + " N=" + std::to_string(v.cols) +
                       " M=" + std::to_string(M));
          check_xw(v, M, rng, M == 5 ? &arena : nullptr);
        }
    }
  }
}

// sgemm vs sgemm_ref: all transposes, strides wider than the rows, alpha/beta, beta = 0 ignoring
// NaN in C. Bound as above, γ_K plus one rounding each for α·, β·c and the add, and the reference's
// final rounding: (K + 4) u (|α| Σ|ab| + |β c|).
TEST(Linear, SgemmMatchesRef) {
  Rng rng(9);
  struct Shape { int64_t M, N, K; };
  for (Shape s : {Shape{1, 1, 1}, Shape{3, 5, 7}, Shape{17, 1, 33}, Shape{64, 70, 300}, Shape{1, 200, 129}})
    for (int ta = 0; ta < 2; ++ta)
      for (int tb = 0; tb < 2; ++tb)
        for (float beta : {0.0f, 1.0f, -0.5f}) {
          const float alpha = beta == 1.0f ? 1.0f : 0.75f;
          SCOPED_TRACE("M=" + std::to_string(s.M) + " N=" + std::to_string(s.N) + " K=" + std::to_string(s.K) +
                       " ta=" + std::to_string(ta) + " tb=" + std::to_string(tb) + " beta=" + std::to_string(beta));
          const int64_t lda = (ta ? s.M : s.K) + 3, ldb = (tb ? s.K : s.N) + 1, ldc = s.N + 2;
          const std::vector<float> A = randn(size_t((ta ? s.K : s.M) * lda), rng);
          const std::vector<float> B = randn(size_t((tb ? s.N : s.K) * ldb), rng);
          std::vector<float> C0 = randn(size_t(s.M * ldc), rng);
          if (beta == 0.0f) C0.assign(C0.size(), std::numeric_limits<float>::quiet_NaN());
          std::vector<float> C = C0, Cref = C0;
          sgemm(ta, tb, s.M, s.N, s.K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
          sgemm_ref(ta, tb, s.M, s.N, s.K, alpha, A.data(), lda, B.data(), ldb, beta, Cref.data(), ldc);
          int failures = 0;
          for (int64_t i = 0; i < s.M; ++i)
            for (int64_t j = 0; j < s.N; ++j) {
              double abs = 0;
              for (int64_t k = 0; k < s.K; ++k)
                abs += std::fabs(double(ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]));
              const double bc = beta == 0.0f ? 0.0 : std::fabs(double(beta) * C0[i * ldc + j]);
              const double tol = double(s.K + 4) * kU * (std::fabs(alpha) * abs + bc);
              const double err = std::fabs(double(C[i * ldc + j]) - Cref[i * ldc + j]);
              if (!(err <= tol) && failures++ < 5)
                ADD_FAILURE() << i << "," << j << " got " << C[i * ldc + j] << " want " << Cref[i * ldc + j];
            }
          EXPECT_EQ(failures, 0);
        }
}

// K = 0: C = beta * C (with beta = 0 overwriting whatever was there), as BLAS defines it.
TEST(Linear, SgemmEmptyK) {
  std::vector<float> C(6, std::numeric_limits<float>::quiet_NaN()), A(1), B(1);
  sgemm(false, false, 2, 3, 0, 1.0f, A.data(), 1, B.data(), 3, 0.0f, C.data(), 3);
  for (float c : C) EXPECT_EQ(c, 0.0f);
  C.assign(6, 2.0f);
  sgemm(false, true, 2, 3, 0, 1.0f, A.data(), 1, B.data(), 1, 0.5f, C.data(), 3);
  for (float c : C) EXPECT_EQ(c, 1.0f);
}

// The model runs heads and experts in parallel and calls the matmuls from inside the region (no
// arena: it is not thread-safe). Nested regions then run on one thread, OpenBLAS single-threaded,
// and the per-thread scratch keeps the threads apart.
TEST(Linear, CallableFromParallelRegion) {
  Rng rng(10);
  TestWeight tw = make_weight(DType::kF8E4M3, 96, 200, rng, 32, 32);
  const int64_t K = 200, N = 96;
  constexpr int kJobs = 8;
  std::vector<std::vector<float>> xs, ys(kJobs), yrefs(kJobs);
  const int64_t Ms[kJobs] = {1, 2, 5, 40, 1, 33, 64, 3};
  for (int j = 0; j < kJobs; ++j) {
    xs.push_back(randn(size_t(Ms[j] * K), rng));
    ys[j].assign(size_t(Ms[j] * N), 0.0f);
    yrefs[j].assign(size_t(Ms[j] * N), 0.0f);
    matmul_xwt_ref(xs[j].data(), Ms[j], K, tw.view, yrefs[j].data(), N);
  }
#pragma omp parallel for schedule(dynamic, 1) num_threads(2)
  for (int j = 0; j < kJobs; ++j) matmul_xwt(xs[j].data(), Ms[j], K, tw.view, ys[j].data(), N);
  for (int j = 0; j < kJobs; ++j)
    for (int64_t i = 0; i < Ms[j] * N; ++i) {
      double abs = 0;
      for (int64_t k = 0; k < K; ++k) abs += std::fabs(double(xs[j][(i / N) * K + k]) * tw.view.at(i % N, k));
      ASSERT_LE(std::fabs(ys[j][i] - yrefs[j][i]), double(K + 4) * kU * abs) << "job " << j << " i " << i;
    }
}
