// GGUF block quantizers and dequantisers (scalar; the reference every other path is checked
// against). Compiled with -ffp-contract=off (src/kernels/CMakeLists.txt): x * id + 8.5f must round
// twice, as in ggml's reference, or a fused multiply-add would move ties and break bit-identity.
#include "kernels/quant_blocks.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"

namespace frugal {

namespace {

void check_row(const float* x, int64_t K, const char* fn) {
  if (K % kQBlock != 0)
    fail(ErrorKind::kInvalidArgument, "{}: row length {} is not a multiple of the {}-value block", fn, K, kQBlock);
  for (int64_t k = 0; k < K; ++k)
    if (!std::isfinite(x[k]))
      fail(ErrorKind::kInvalidArgument, "{}: value {} at column {} is not finite", fn, x[k], k);
}

uint16_t scale_to_f16(float d, int64_t block, const char* fn) {
  const uint16_t h = f32_to_f16(d);
  if ((h & 0x7c00u) == 0x7c00u)
    fail(ErrorKind::kInvalidArgument, "{}: block {} needs scale {} beyond fp16's range (max 65504)", fn, block, d);
  return h;
}

int q4_nibble(const uint8_t* qs, int64_t j) { return j < 16 ? qs[j] & 15 : qs[j - 16] >> 4; }

}  // namespace

void quantize_row_q8_0(const float* x, void* out, int64_t K) {
  check_row(x, K, "quantize_row_q8_0");
  auto* y = static_cast<uint8_t*>(out);
  for (int64_t b = 0; b < K / kQBlock; ++b, y += sizeof(BlockQ8_0)) {
    const float* xb = x + b * kQBlock;
    float amax = 0.0f;
    for (int j = 0; j < kQBlock; ++j) amax = std::max(amax, std::fabs(xb[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ8_0 blk;
    blk.d = scale_to_f16(d, b, "quantize_row_q8_0");
    for (int j = 0; j < kQBlock; ++j) blk.qs[j] = int8_t(std::round(xb[j] * id));
    std::memcpy(y, &blk, sizeof blk);
  }
}

void quantize_row_q4_0(const float* x, void* out, int64_t K) {
  check_row(x, K, "quantize_row_q4_0");
  auto* y = static_cast<uint8_t*>(out);
  for (int64_t b = 0; b < K / kQBlock; ++b, y += sizeof(BlockQ4_0)) {
    const float* xb = x + b * kQBlock;
    float amax = 0.0f, max = 0.0f;  // the signed value of largest magnitude, first one on ties
    for (int j = 0; j < kQBlock; ++j)
      if (amax < std::fabs(xb[j])) {
        amax = std::fabs(xb[j]);
        max = xb[j];
      }
    const float d = max / -8.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    BlockQ4_0 blk;
    blk.d = scale_to_f16(d, b, "quantize_row_q4_0");
    for (int j = 0; j < 16; ++j) {
      // x * id is in [-8, 8] (up to rounding), so + 8.5 is positive and the cast truncates = floors.
      const float x0 = xb[j] * id, x1 = xb[j + 16] * id;
      const int q0 = std::min(15, int(int8_t(x0 + 8.5f))), q1 = std::min(15, int(int8_t(x1 + 8.5f)));
      blk.qs[j] = uint8_t(q0 | (q1 << 4));
    }
    std::memcpy(y, &blk, sizeof blk);
  }
}

void quantize_row_q(DType t, const float* x, void* out, int64_t K) {
  if (t == DType::kQ8_0) return quantize_row_q8_0(x, out, K);
  if (t == DType::kQ4_0) return quantize_row_q4_0(x, out, K);
  fail(ErrorKind::kInternal, "quantize_row_q: {} is not a block type", dtype_name(t));
}

uint16_t q_block_scale_bits(DType t, const void* row, int64_t b) {
  uint16_t h;
  std::memcpy(&h, static_cast<const uint8_t*>(row) + b * int64_t(dtype_block_bytes(t)), 2);
  return h;
}

int q_row_quant(DType t, const void* row, int64_t c) {
  const auto* blk = static_cast<const uint8_t*>(row) + (c / kQBlock) * int64_t(dtype_block_bytes(t));
  if (t == DType::kQ8_0) return int8_t(blk[2 + c % kQBlock]);
  FRUGAL_ASSERT(t == DType::kQ4_0, "q_row_quant: {} is not a block type", dtype_name(t));
  return q4_nibble(blk + 2, c % kQBlock) - 8;
}

float q_row_value(DType t, const void* row, int64_t c) {
  const auto* blk = static_cast<const uint8_t*>(row) + (c / kQBlock) * int64_t(dtype_block_bytes(t));
  uint16_t h;
  std::memcpy(&h, blk, 2);
  const float d = f16_to_f32(h);
  const int64_t j = c % kQBlock;
  if (t == DType::kQ8_0) return float(int8_t(blk[2 + j])) * d;
  FRUGAL_ASSERT(t == DType::kQ4_0, "q_row_value: {} is not a block type", dtype_name(t));
  return float(q4_nibble(blk + 2, j) - 8) * d;
}

void dequantize_row_q(DType t, const void* blocks, float* y, int64_t K) {
  FRUGAL_ASSERT(dtype_is_block(t) && K % kQBlock == 0, "dequantize_row_q: {} K {}", dtype_name(t), K);
  const auto* p = static_cast<const uint8_t*>(blocks);
  const int64_t bb = int64_t(dtype_block_bytes(t));
  for (int64_t b = 0; b < K / kQBlock; ++b, p += bb) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    const float d = f16_to_f32(h);
    float* yb = y + b * kQBlock;
    if (t == DType::kQ8_0) {
      for (int j = 0; j < kQBlock; ++j) yb[j] = float(int8_t(p[2 + j])) * d;
    } else {
      for (int j = 0; j < kQBlock; ++j) yb[j] = float(q4_nibble(p + 2, j) - 8) * d;
    }
  }
}

void quantize_act_q8(const float* x, int64_t K, int8_t* qs, float* d, int32_t* sum) {
  FRUGAL_ASSERT(K % kQBlock == 0, "quantize_act_q8: K {} not a multiple of {}", K, kQBlock);
  for (int64_t b = 0; b < K / kQBlock; ++b) {
    const float* xb = x + b * kQBlock;
    int8_t* qb = qs + b * kQBlock;
    float amax = 0.0f;
    bool finite = true;
    for (int j = 0; j < kQBlock; ++j) {
      finite &= std::isfinite(xb[j]);
      amax = std::max(amax, std::fabs(xb[j]));
    }
    if (!finite) {
      d[b] = std::numeric_limits<float>::quiet_NaN();
      std::memset(qb, 0, kQBlock);
      sum[b] = 0;
      continue;
    }
    d[b] = amax / 127.0f;
    const float id = d[b] != 0.0f ? 1.0f / d[b] : 0.0f;
    int32_t s = 0;
    // Nearest-even without a libm call (nearbyint is one on baseline x86-64, and this runs once per
    // matmul input): adding 1.5 · 2^23 leaves the rounded integer in the mantissa (|x · id| <= 127).
    constexpr float kRound = 12582912.0f;
    for (int j = 0; j < kQBlock; ++j) {
      const float q = std::min(127.0f, std::max(-127.0f, (xb[j] * id + kRound) - kRound));
      qb[j] = int8_t(q);
      s += qb[j];
    }
    sum[b] = s;
  }
}

}  // namespace frugal
