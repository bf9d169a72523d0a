// fp8_quantize (fp8_quant.h): the operand copy, the scale groups, the ISA dispatch, the reference.
#include "kernels/fp8_quant.h"

#include <algorithm>
#include <cmath>

#include "core/dtype.h"
#include "kernels/linear.h"

namespace frugal {

const char* fp8_scaling_name(Fp8Scaling s) {
  switch (s) {
    case Fp8Scaling::kTile: return "1x128 tiles";
    case Fp8Scaling::kBlock: return "128x128 blocks";
    case Fp8Scaling::kTensor: return "per tensor";
  }
  return "?";
}

namespace fp8_detail {

uint32_t amax_bits_portable(const float* x, int64_t n) {
  uint32_t m = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, x + i, 4);
    m = std::max(m, u & 0x7fffffffu);
  }
  return m;
}

void quantize_tile_portable(float* x, int64_t n, float s) {
  for (int64_t i = 0; i < n; ++i) x[i] = e4m3_round(x[i] / s);
}

}  // namespace fp8_detail

namespace {

float fp8_bits_f(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Copies X (R x K, strided) into q [R, Kp] row-major, zero past K. A transposed source (ks != 1)
// goes in 32 x 32 blocks so both sides stay in cache.
void fp8_copy_padded(const float* src, int64_t rs, int64_t ks, int64_t R, int64_t K, int64_t Kp, float* q) {
  constexpr int64_t kb = 32;
#pragma omp parallel for schedule(static)
  for (int64_t r0 = 0; r0 < R; r0 += kb) {
    const int64_t r1 = std::min(R, r0 + kb);
    for (int64_t r = r0; r < r1; ++r) std::fill(q + r * Kp + K, q + (r + 1) * Kp, 0.0f);
    if (ks == 1) {
      for (int64_t r = r0; r < r1; ++r) std::copy(src + r * rs, src + r * rs + K, q + r * Kp);
      continue;
    }
    for (int64_t k0 = 0; k0 < K; k0 += kb) {
      const int64_t k1 = std::min(K, k0 + kb);
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t k = k0; k < k1; ++k) q[r * Kp + k] = src[r * rs + k * ks];
    }
  }
}

// Turns the per-tile amax bits in out.s (as floats) into the scales of the scaling's groups.
void fp8_group_scales(Fp8Scaling scaling, Fp8Operand& out) {
  const int64_t R = out.R, Kc = out.Kc;
  auto amax = [&](int64_t r, int64_t c) { return out.s[size_t(r * Kc + c)]; };
  if (scaling == Fp8Scaling::kTile) {
    for (auto& v : out.s) v = fp8_scale(v);
    return;
  }
  // The group maximum of non-negative floats (NaN included) through their bits, as for the tiles.
  auto bmax = [](float a, float b) {
    uint32_t ua, ub;
    std::memcpy(&ua, &a, 4);
    std::memcpy(&ub, &b, 4);
    return fp8_bits_f(std::max(ua, ub));
  };
  if (scaling == Fp8Scaling::kTensor) {
    float m = 0.0f;
    for (float v : out.s) m = bmax(m, v);
    std::fill(out.s.begin(), out.s.end(), fp8_scale(m));
    return;
  }
  for (int64_t r0 = 0; r0 < R; r0 += kFp8Tile) {
    const int64_t r1 = std::min(R, r0 + kFp8Tile);
    for (int64_t c = 0; c < Kc; ++c) {
      float m = 0.0f;
      for (int64_t r = r0; r < r1; ++r) m = bmax(m, amax(r, c));
      const float sc = fp8_scale(m);
      for (int64_t r = r0; r < r1; ++r) out.s[size_t(r * Kc + c)] = sc;
    }
  }
}

void fp8_resize(Fp8Operand& out, int64_t R, int64_t K) {
  out.R = R;
  out.K = K;
  out.Kp = (K + kFp8Tile - 1) / kFp8Tile * kFp8Tile;
  out.Kc = out.Kp / kFp8Tile;
  out.q.resize(size_t(R * out.Kp));
  out.s.resize(size_t(R * out.Kc));
}

}  // namespace

void fp8_quantize(const float* src, int64_t rs, int64_t ks, int64_t R, int64_t K, Fp8Scaling scaling,
                  Fp8Operand& out) {
  fp8_resize(out, R, K);
  const int64_t Kp = out.Kp, Kc = out.Kc;
  fp8_copy_padded(src, rs, ks, R, K, Kp, out.q.data());
  const bool avx2 = kernel_isa() >= KernelIsa::kAvx2;
  const auto amax_fn = avx2 ? fp8_detail::amax_bits_avx2 : fp8_detail::amax_bits_portable;
  const auto quant_fn = avx2 ? fp8_detail::quantize_tile_avx2 : fp8_detail::quantize_tile_portable;
  float* q = out.q.data();
  float* s = out.s.data();
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < Kc; ++c) s[r * Kc + c] = fp8_bits_f(amax_fn(q + r * Kp + c * kFp8Tile, kFp8Tile));
  fp8_group_scales(scaling, out);
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < Kc; ++c) quant_fn(q + r * Kp + c * kFp8Tile, kFp8Tile, s[r * Kc + c]);
}

int64_t fp8_row_scales(int64_t C) { return (C + kFp8Tile - 1) / kFp8Tile; }

void fp8_store_rows(const float* x, int64_t R, int64_t C, uint8_t* q, float* s) {
  const int64_t Cc = fp8_row_scales(C);
  const bool avx2 = kernel_isa() >= KernelIsa::kAvx2;
  const auto amax_fn = avx2 ? fp8_detail::amax_bits_avx2 : fp8_detail::amax_bits_portable;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < Cc; ++c) {
      const int64_t c0 = c * kFp8Tile, n = std::min(kFp8Tile, C - c0);
      const float* xt = x + r * C + c0;
      const float sc = fp8_scale(fp8_bits_f(amax_fn(xt, n)));
      s[r * Cc + c] = sc;
      for (int64_t i = 0; i < n; ++i) q[r * C + c0 + i] = f32_to_e4m3(xt[i] / sc);
    }
}

void fp8_load_rows(const uint8_t* q, const float* s, int64_t R, int64_t C, float* x) {
  const int64_t Cc = fp8_row_scales(C);
  const float* table = e4m3_table();
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < R; ++r)
    for (int64_t i = 0; i < C; ++i) x[r * C + i] = table[q[r * C + i]] * s[r * Cc + i / kFp8Tile];
}

void fp8_quantize_ref(const float* src, int64_t rs, int64_t ks, int64_t R, int64_t K, Fp8Scaling scaling,
                      Fp8Operand& out) {
  fp8_resize(out, R, K);
  const int64_t Kp = out.Kp, Kc = out.Kc;
  // Group of element (r, c): its scale index before expansion.
  auto group = [&](int64_t r, int64_t c) -> int64_t {
    switch (scaling) {
      case Fp8Scaling::kTile: return r * Kc + c;
      case Fp8Scaling::kBlock: return (r / kFp8Tile) * Kc + c;
      case Fp8Scaling::kTensor: return 0;
    }
    return 0;
  };
  std::vector<float> amax(size_t(R * Kc), 0.0f);
  for (int64_t r = 0; r < R; ++r)
    for (int64_t k = 0; k < K; ++k) {
      const float a = std::fabs(src[r * rs + k * ks]);
      float& m = amax[size_t(group(r, k / kFp8Tile))];
      if (std::isnan(a) || std::isnan(m)) m = NAN;
      else m = std::max(m, a);
    }
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < Kc; ++c) {
      const float m = amax[size_t(group(r, c))];
      out.s[size_t(r * Kc + c)] = std::isnan(m) ? NAN : std::max(m / kFp8Max, 1.17549435e-38f);
    }
  for (int64_t r = 0; r < R; ++r)
    for (int64_t k = 0; k < Kp; ++k) {
      const float v = k < K ? src[r * rs + k * ks] : 0.0f;
      out.q[size_t(r * Kp + k)] = e4m3_to_f32(f32_to_e4m3(v / out.s[size_t(r * Kc + k / kFp8Tile)]));
    }
}

}  // namespace frugal
