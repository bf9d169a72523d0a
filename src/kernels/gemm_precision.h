// The precision policy of the trainable linear layers: how the three GEMMs of every linear layer
// (forward y = x·Wᵀ, input gradient dx = dy·W, weight gradient dW += dyᵀ·x) round their inputs.
// Master weights, gradients and every accumulation stay f32 whatever the policy (docs/precision.md).
// The training code calls linear_gemm() at exactly those GEMMs; the embedding, the output heads,
// the MoE gate, the norms and the attention core (scores, softmax, P·V) stay f32 (as V3 keeps
// them in higher precision), so they call sgemm directly.
//
// Dims legend: C [M, N] = op(A) [M, K] · op(B) [K, N].
#pragma once
#include <cstdint>
#include <string_view>

namespace frugal {

//  kF32:  f32 inputs, f32 accumulation: exactly the f32 GEMM the call site names.
//  kBf16: inputs rounded to bf16 (round to nearest, ties to even), products exact, f32
//         accumulation, f32 output; thread-count independent (fixed tiles).
//  kFp8:  E4M3 inputs with online max-abs scales, promotion to f32 every 128 K (gemm_fp8.h): the
//         activation or gradient operand in 1x128 tiles along K, the weight in 128x128 blocks;
//         in the weight gradient (trans_a, see linear_gemm) both operands in 1x128 tiles along
//         the token dimension, its K.
//  kFp8Tensor: the same with one scale per operand (the baseline fine-grained scaling improves on).
enum class Precision : uint8_t { kF32, kBf16, kFp8, kFp8Tensor };
// "f32" | "bf16" | "fp8" | "fp8-tensor"; throws kInvalidArgument naming it
Precision parse_precision(std::string_view s);
const char* precision_name(Precision p);

// The f32 GEMM a call site uses in f32 (sgemm or sgemm_fixed_tiles, same signature).
using F32Gemm = void (*)(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                         int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// C = alpha · op(A) · op(B) + beta · C at precision `p` (kF32: f32_gemm, numbers unchanged).
// The training code calls it in three forms, which is how the FP8 policies tell the weight from
// the activations: forward y = x·Wᵀ (A = x, B = W, trans_b), input gradient dx = dy·W (A = dy,
// B = W, no transposes) — B is the weight, in 128x128 blocks, A in 1x128 tiles — and weight
// gradient dW = dyᵀ·x (trans_a): both operands are activations or gradients, in 1x128 tiles along
// K, which is the token dimension there (V3's transposed scaling for the wgrad GEMM).
void linear_gemm(Precision p, F32Gemm f32_gemm, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K,
                 float alpha, const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                 int64_t ldc);

// ---- bf16 GEMM (bf16 inputs, f32 accumulation) ----

// How gemm_bf16 computes. Every path gives the reference's value up to f32 summation order.
//  kEmulated: inputs rounded to bf16 and widened back, then f32 FMAs (OpenBLAS, fixed tiles).
//             Exact emulation on any CPU (AVX2 or not): a product of two bf16 is exact in f32.
//  kOnednn:   oneDNN's bf16 matmul (vdpbf16ps on AVX512-BF16, AMX tiles on AMX CPUs) per fixed
//             tile; needs AVX512-BF16 or AMX.
enum class Bf16GemmPath : uint8_t { kEmulated, kOnednn };
Bf16GemmPath best_bf16_gemm_path();  // the fastest this CPU runs
Bf16GemmPath bf16_gemm_path();       // the one in use
// Force a path (tests and benchmarks); throws kUnsupported if the CPU lacks it.
void set_bf16_gemm_path(Bf16GemmPath path);
const char* bf16_gemm_path_name(Bf16GemmPath path);

// C = alpha · op(A)_bf16 · op(B)_bf16 + beta · C with f32 accumulation, on the current path.
// Bit-identical for every thread count (C is cut into fixed tiles, each computed by one thread
// over the whole K: kBf16Tile* on the oneDNN path, sgemm_fixed_tiles' on the emulated one). Safe inside a parallel region (runs on the caller).
// Keeps bf16 copies of op(A) and op(B) in per-thread scratch that grows to the largest seen.
void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
               int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
// The oneDNN path's tiles: larger than sgemm_fixed_tiles' because each oneDNN call repacks its B
// panel into bf16 pairs and looks up its primitive; at [1024 x 1536 x 512] on 2 Zen 5 threads,
// 128 x 256 tiles reached about 175 GFLOP/s and 256 x 512 about 340 (bench_train --peaks, a
// loaded machine; docs/precision.md).
constexpr int64_t kBf16TileRows = 256, kBf16TileCols = 512;
// Scalar reference: inputs rounded to bf16, products and sum in double, one rounding to f32.
void gemm_bf16_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                   int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// f32 -> bf16 round to nearest, ties to even (NaN stays a quiet NaN): the same as f32_to_bf16
// (core/dtype.h), inline so the packing loops vectorise.
inline uint16_t bf16_round_bits(float f) {
  uint32_t u;
  __builtin_memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}
inline float bf16_round(float f) {
  const uint32_t u = uint32_t(bf16_round_bits(f)) << 16;
  float r;
  __builtin_memcpy(&r, &u, 4);
  return r;
}

// The whole-matrix oneDNN bf16 matmul, all threads, for the benchmarks' BF16 peak:
// C [M, N] = A [M, K] · B [K, N], A and B bf16 bits row-major, C f32. Throws kUnsupported when
// oneDNN has no bf16 matmul for this CPU. Returns oneDNN's implementation name (e.g.
// "brg:avx512_core_bf16") so the bench can print what ran.
const char* onednn_matmul_bf16(int64_t M, int64_t N, int64_t K, const uint16_t* A, const uint16_t* B, float* C);

}  // namespace frugal
