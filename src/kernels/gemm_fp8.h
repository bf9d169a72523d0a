// FP8 GEMM with FP32 promotion, the V3 recipe (V3 report §3.3.2): both operands quantized to E4M3
// with online max-abs scales (fp8_quant.h), products of E4M3 values summed over each 128-element
// chunk of K, each chunk's partial sum multiplied by its two scales and added to an FP32
// accumulator ("promotion every N_C = 128").
//
// Dims legend: C [M, N] = op(A) [M, K] · op(B) [K, N]; Kc = ceil(K / 128) chunks.
#pragma once
#include <cstdint>

#include "kernels/fp8_quant.h"

namespace frugal {

// C = alpha · Σ_c sa[i, c] · sb[j, c] · P_c[i, j] + beta · C, where P_c[i, j] = Σ_{k in chunk c}
// qa[i, k] · qb[k, j] over the quantized operands: op(A) with scaling `sa_kind` (its rows, 1x128
// tiles or 128x128 blocks along K), op(B) with `sb_kind` (its columns likewise). K not a multiple of
// 128: the last chunk is shorter (as if zero-padded: the amax and the sum see only real values).
// Every product of two E4M3 values (4 significant bits each) is exact in f32, so the only rounding
// inside a chunk is the f32 sum; then two f32 multiplies and one f32 add per chunk.
// Exact emulation: each chunk's P_c comes from OpenBLAS sgemm over the quantized f32 copies (K =
// 128); C is cut into fixed tiles (sgemm_fixed_tiles' 128 x 256) each computed by one thread over
// all chunks in order, so every bit is the same for every thread count. Safe inside a parallel
// region (runs on the caller). Per-thread scratch grows to the largest operands seen.
void gemm_fp8(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
              int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc, Fp8Scaling sa_kind,
              Fp8Scaling sb_kind);

// The accumulator inside a chunk (the option that shows why promotion matters). V3 reports that
// the H800's FP8 Tensor Core accumulates with about 14 bits of mantissa; promotion to FP32 every
// 128 products bounds the error that accumulator adds, where one accumulation over the whole K
// lets it grow with K.
//  mantissa_bits = 0: exact (products and sums in double; the reference the fast path is tested
//                     against).
//  1..23:             the running sum is an f32 rounded (to nearest, ties to even) to that many
//                     explicit mantissa bits after every add (23: plain f32).
//  truncate:        round toward zero instead of to nearest (the H800 aligns the products to the
//                     largest exponent and truncates, so its error is biased, not random).
//  promote = true:    a fresh accumulator per 128-chunk, its sum times the two scales added to an
//                     f32 (double when exact) total.
//  promote = false:   one accumulator over the whole K; each product is multiplied by its two
//                     scales before it is added (with per-tensor scaling that is the scaled sum of
//                     the raw products, what an unpromoted FP8 GEMM computes).
struct Fp8Accumulator {
  int mantissa_bits = 0;
  bool promote = true;
  bool truncate = false;
};

// f32 rounded to `bits` explicit mantissa bits (to nearest, ties to even; or toward zero when
// `truncate`; 23 or more: unchanged).
float round_mantissa(float x, int bits, bool truncate = false);

// Scalar reference: quantization by fp8_quantize_ref, then the accumulation `acc` describes.
void gemm_fp8_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                  int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc, Fp8Scaling sa_kind,
                  Fp8Scaling sb_kind, Fp8Accumulator acc = {});

}  // namespace frugal
