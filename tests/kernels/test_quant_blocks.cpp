// GGUF q8_0 / q4_0 blocks: hand-worked blocks (the rounding rules of ggml's reference quantizers,
// ties and clipping included), the per-block error bound, idempotent round trips (a dequantised
// block quantizes back to the same bytes: what lossless GGUF conversion relies on), the activation
// quantizer's bound, and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/rng.h"
#include "kernels/quant_blocks.h"
#include "reference.h"
#include "test_util.h"

using namespace frugal;

namespace {

constexpr double kUq = 1.0 / (1 << 24);  // f32 unit roundoff

std::vector<float> block_of(std::initializer_list<float> head) {
  std::vector<float> x(32, 0.0f);
  std::copy(head.begin(), head.end(), x.begin());
  return x;
}

}  // namespace

// amax 127 gives d = 1 and id = 1 exactly, so q = roundf(x): ties go away from zero (2.5 -> 3,
// where nearest-even would give 2), which is what ggml's roundf does.
TEST(QuantBlocks, Q8_0HandWorkedBlock) {
  const std::vector<float> x = block_of({127.0f, 2.5f, -2.5f, 0.5f, -0.5f, 1.5f, 3.49f, -126.51f, -127.0f});
  BlockQ8_0 b;
  quantize_row_q8_0(x.data(), &b, 32);
  EXPECT_EQ(b.d, 0x3C00u);  // fp16 1.0
  const int8_t want[9] = {127, 3, -3, 1, -1, 2, 3, -127, -127};
  for (int j = 0; j < 9; ++j) EXPECT_EQ(b.qs[j], want[j]) << j;
  for (int j = 9; j < 32; ++j) EXPECT_EQ(b.qs[j], 0) << j;
  EXPECT_EQ(q_row_value(DType::kQ8_0, &b, 1), 3.0f);
}

// The first value of largest magnitude sets d = max / -8: max = -8 gives d = 1, and
// q = min(15, trunc(x + 8.5)). 8 (same magnitude, later) clips to 15, i.e. value 7.
TEST(QuantBlocks, Q4_0HandWorkedBlock) {
  std::vector<float> x = block_of({-8.0f, 7.0f, 8.0f, 0.5f, -0.5f, -0.51f, 2.49f});
  x[16] = 3.0f;   // shares byte 0 with element 0 (high nibble)
  x[17] = -7.6f;  // -7.6 + 8.5 = 0.9 -> 0
  BlockQ4_0 b;
  quantize_row_q4_0(x.data(), &b, 32);
  EXPECT_EQ(b.d, 0x3C00u);
  const int want_lo[7] = {0, 15, 15, 9, 8, 7, 10};
  const int want_hi[2] = {11, 0};
  for (int j = 0; j < 7; ++j) EXPECT_EQ(b.qs[j] & 15, want_lo[j]) << j;
  for (int j = 0; j < 2; ++j) EXPECT_EQ(b.qs[j] >> 4, want_hi[j]) << j;
  for (int j = 7; j < 16; ++j) EXPECT_EQ(b.qs[j] & 15, 8) << j;  // zeros are q = 8
  EXPECT_EQ(q_row_value(DType::kQ4_0, &b, 16), 3.0f);
  EXPECT_EQ(q_row_value(DType::kQ4_0, &b, 2), 7.0f);

  // A positive extreme: d = 8 / -8 = -1 (sign bit set), and 8 -> q 0 -> (0 - 8) * -1 = 8.
  std::vector<float> y = block_of({8.0f, -8.0f, 1.0f});
  quantize_row_q4_0(y.data(), &b, 32);
  EXPECT_EQ(b.d, 0xBC00u);
  EXPECT_EQ(b.qs[0] & 15, 0);
  EXPECT_EQ(b.qs[1] & 15, 15);  // -8 -> 16.5 -> clipped: value -7
  EXPECT_EQ(b.qs[2] & 15, 7);
  EXPECT_EQ(q_row_value(DType::kQ4_0, &b, 0), 8.0f);
  EXPECT_EQ(q_row_value(DType::kQ4_0, &b, 1), -7.0f);
}

TEST(QuantBlocks, AllZeroBlockHasZeroScale) {
  const std::vector<float> x(64, 0.0f);
  for (DType t : {DType::kQ8_0, DType::kQ4_0}) {
    std::vector<uint8_t> q(static_cast<size_t>(dtype_row_bytes(t, 64)));
    quantize_row_q(t, x.data(), q.data(), 64);
    std::vector<float> y(64, 1.0f);
    dequantize_row_q(t, q.data(), y.data(), 64);
    for (float v : y) EXPECT_EQ(v, 0.0f);
    EXPECT_EQ(q_block_scale_bits(t, q.data(), 1) & 0x7fff, 0);
  }
}

// Random rows over many magnitudes (including fp16-subnormal scales): each value is within the
// bound of quant_blocks.h, with d the f32 scale (recomputed here) and d16 the stored one, plus
// 4u·amax for the f32 roundings of amax / 127, 1/d and x · id.
TEST(QuantBlocks, ErrorBoundPerBlockAndIdempotentRoundTrip) {
  Rng rng(7);
  const int64_t K = 32 * 24;
  for (DType t : {DType::kQ8_0, DType::kQ4_0}) {
    for (float scale : {1e-4f, 1e-3f, 0.02f, 1.0f, 300.0f}) {
      std::vector<float> x = test::randn(size_t(K), rng, scale);
      x[5] = 0.0f;
      std::vector<uint8_t> q(static_cast<size_t>(dtype_row_bytes(t, K)));
      quantize_row_q(t, x.data(), q.data(), K);
      std::vector<float> y(static_cast<size_t>(K));
      dequantize_row_q(t, q.data(), y.data(), K);
      for (int64_t b = 0; b < K / 32; ++b) {
        double amax = 0, m = 0;
        for (int j = 0; j < 32; ++j)
          if (std::fabs(x[b * 32 + j]) > amax) amax = std::fabs(x[b * 32 + j]), m = x[b * 32 + j];
        const double d = t == DType::kQ8_0 ? amax / 127 : m / -8;
        const double d16 = f16_to_f32(q_block_scale_bits(t, q.data(), b));
        const double bound = t == DType::kQ8_0 ? std::fabs(d) / 2 + 127 * std::fabs(d - d16)
                                               : std::fabs(d) + 8 * std::fabs(d - d16);
        for (int j = 0; j < 32; ++j) {
          const int64_t k = b * 32 + j;
          EXPECT_LE(std::fabs(double(x[k]) - y[k]), bound + 4 * kUq * amax)
              << dtype_name(t) << " scale " << scale << " k " << k;
          EXPECT_EQ(y[k], q_row_value(t, q.data(), k));
        }
      }
      // Dequantised values quantize back to the same bytes (the largest magnitude maps to
      // ±127 · d16 or -8 · d16 exactly, so d comes back as d16).
      std::vector<uint8_t> q2(q.size());
      quantize_row_q(t, y.data(), q2.data(), K);
      EXPECT_EQ(std::memcmp(q.data(), q2.data(), q.size()), 0) << dtype_name(t) << " scale " << scale;
    }
  }
}

// |x - qs · d| <= d/2 + 2u|x| (+ second order: 3u here) per value, and sum is the block's sum of quants.
TEST(QuantBlocks, ActivationQuantizerBoundAndSums) {
  Rng rng(3);
  const int64_t K = 32 * 8;
  std::vector<float> x = test::randn(size_t(K), rng, 2.0f);
  x[40] = 1e-30f;  // a tiny value in an otherwise normal block
  for (int j = 64; j < 96; ++j) x[size_t(j)] = 0.0f;
  std::vector<int8_t> qs(static_cast<size_t>(K));
  std::vector<float> d(static_cast<size_t>(K / 32));
  std::vector<int32_t> sum(static_cast<size_t>(K / 32));
  quantize_act_q8(x.data(), K, qs.data(), d.data(), sum.data());
  for (int64_t b = 0; b < K / 32; ++b) {
    int32_t s = 0;
    for (int j = 0; j < 32; ++j) {
      const int64_t k = b * 32 + j;
      s += qs[size_t(k)];
      EXPECT_LE(std::fabs(double(x[k]) - double(qs[k]) * d[b]), d[b] / 2 + 3 * kUq * std::fabs(x[k]) + 1e-45) << k;
    }
    EXPECT_EQ(s, sum[b]);
  }
  EXPECT_EQ(d[2], 0.0f);
  x[100] = std::numeric_limits<float>::infinity();
  quantize_act_q8(x.data(), K, qs.data(), d.data(), sum.data());
  EXPECT_TRUE(std::isnan(d[3]));
  EXPECT_FALSE(std::isnan(d[2]));
}

TEST(QuantBlocks, BadInputIsAnError) {
  std::vector<float> x(64, 1.0f);
  std::vector<uint8_t> q(100);
  test::expect_error([&] { quantize_row_q8_0(x.data(), q.data(), 48); }, ErrorKind::kInvalidArgument,
                     {"48", "multiple of the 32"});
  x[37] = std::numeric_limits<float>::quiet_NaN();
  test::expect_error([&] { quantize_row_q4_0(x.data(), q.data(), 64); }, ErrorKind::kInvalidArgument,
                     {"column 37", "not finite"});
  x[37] = 1e7f;  // d = 1e7 / 127 > 65504
  test::expect_error([&] { quantize_row_q8_0(x.data(), q.data(), 64); }, ErrorKind::kInvalidArgument,
                     {"block 1", "fp16"});
  EXPECT_EQ(dtype_row_bytes(DType::kQ8_0, 64), 68);
  EXPECT_EQ(dtype_row_bytes(DType::kQ4_0, 64), 36);
  test::expect_error([&] { (void)dtype_size(DType::kQ4_0); }, ErrorKind::kInternal, {"Q4_0"});
}
