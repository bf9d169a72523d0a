// Attention of one new token over a latent KV cache, read in place: MLA's absorbed decode step
// (docs/model.md, MLA absorbed form) for G query rows (the heads) against S cached rows [c_kv | k_pe] of width cw.
//
//   scores[g, s] = scale · (q_lat[g] · c_kv[s] + q_pe[g] · k_pe[s])      s in [0, S)
//   p[g, :]      = softmax(scores[g, :])
//   out[g]       = Σ_s p[g, s] · c_kv[s]
//
// Why a kernel of its own: a continuous-batching decode step runs this once per sequence and
// layer with small shapes (G = 8..128 heads, S = tens to thousands of rows), where a BLAS call
// per product spends much of its time packing operands; here both products stream each cache row
// once for a block of heads, straight from the cache (no copy, no packing).
//
// Dims: G query rows, C kv_lora_rank, dr qk_rope_head_dim, cw >= C + dr the cache row stride.
#pragma once
#include <cstdint>

namespace frugal {

// q_lat [G, C], q_pe [G, dr], cache [S, cw] (c_kv = columns [0, C), k_pe = [C, C + dr)),
// scratch [G, S] (the probabilities on return), out [G, C]. Single-threaded (callers run one
// sequence per thread). S >= 1.
void latent_attention(const float* q_lat, const float* q_pe, int64_t G, int64_t C, int64_t dr, const float* cache,
                      int64_t cw, int64_t S, float scale, float* scratch, float* out);

// Whether this kernel beats the BLAS formulation (two sgemm for the scores, softmax, one sgemm for
// P·c_kv) at this shape. It does where the BLAS calls are small enough that packing dominates:
// `bench_kernels --attention-only` measured 1.6-1.8x for the small preset (8 heads, C 128, S 128 to
// 1024) and 0.5-0.9x at C 512 with 16-128 heads (DeepSeek-V2-Lite / V3), where BLAS's blocking wins.
inline bool latent_attention_preferred(int64_t G, int64_t C, int64_t dr) { return G * (2 * C + dr) <= 4096; }

// The plain reference (double accumulation) the fast path is tested against.
void latent_attention_ref(const float* q_lat, const float* q_pe, int64_t G, int64_t C, int64_t dr,
                          const float* cache, int64_t cw, int64_t S, float scale, float* scratch, float* out);

}  // namespace frugal
