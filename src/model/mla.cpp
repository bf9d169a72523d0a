#include "model/mla.h"

#include <cmath>
#include <limits>
#include <vector>

#include <omp.h>

#include "core/arena.h"
#include "core/sys.h"
#include "kernels/ops.h"
#include "kernels/rope.h"
#include "kernels/softmax.h"

namespace frugal {

namespace {

// Causal mask for a chunk: query row t (absolute position pos0 + t) sees cached keys s <= pos0 + t.
void mask_causal(float* scores, int64_t rows_per_t, int64_t T, int64_t S, int64_t pos0, int64_t ld) {
  const float ninf = -std::numeric_limits<float>::infinity();
  for (int64_t t = 0; t < T; ++t)
    for (int64_t r = 0; r < rows_per_t; ++r) {
      float* row = scores + (t * rows_per_t + r) * ld;
      for (int64_t s = pos0 + t + 1; s < S; ++s) row[s] = ninf;
    }
}

// Naive form: K/V decompressed from the latent cache for all S tokens, one head at a time.
void attend_naive(const DeepSeekConfig& cfg, const MlaWeights& w, const RopeTables& rope, const float* q,
                  int64_t T, int64_t pos0, const float* cache, int64_t cw, Arena& arena, float* o) {
  const int64_t H = cfg.num_attention_heads, C = cfg.kv_lora_rank, dn = cfg.qk_nope_head_dim,
                dr = cfg.qk_rope_head_dim, dv = cfg.v_head_dim, S = pos0 + T, dq = dn + dr, dkv = dn + dv;
  float* kv = arena.alloc<float>(size_t(S * H * dkv));  // [S, H·(dn+dv)]
  matmul_xwt(cache, S, cw, w.kv_b_proj, kv, H * dkv, &arena);
  // Heads run in parallel, each with single-threaded GEMMs (OpenBLAS drops to one thread inside
  // an OpenMP region): the softmax and masking then parallelise too, instead of running serially
  // between multi-threaded GEMMs that are too small to split well.
  const int nt = num_threads();
  float* scores_all = arena.alloc<float>(size_t(nt) * size_t(T * S));  // [nt][T, S]
  auto head = [&](int64_t h, int worker) {
    float* scores = scores_all + size_t(worker) * size_t(T * S);
    // scores = scale · (q_nope_h · k_nopeᵀ + q_pe_h · k_peᵀ)
    sgemm(false, true, T, S, dn, rope.softmax_scale, q + h * dq, H * dq, kv + h * dkv, H * dkv, 0.0f, scores, S);
    sgemm(false, true, T, S, dr, rope.softmax_scale, q + h * dq + dn, H * dq, cache + C, cw, 1.0f, scores, S);
    mask_causal(scores, 1, T, S, pos0, S);
    softmax_rows(scores, T, S, S);
    // o_h [T, dv] = P · v_h
    sgemm(false, false, T, dv, S, 1.0f, scores, S, kv + h * dkv + dn, H * dkv, 0.0f, o + h * dv, H * dv);
  };
  if (nt > 1 && T * S * H >= (1 << 14)) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int64_t h = 0; h < H; ++h) head(h, omp_get_thread_num());
  } else {
    for (int64_t h = 0; h < H; ++h) head(h, 0);  // small: let each GEMM use the threads itself
  }
}

// Absorbed form: attention over the latent cache (see mla_absorb_query, mla_attend_latent).
void attend_absorbed(const DeepSeekConfig& cfg, const MlaWeights& w, const RopeTables& rope, const float* q,
                     int64_t T, int64_t pos0, const float* cache, int64_t cw, Arena& arena, float* o) {
  const int64_t H = cfg.num_attention_heads, C = cfg.kv_lora_rank, dr = cfg.qk_rope_head_dim, S = pos0 + T;
  float* qt = arena.alloc<float>(size_t(T * H * C));    // q̃ [(T·H), C]
  float* qpe = arena.alloc<float>(size_t(T * H * dr));  // q_pe [(T·H), dr]
  mla_absorb_query(cfg, w, q, T, arena, qt, qpe);
  float* scores = arena.alloc<float>(size_t(T * H * S));
  float* ot = arena.alloc<float>(size_t(T * H * C));  // õ [(T·H), C]
  mla_attend_latent(cfg, rope, qt, qpe, T, pos0, cache, cw, scores, ot);
  mla_absorb_output(cfg, w, ot, T, arena, o);
}

// The per-head products are small ([dn, C] and [dv, C] slices of kv_b_proj): whole heads run on
// each thread (one parallel region instead of one per head and product; their GEMMs then run
// single-threaded), with per-thread scratch since the arena is not thread-safe.
template <typename PerHead>
void for_each_head(int64_t H, Arena& arena, PerHead&& f) {
  const int nt = num_threads();
  if (nt > 1) {
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t h = 0; h < H; ++h) f(h, nullptr);
  } else {
    for (int64_t h = 0; h < H; ++h) f(h, &arena);
  }
}

}  // namespace

void mla_absorb_query(const DeepSeekConfig& cfg, const MlaWeights& w, const float* q, int64_t R, Arena& arena,
                      float* qt, float* qpe) {
  const int64_t H = cfg.num_attention_heads, C = cfg.kv_lora_rank, dn = cfg.qk_nope_head_dim,
                dr = cfg.qk_rope_head_dim, dq = dn + dr, dkv = dn + cfg.v_head_dim;
  for_each_head(H, arena, [&](int64_t h, Arena* scratch) {  // q̃_h [R, C] = q_nope_h [R, dn] · W_UK,h [dn, C]
    matmul_xw(q + h * dq, R, H * dq, w.kv_b_proj.row_slice(h * dkv, dn), qt + h * C, H * C, scratch);
    for (int64_t t = 0; t < R; ++t)
      for (int64_t i = 0; i < dr; ++i) qpe[(t * H + h) * dr + i] = q[t * H * dq + h * dq + dn + i];
  });
}

void mla_attend_latent(const DeepSeekConfig& cfg, const RopeTables& rope, const float* qt, const float* qpe,
                       int64_t T, int64_t pos0, const float* cache, int64_t cw, float* scores, float* ot) {
  const int64_t H = cfg.num_attention_heads, C = cfg.kv_lora_rank, dr = cfg.qk_rope_head_dim, S = pos0 + T;
  // Rows are (t, h) pairs so every head and token shares one GEMM against the cache.
  sgemm(false, true, T * H, S, C, rope.softmax_scale, qt, C, cache, cw, 0.0f, scores, S);
  sgemm(false, true, T * H, S, dr, rope.softmax_scale, qpe, dr, cache + C, cw, 1.0f, scores, S);
  mask_causal(scores, H, T, S, pos0, S);
  softmax_rows(scores, T * H, S, S);
  sgemm(false, false, T * H, C, S, 1.0f, scores, S, cache, cw, 0.0f, ot, C);
}

void mla_absorb_output(const DeepSeekConfig& cfg, const MlaWeights& w, const float* ot, int64_t R, Arena& arena,
                       float* o) {
  const int64_t H = cfg.num_attention_heads, C = cfg.kv_lora_rank, dn = cfg.qk_nope_head_dim,
                dv = cfg.v_head_dim, dkv = dn + dv;
  for_each_head(H, arena, [&](int64_t h, Arena* scratch) {  // o_h [R, dv] = õ_h · W_UV,hᵀ
    matmul_xwt(ot + h * C, R, H * C, w.kv_b_proj.row_slice(h * dkv + dn, dv), o + h * dv, H * dv, scratch);
  });
}

float* mla_queries(const DeepSeekConfig& cfg, const MlaWeights& w, const RopeTables& rope, const float* x_norm,
                   int64_t R, const int64_t* pos, Arena& arena) {
  const int64_t D = cfg.hidden_size, H = cfg.num_attention_heads, dn = cfg.qk_nope_head_dim,
                dr = cfg.qk_rope_head_dim, dq = dn + dr;
  // Either through the low-rank q_a/q_b pair or a plain q_proj.
  float* q = arena.alloc<float>(size_t(R * H * dq));
  if (cfg.q_lora_rank > 0) {
    float* cq = arena.alloc<float>(size_t(R * cfg.q_lora_rank));  // c_q [R, q_lora_rank]
    matmul_xwt(x_norm, R, D, w.q_a_proj, cq, cfg.q_lora_rank, &arena);
    rmsnorm_forward(cq, cfg.q_lora_rank, w.q_a_layernorm.data(), R, cfg.q_lora_rank, float(cfg.rms_norm_eps), cq,
                    cfg.q_lora_rank);
    matmul_xwt(cq, R, cfg.q_lora_rank, w.q_b_proj, q, H * dq, &arena);
  } else {
    matmul_xwt(x_norm, R, D, w.q_proj, q, H * dq, &arena);
  }
  for (int64_t h = 0; h < H; ++h)  // q_pe <- RoPE(q_pe), each head's last dr dims
    rope_interleaved(q + h * dq + dn, H * dq, R, dr, pos, rope.inv_freq.data(), rope.mscale);
  return q;
}

void mla_latent_rows(const DeepSeekConfig& cfg, const MlaWeights& w, const RopeTables& rope, const float* x_norm,
                     int64_t R, const int64_t* pos, Arena& arena, float* rows, int64_t cw) {
  const int64_t C = cfg.kv_lora_rank, dr = cfg.qk_rope_head_dim;
  matmul_xwt(x_norm, R, cfg.hidden_size, w.kv_a_proj_with_mqa, rows, cw, &arena);
  rmsnorm_forward(rows, cw, w.kv_a_layernorm.data(), R, C, float(cfg.rms_norm_eps), rows, cw);
  rope_interleaved(rows + C, cw, R, dr, pos, rope.inv_freq.data(), rope.mscale);
}

void mla_forward(const DeepSeekConfig& cfg, const MlaWeights& w, const RopeTables& rope, const float* x_norm,
                 int64_t T, int64_t pos0, float* cache_layer, int64_t cw, AttnImpl impl, Arena& arena,
                 float* out) {
  const int64_t D = cfg.hidden_size, H = cfg.num_attention_heads, dv = cfg.v_head_dim;
  const Arena::Mark mark = arena.mark();
  std::vector<int64_t> pos(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) pos[size_t(t)] = pos0 + t;

  float* q = mla_queries(cfg, w, rope, x_norm, T, pos.data(), arena);  // [T, H·(dn+dr)]
  // Keys/values: [c_kv | k_pe] rows written straight into the cache.
  mla_latent_rows(cfg, w, rope, x_norm, T, pos.data(), arena, cache_layer + pos0 * cw, cw);

  float* o = arena.alloc<float>(size_t(T * H * dv));  // [T, H·dv]
  if (impl == AttnImpl::kAuto) impl = T > 1 ? AttnImpl::kNaive : AttnImpl::kAbsorb;
  if (impl == AttnImpl::kNaive) attend_naive(cfg, w, rope, q, T, pos0, cache_layer, cw, arena, o);
  else attend_absorbed(cfg, w, rope, q, T, pos0, cache_layer, cw, arena, o);
  matmul_xwt(o, T, H * dv, w.o_proj, out, D, &arena);
  arena.rewind(mark);
}

}  // namespace frugal
