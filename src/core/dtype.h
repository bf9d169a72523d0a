// Element types and their exact conversions to and from float32.
//
// FP8 follows the OCP 8-bit floating point spec (v1.0):
//   E4M3 ("fn"): bias 7, no infinities, S.1111.111 is NaN, max finite 448, min subnormal 2^-9.
//   E5M2:        bias 15, IEEE-like: S.11111.00 is ±inf, S.11111.{01,10,11} NaN, max finite 57344.
// Encoding rounds to nearest, ties to even. Out-of-range finite values and infinities either
// saturate to ±max (Saturate::kYes, what quantizers want) or become NaN for E4M3 / ±inf for E5M2
// (Saturate::kNo, what PyTorch's .to(float8) does). NaN always stays NaN.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

namespace frugal {

enum class DType : uint8_t {
  kF32, kF16, kBF16, kF8E4M3, kF8E5M2, kF64,
  kBool, kU8, kI8, kI16, kU16, kI32, kU32, kI64, kU64,
};

size_t dtype_size(DType t);
// Safetensors spelling: "F32", "BF16", "F8_E4M3", ...
std::string_view dtype_name(DType t);
std::optional<DType> dtype_from_name(std::string_view name);
bool dtype_is_float(DType t);

enum class Saturate : bool { kNo = false, kYes = true };

inline float bits_to_f32(uint32_t b) { float f; std::memcpy(&f, &b, 4); return f; }
inline uint32_t f32_to_bits(float f) { uint32_t b; std::memcpy(&b, &f, 4); return b; }

// bf16 is the top half of an f32: decoding is a shift (done in registers by the kernels).
inline float bf16_to_f32(uint16_t h) { return bits_to_f32(uint32_t(h) << 16); }
uint16_t f32_to_bf16(float f);  // round-to-nearest-even; NaN stays a (quiet) NaN

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);    // round-to-nearest-even, overflow -> inf

float e4m3_to_f32(uint8_t v);
uint8_t f32_to_e4m3(float f, Saturate sat = Saturate::kYes);
float e5m2_to_f32(uint8_t v);
uint8_t f32_to_e5m2(float f, Saturate sat = Saturate::kYes);

constexpr float kE4M3Max = 448.0f;
constexpr float kE5M2Max = 57344.0f;

// 256-entry decode tables (exact), used by the fast kernels to widen fp8 weights in registers.
const float* e4m3_table();
const float* e5m2_table();

// Convert n elements of `src` (dtype t) to f32.
void convert_to_f32(DType t, const void* src, float* dst, size_t n);

}  // namespace frugal
