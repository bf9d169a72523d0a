#include "core/dtype.h"

#include <array>
#include <cmath>

#include "core/error.h"

namespace frugal {

namespace {
struct DTypeInfo {
  DType type;
  std::string_view name;
  size_t size;
  bool is_float;
};
constexpr std::array<DTypeInfo, 17> kInfo = {{
    {DType::kF32, "F32", 4, true},     {DType::kF16, "F16", 2, true},
    {DType::kBF16, "BF16", 2, true},   {DType::kF8E4M3, "F8_E4M3", 1, true},
    {DType::kF8E5M2, "F8_E5M2", 1, true}, {DType::kF64, "F64", 8, true},
    {DType::kBool, "BOOL", 1, false},  {DType::kU8, "U8", 1, false},
    {DType::kI8, "I8", 1, false},      {DType::kI16, "I16", 2, false},
    {DType::kU16, "U16", 2, false},    {DType::kI32, "I32", 4, false},
    {DType::kU32, "U32", 4, false},    {DType::kI64, "I64", 8, false},
    {DType::kU64, "U64", 8, false},
    {DType::kQ8_0, "Q8_0", 34, true},  {DType::kQ4_0, "Q4_0", 18, true},  // size: bytes per block
}};
const DTypeInfo& info(DType t) {
  for (const auto& i : kInfo)
    if (i.type == t) return i;
  fail(ErrorKind::kInternal, "unknown dtype enum {}", int(t));
}
}  // namespace

size_t dtype_size(DType t) {
  if (dtype_is_block(t))
    fail(ErrorKind::kInternal, "dtype_size({}): a block type has no element size (use dtype_row_bytes)",
         info(t).name);
  return info(t).size;
}
int64_t dtype_block_elems(DType t) { return dtype_is_block(t) ? 32 : 1; }
size_t dtype_block_bytes(DType t) { return info(t).size; }
int64_t dtype_row_bytes(DType t, int64_t n) {
  const int64_t be = dtype_block_elems(t);
  if (n % be != 0)
    fail(ErrorKind::kInternal, "dtype_row_bytes({}, {}): not a whole number of {}-value blocks", info(t).name, n, be);
  return n / be * int64_t(info(t).size);
}
std::string_view dtype_name(DType t) { return info(t).name; }
bool dtype_is_float(DType t) { return info(t).is_float; }
std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& i : kInfo)
    if (i.name == name) return i.type;
  return std::nullopt;
}

uint16_t f32_to_bf16(float f) {
  uint32_t b = f32_to_bits(f);
  if ((b & 0x7fffffffu) > 0x7f800000u) return uint16_t((b >> 16) | 0x0040u);  // quiet NaN
  uint32_t rounding = 0x7fffu + ((b >> 16) & 1u);  // ties to even
  return uint16_t((b + rounding) >> 16);
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  if (exp == 0x1f) return bits_to_f32(sign | 0x7f800000u | (man << 13));  // inf / NaN
  if (exp == 0) {                                                          // zero / subnormal
    float v = std::ldexp(float(man), -24);
    return sign ? -v : v;
  }
  return bits_to_f32(sign | ((exp + 112u) << 23) | (man << 13));
}

// Generic round-to-nearest-even encoder for small binary floats with `E` exponent and `M`
// mantissa bits, returning the magnitude code (sign handled by the caller). Values are exact in
// double, so a scaled nearbyint gives correct RNE for normals and subnormals alike.
namespace {
template <int E, int M>
uint32_t encode_magnitude(double a) {
  constexpr int bias = (1 << (E - 1)) - 1;
  constexpr int min_exp = 1 - bias;  // exponent of the smallest normal
  int e;
  std::frexp(a, &e);  // a = f * 2^e, f in [0.5, 1)
  int exp = e - 1;    // a = 1.xxx * 2^exp
  if (exp < min_exp) exp = min_exp;  // subnormal range shares the quantum of the smallest normal
  double quantum = std::ldexp(1.0, exp - M);
  double q = std::nearbyint(a / quantum);  // default rounding mode: ties to even
  // q counts quanta: q in [2^M, 2^(M+1)] for normals; q == 2^(M+1) means carry into the next binade.
  uint64_t qi = uint64_t(q);
  if (qi == 0) return 0;
  if (qi < (1u << M)) return uint32_t(qi);  // subnormal (only when exp == min_exp)
  if (qi == (1u << (M + 1))) { qi >>= 1; exp += 1; }
  return uint32_t(((exp + bias) << M) | (qi & ((1u << M) - 1)));
}
}  // namespace

uint16_t f32_to_f16(float f) {
  uint32_t b = f32_to_bits(f);
  uint16_t sign = uint16_t((b >> 16) & 0x8000u);
  if (std::isnan(f)) return uint16_t(sign | 0x7e00u);
  double a = std::fabs(double(f));
  if (a >= 65520.0) return uint16_t(sign | 0x7c00u);  // rounds past 65504 -> inf
  return uint16_t(sign | encode_magnitude<5, 10>(a));
}

float e4m3_to_f32(uint8_t v) {
  uint32_t sign = v & 0x80u, exp = (v >> 3) & 0xfu, man = v & 0x7u;
  if (exp == 0xf && man == 0x7) return std::nanf("");
  float mag = exp == 0 ? std::ldexp(float(man), -9) : std::ldexp(float(8 + man), int(exp) - 10);
  return sign ? -mag : mag;
}

uint8_t f32_to_e4m3(float f, Saturate sat) {
  uint8_t sign = (f32_to_bits(f) >> 24) & 0x80u;
  if (std::isnan(f)) return uint8_t(sign | 0x7f);
  double a = std::fabs(double(f));
  // Anything that rounds above 448 (i.e. >= 464, the midpoint to the would-be next value 480).
  if (a >= 464.0) return sat == Saturate::kYes ? uint8_t(sign | 0x7e) : uint8_t(sign | 0x7f);
  return uint8_t(sign | encode_magnitude<4, 3>(a));
}

float e5m2_to_f32(uint8_t v) {
  uint32_t sign = v & 0x80u, exp = (v >> 2) & 0x1fu, man = v & 0x3u;
  float mag;
  if (exp == 0x1f) mag = man == 0 ? INFINITY : std::nanf("");
  else if (exp == 0) mag = std::ldexp(float(man), -16);
  else mag = std::ldexp(float(4 + man), int(exp) - 17);
  return sign ? -mag : mag;
}

uint8_t f32_to_e5m2(float f, Saturate sat) {
  uint8_t sign = (f32_to_bits(f) >> 24) & 0x80u;
  if (std::isnan(f)) return uint8_t(sign | 0x7e);
  double a = std::fabs(double(f));
  // 57344 is the max; the midpoint to the next (would-be 65536) is 61440.
  if (a >= 61440.0) return sat == Saturate::kYes ? uint8_t(sign | 0x7b) : uint8_t(sign | 0x7c);
  return uint8_t(sign | encode_magnitude<5, 2>(a));
}

const float* e4m3_table() {
  static const auto table = [] {
    std::array<float, 256> t{};
    for (int i = 0; i < 256; ++i) t[i] = e4m3_to_f32(uint8_t(i));
    return t;
  }();
  return table.data();
}

const float* e5m2_table() {
  static const auto table = [] {
    std::array<float, 256> t{};
    for (int i = 0; i < 256; ++i) t[i] = e5m2_to_f32(uint8_t(i));
    return t;
  }();
  return table.data();
}

void convert_to_f32(DType t, const void* src, float* dst, size_t n) {
  switch (t) {
    case DType::kF32: std::memcpy(dst, src, n * 4); return;
    case DType::kBF16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(s[i]);
      return;
    }
    case DType::kF16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
      return;
    }
    case DType::kF8E4M3: {
      const auto* s = static_cast<const uint8_t*>(src);
      const float* tab = e4m3_table();
      for (size_t i = 0; i < n; ++i) dst[i] = tab[s[i]];
      return;
    }
    case DType::kF8E5M2: {
      const auto* s = static_cast<const uint8_t*>(src);
      const float* tab = e5m2_table();
      for (size_t i = 0; i < n; ++i) dst[i] = tab[s[i]];
      return;
    }
    case DType::kF64: {
      const auto* s = static_cast<const double*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = float(s[i]);
      return;
    }
    default: fail(ErrorKind::kUnsupported, "cannot convert dtype {} to F32", dtype_name(t));
  }
}

}  // namespace frugal
