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
  // GGUF's block formats (bit-identical to ggml's block_q8_0 / block_q4_0): blocks of 32 values
  // along a row, each an fp16 scale d and the quants. Weight storage only; never a safetensors
  // dtype (frugal stores them as U8 tensors, src/io/quantize.h). dtype_size() refuses them: use
  // dtype_row_bytes().
  kQ8_0,  // 34 bytes / 32 values: d, int8 q[32]; value q * d
  kQ4_0,  // 18 bytes / 32 values: d, uint8 qs[16]; element j < 16 low nibble of qs[j], j >= 16 high
          // nibble of qs[j - 16]; value (q - 8) * d
};

// Values per block (1 for element types) and bytes per block (dtype_size for element types).
int64_t dtype_block_elems(DType t);
size_t dtype_block_bytes(DType t);
inline bool dtype_is_block(DType t) { return t == DType::kQ8_0 || t == DType::kQ4_0; }
// Bytes of n consecutive values of a row; for block types n must be a multiple of the block.
int64_t dtype_row_bytes(DType t, int64_t n);

// Bytes per element of an element type; an internal error for block types (no whole element size).
size_t dtype_size(DType t);
// Safetensors spelling ("Q8_0" / "Q4_0" for the block types, which safetensors does not have): "F32", "BF16", "F8_E4M3", ...
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
