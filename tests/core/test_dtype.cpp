#include <gtest/gtest.h>

#include <cmath>

#include "core/dtype.h"
#include "core/rng.h"

using namespace frugal;

// Exhaustive: every fp8 code decodes and re-encodes to itself (NaN codes stay NaN).
TEST(DType, E4M3RoundTripEveryCode) {
  for (int c = 0; c < 256; ++c) {
    float f = e4m3_to_f32(uint8_t(c));
    if (std::isnan(f)) {
      EXPECT_EQ(f32_to_e4m3(f) & 0x7f, 0x7f);
      continue;
    }
    EXPECT_EQ(f32_to_e4m3(f), c == 0x80 ? 0x80 : c) << c;
  }
}

TEST(DType, E5M2RoundTripEveryCode) {
  for (int c = 0; c < 256; ++c) {
    float f = e5m2_to_f32(uint8_t(c));
    if (std::isnan(f)) continue;
    if (std::isinf(f)) {
      EXPECT_EQ(f32_to_e5m2(f, Saturate::kNo), c);
      continue;
    }
    EXPECT_EQ(f32_to_e5m2(f), c) << c;
  }
}

TEST(DType, E4M3SpecialValues) {
  EXPECT_EQ(e4m3_to_f32(0x7e), 448.0f);
  EXPECT_EQ(e4m3_to_f32(0x01), std::ldexp(1.0f, -9));  // smallest subnormal
  EXPECT_EQ(e4m3_to_f32(0x08), std::ldexp(1.0f, -6));  // smallest normal
  EXPECT_TRUE(std::isnan(e4m3_to_f32(0x7f)));
  EXPECT_TRUE(std::isnan(e4m3_to_f32(0xff)));
  // Saturation vs NaN on overflow; 460 rounds down to 448, 464 (the midpoint to 480) does not.
  EXPECT_EQ(f32_to_e4m3(460.0f, Saturate::kNo), 0x7e);
  EXPECT_EQ(f32_to_e4m3(464.0f, Saturate::kNo), 0x7f);
  EXPECT_EQ(f32_to_e4m3(1e9f, Saturate::kYes), 0x7e);
  EXPECT_EQ(f32_to_e4m3(-INFINITY, Saturate::kYes), 0xfe);
  EXPECT_EQ(f32_to_e4m3(INFINITY, Saturate::kNo), 0x7f);
  // Ties to even: 1.0625 is halfway between 1.0 (mantissa 000) and 1.125 (001) -> 1.0.
  EXPECT_EQ(f32_to_e4m3(1.0625f), f32_to_e4m3(1.0f));
  EXPECT_EQ(f32_to_e4m3(1.1875f), f32_to_e4m3(1.25f));  // between 001 and 010 -> even 010
  // Half of the smallest subnormal rounds to zero (tie to even 0), just above rounds up.
  EXPECT_EQ(f32_to_e4m3(std::ldexp(1.0f, -10)), 0x00);
  EXPECT_EQ(f32_to_e4m3(std::ldexp(1.01f, -10)), 0x01);
  EXPECT_EQ(f32_to_e4m3(-0.0f), 0x80);
}

TEST(DType, E5M2SpecialValues) {
  EXPECT_EQ(e5m2_to_f32(0x7b), 57344.0f);
  EXPECT_TRUE(std::isinf(e5m2_to_f32(0x7c)));
  EXPECT_TRUE(std::isnan(e5m2_to_f32(0x7d)));
  EXPECT_EQ(f32_to_e5m2(1e9f, Saturate::kYes), 0x7b);
  EXPECT_EQ(f32_to_e5m2(1e9f, Saturate::kNo), 0x7c);
  EXPECT_EQ(f32_to_e5m2(std::ldexp(1.0f, -16)), 0x01);
}

// Brute-force reference: the nearest representable value (ties to the even code) among all codes.
static uint8_t nearest_code(float x, float (*decode)(uint8_t), float maxv) {
  int best = -1;
  double best_d = 1e300;
  for (int c = 0; c < 256; ++c) {
    float v = decode(uint8_t(c));
    if (!std::isfinite(v) || std::signbit(v) != std::signbit(x)) continue;
    double d = std::fabs(double(v) - double(x));
    if (d < best_d || (d == best_d && (c & 1) == 0)) { best_d = d; best = c; }
  }
  (void)maxv;
  return uint8_t(best);
}

TEST(DType, Fp8EncodeMatchesBruteForceNearest) {
  Rng rng(7);
  for (int i = 0; i < 20000; ++i) {
    float x = std::ldexp(rng.uniform() * 2 - 1, int(rng.below(30)) - 18);
    if (std::fabs(x) < 400) { EXPECT_EQ(f32_to_e4m3(x), nearest_code(x, e4m3_to_f32, 448)) << x; }
    EXPECT_EQ(f32_to_e5m2(x), nearest_code(x, e5m2_to_f32, 57344)) << x;
  }
}

TEST(DType, Bf16AndF16) {
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  // 1 + 2^-8 is a tie between bf16 1.0 and 1.0078125 -> even (1.0); just above rounds up.
  EXPECT_EQ(f32_to_bf16(1.00390625f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(std::nextafter(1.00390625f, 2.0f)), 0x3f81);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
  for (int c = 0; c < 65536; ++c) {
    float f = f16_to_f32(uint16_t(c));
    if (std::isnan(f)) continue;
    EXPECT_EQ(f32_to_f16(f), c) << c;
  }
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);
}

TEST(DType, Names) {
  EXPECT_EQ(dtype_from_name("F8_E4M3"), DType::kF8E4M3);
  EXPECT_EQ(dtype_name(DType::kBF16), "BF16");
  EXPECT_FALSE(dtype_from_name("F9").has_value());
  EXPECT_EQ(dtype_size(DType::kF8E5M2), 1u);
}
