// Multi-head latent attention (docs/model.md, MLA), both forms kept side by side
// (docs/conventions.md, Reference beside the fast path):
//  * naive:  decompress K/V of every cached token with kv_b_proj, then ordinary attention with
//            192-dim keys (nope 128 + rope 64) and 128-dim values per head — fewer FLOPs for long
//            prefill chunks;
//  * absorb: fold W_UK into the query and W_UV into the output and attend directly over the
//            latent cache (576-dim keys, 512-dim values, shared by all heads like MQA) — what
//            decode uses, since it reads only the cache.
// Both read/append the same latent cache and are tested equal.
//
// Dims legend: T new tokens, S = pos0 + T cached tokens, H heads, C kv_lora_rank,
// dn qk_nope_head_dim, dr qk_rope_head_dim, dv v_head_dim, D hidden.
#pragma once
#include <cstdint>
#include <vector>

#include "model/config.h"
#include "model/weights.h"

namespace frugal {

class Arena;

enum class AttnImpl { kNaive, kAbsorb, kAuto };  // kAuto: naive for prefill chunks, absorb for decode

struct RopeTables {
  std::vector<double> inv_freq;  // [dr/2], YaRN-corrected
  double mscale = 1.0;           // cos/sin multiplier (1.0 for released models)
  float softmax_scale = 0;       // qk_head_dim^-0.5 · m²
};

// The two projections every form shares, over R rows at absolute positions pos [R]:
//  q [R, H·(dn+dr)] = q_b(norm(q_a(x))) or q_proj(x), each head's q_pe rotated (arena-allocated);
//  rows [R, C + dr] (leading dim ld_rows) = kv_a_proj_with_mqa(x) with c_kv normalised and k_pe
//  rotated: exactly what the latent cache holds (docs/model.md, Latent KV cache).
float* mla_queries(const DeepSeekConfig& cfg, const MlaWeights& w, const RopeTables& rope, const float* x_norm,
                   int64_t R, const int64_t* pos, Arena& arena);
void mla_latent_rows(const DeepSeekConfig& cfg, const MlaWeights& w, const RopeTables& rope, const float* x_norm,
                     int64_t R, const int64_t* pos, Arena& arena, float* rows, int64_t ld_rows);

// The absorbed form's three stages, shared by mla_forward and the ragged batch (batch_mla.cpp):
//  q [R, H·(dn+dr)] -> q̃ [(R·H), C] = q_nope_h · W_UK,h per head, and q_pe copied to [(R·H), dr];
//  attention of T new tokens at positions pos0.. over a cache of S = pos0 + T rows (causal):
//    scores [(T·H), S] (scratch), õ [(T·H), C] = P · c_kv;
//  õ [(R·H), C] -> o [R, H·dv] = õ_h · W_UV,hᵀ per head.
void mla_absorb_query(const DeepSeekConfig& cfg, const MlaWeights& w, const float* q, int64_t R, Arena& arena,
                      float* qt, float* qpe);
void mla_attend_latent(const DeepSeekConfig& cfg, const RopeTables& rope, const float* qt, const float* qpe,
                       int64_t T, int64_t pos0, const float* cache, int64_t cw, float* scores, float* ot);
void mla_absorb_output(const DeepSeekConfig& cfg, const MlaWeights& w, const float* ot, int64_t R, Arena& arena,
                       float* o);

// x_norm [T, D] (already input_layernorm'ed) -> out [T, D] (o_proj output, not yet added to the
// residual). Appends this chunk's [c_kv | k_pe] rows to cache_layer at rows [pos0, pos0 + T).
void mla_forward(const DeepSeekConfig& cfg, const MlaWeights& w, const RopeTables& rope, const float* x_norm,
                 int64_t T, int64_t pos0, float* cache_layer, int64_t cache_width, AttnImpl impl, Arena& arena,
                 float* out);

}  // namespace frugal
