// GGUF's q8_0 and q4_0 weight blocks: layout, the reference quantizers (bit-identical to ggml's
// quantize_row_q8_0_ref / quantize_row_q4_0_ref, so files convert to and from GGUF losslessly),
// dequantisation, and the q8 quantisation of activation rows the integer kernels use.
//
// Dims legend: K values in a row (a multiple of kQBlock), nb = K / kQBlock blocks.
//
// A block covers 32 consecutive values of a row (along the input dimension K of a [N, K] weight):
//   q8_0: fp16 d, int8 q[32];  value j = q[j] * d                            (34 bytes)
//   q4_0: fp16 d, u8 qs[16];   q_j = j < 16 ? qs[j] & 15 : qs[j - 16] >> 4;  value = (q_j - 8) * d  (18 bytes)
// Rounding, as ggml's reference quantizers do it (all in f32):
//   q8_0: amax = max |x|, d = amax / 127, id = d ? 1/d : 0, q = roundf(x * id) (ties away from 0)
//   q4_0: m = the x of largest |x| (first one on ties), d = m / -8, id = d ? 1/d : 0,
//         q = min(15, trunc(x * id + 8.5)) — so m itself maps to 0, i.e. -8 * d = m exactly
// and d is stored as fp16 rounded to nearest even. The quants are computed with the f32 d, not
// the rounded fp16 one (ggml does the same), so with d16 the stored scale a value is within
//   q8_0: |x - q d16| <= |d|/2 + 127 |d - d16|
//   q4_0: |x - (q - 8) d16| <= |d| + 8 |d - d16|   (|d|, not |d|/2: the value -m, at +8 steps,
//         is clipped to +7)
// up to a few f32 roundings of amax; tests check this bound per block.
#pragma once
#include <cstdint>

#include "core/dtype.h"

namespace frugal {

constexpr int64_t kQBlock = 32;

struct BlockQ8_0 {
  uint16_t d;      // fp16 scale
  int8_t qs[32];   // quants
};
struct BlockQ4_0 {
  uint16_t d;      // fp16 scale
  uint8_t qs[16];  // nibbles: element j in the low half of qs[j], element j + 16 in the high half
};
static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18, "GGUF block sizes");

// x[K] -> nb blocks at `out` (unaligned is fine). K % 32 == 0 and finite x are the caller's
// contract (Error kInvalidArgument otherwise, naming the column); a block whose scale overflows
// fp16 (|x| > ~8.3e6 for q8_0) is an Error too, since GGUF could not represent it either.
void quantize_row_q8_0(const float* x, void* out, int64_t K);
void quantize_row_q4_0(const float* x, void* out, int64_t K);
// Either of the above by dtype (kQ8_0 or kQ4_0).
void quantize_row_q(DType t, const float* x, void* out, int64_t K);

// blocks -> y[K].
void dequantize_row_q(DType t, const void* blocks, float* y, int64_t K);
// Value c of a row of blocks (slow; WeightView::at and tests).
float q_row_value(DType t, const void* row, int64_t c);
// The centred quant of value c (q for q8_0, q - 8 for q4_0): value = quant * scale.
int q_row_quant(DType t, const void* row, int64_t c);
// The fp16 scale of block b of a row (raw bits), e.g. for validation.
uint16_t q_block_scale_bits(DType t, const void* row, int64_t b);

// Activations for the integer kernels: a row x[K] as q8 blocks with an f32 scale (not fp16: it
// never leaves memory, so nothing is gained by rounding it). Per block b:
//   d[b] = amax_b / 127, qs = nearest-even(x * (1 / d[b])) clamped to [-127, 127],
//   sum[b] = Σ qs over the block (the q4_0 kernels subtract 8 · sum once per block instead of
//   re-centring every nibble).
// The error per value is |x - qs · d| <= d/2 + 2u|x| (u = 2^-24: 1/d and x · (1/d) round once each).
// A block with a NaN or Inf gets d = NaN, so the outputs it touches are NaN, as in f32.
void quantize_act_q8(const float* x, int64_t K, int8_t* qs, float* d, int32_t* sum);

}  // namespace frugal
