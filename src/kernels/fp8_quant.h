// FP8 E4M3 quantization with online max-abs scales, the V3 recipe's fine-grained scaling (V3
// report §3.3.2): activations and gradients per 1x128 tile along the GEMM's inner dimension K,
// weights per 128x128 block, each scale = amax / 448 computed from the tensor being quantized
// (no delayed scaling). Per-tensor scaling (one scale for the whole operand) is the baseline of
// `--precision fp8-tensor`. Used by gemm_fp8 (gemm_fp8.h).
//
// E4M3 here is the OCP "fn" format of core/dtype.h: max finite 448, subnormal step 2^-9, no
// infinity. Rounding is to nearest, ties to even, saturating at ±448; NaN stays NaN.
//
// Non-finite input: a NaN or ±inf anywhere in a scale group makes that group's scale NaN or inf,
// and its values NaN (v / inf and inf / inf), so the GEMM's outputs that read them are non-finite;
// the trainer's AdamW then skips the step (its gradient norm is not finite) and logs it. Nothing
// here throws (the kernels run inside parallel regions).
//
// Dims legend: an operand is R rows x K columns, K the GEMM's inner dimension; Kp = K rounded up
// to 128 (the last tile zero-padded), Kc = Kp / 128 chunks.
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

namespace frugal {

constexpr int64_t kFp8Tile = 128;  // the tile along K, the weight block's side, the promotion interval
constexpr float kFp8Max = 448.0f;  // largest finite E4M3

// How an operand's scales are grouped.
//  kTile:   one scale per row per 128 K (activations, gradients: V3's 1x128 tiles).
//  kBlock:  one scale per 128 rows x 128 K (weights: V3's 128x128 blocks).
//  kTensor: one scale for the whole operand (fp8-tensor).
enum class Fp8Scaling : uint8_t { kTile, kBlock, kTensor };
const char* fp8_scaling_name(Fp8Scaling s);

// |x| rounded to the nearest E4M3 value (ties to even), saturating at ±448; NaN stays NaN; the
// result is an f32 (every E4M3 value is exact in f32). The same value as
// e4m3_to_f32(f32_to_e4m3(x)) (core/dtype.h, the reference), computed with two bit tricks:
//  normal range |x| >= 2^-6: round the f32 mantissa to 3 bits (add half an ulp minus one plus the
//    kept lsb, then clear the 20 dropped bits);
//  subnormal range |x| < 2^-6: E4M3's step there is 2^-9, the f32 ulp of 2^14, so (|x| + 2^14) - 2^14
//    rounds to it (one rounding, to nearest even; the subtraction is exact).
inline float e4m3_round(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  const uint32_t sign = u & 0x80000000u, a = u & 0x7fffffffu;
  uint32_t r;
  if (a >= 0x3c800000u) {  // 2^-6; NaN and inf land here too
    if (a > 0x7f800000u) return x;  // NaN
    r = (a + 0x7ffffu + ((a >> 20) & 1u)) & ~0xfffffu;
    if (r > 0x43e00000u) r = 0x43e00000u;  // 448 (inf and everything rounding above it)
  } else {
    float f;
    std::memcpy(&f, &a, 4);
    f = (f + 16384.0f) - 16384.0f;
    std::memcpy(&r, &f, 4);
  }
  r |= sign;
  float out;
  std::memcpy(&out, &r, 4);
  return out;
}

// The scale of a group whose largest |value| is amax: amax / 448, at least FLT_MIN (so an all-zero
// group, or one so small that amax / 448 underflows, divides by a positive normal number and
// quantizes to zeros or in-range values). NaN and inf pass through.
inline float fp8_scale(float amax) {
  const float s = amax / kFp8Max;
  return s < 1.17549435e-38f ? 1.17549435e-38f : s;  // NaN < x is false: NaN stays NaN
}

// An operand quantized for gemm_fp8: q [R, Kp] row-major, E4M3 values held as f32 (exact), zero
// past K; s [R, Kc]: element (r, k) stands for q[r·Kp + k] · s[r·Kc + k / 128] (block and tensor
// scales repeated over the rows and chunks they cover, so the GEMM reads one layout).
struct Fp8Operand {
  int64_t R = 0, K = 0, Kp = 0, Kc = 0;
  std::vector<float> q, s;
};

// Quantizes X (R x K, element (r, k) at src[r·rs + k·ks]: any strides, so op(A) and op(B) of a
// GEMM are read in place) with the given scaling into `out` (reused; grows to the largest seen).
// Parallel over rows (serial inside a parallel region); every bit independent of the thread count.
void fp8_quantize(const float* src, int64_t rs, int64_t ks, int64_t R, int64_t K, Fp8Scaling scaling,
                  Fp8Operand& out);

// Scalar reference of the same: amax with fabs, the rounding through core/dtype.h's
// f32_to_e4m3 / e4m3_to_f32. fp8_quantize must equal it bit for bit.
void fp8_quantize_ref(const float* src, int64_t rs, int64_t ks, int64_t R, int64_t K, Fp8Scaling scaling,
                      Fp8Operand& out);

// FP8 storage of activations kept for the backward (V3 caches the inputs of the MoE's SwiGLU in FP8,
// §3.3.3): x [R, C] row-major -> q [R, C] E4M3 bytes and s [R, ceil(C / 128)] scales, one per row per
// 128 columns (1x128 tiles, as the GEMMs quantize activations), 1 + 4/128 bytes per value instead
// of 4. fp8_load_rows gives back q · s. Non-finite values follow the GEMM's rule (a NaN or inf
// poisons its tile). Parallel over rows (serial inside a parallel region).
int64_t fp8_row_scales(int64_t C);  // scales per row: ceil(C / 128)
void fp8_store_rows(const float* x, int64_t R, int64_t C, uint8_t* q, float* s);
void fp8_load_rows(const uint8_t* q, const float* s, int64_t R, int64_t C, float* x);

namespace fp8_detail {
// The per-ISA pieces fp8_quantize dispatches on (kernels/linear.h's KernelIsa: portable, AVX2;
// the AVX-512 ISAs use the AVX2 code, as the other non-GEMV kernels do).
// Largest |x[i]| of n values as f32 bits with the sign cleared: for non-negative floats the
// integer order is the float order, and NaN (> 0x7f800000) beats inf beats every finite value,
// so a NaN anywhere gives a NaN amax (max_ps would drop it).
uint32_t amax_bits_portable(const float* x, int64_t n);
uint32_t amax_bits_avx2(const float* x, int64_t n);
// x[i] = e4m3_round(x[i] / s) for n values, in place.
void quantize_tile_portable(float* x, int64_t n, float s);
void quantize_tile_avx2(float* x, int64_t n, float s);
}  // namespace fp8_detail

}  // namespace frugal
