#include "model/batch_mla.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include <omp.h>

#include "core/arena.h"
#include "core/sys.h"
#include "kernels/ops.h"

namespace frugal {

void mla_decode_batch(const DeepSeekConfig& cfg, const MlaWeights& w, const RopeTables& rope, const float* x_norm,
                      int64_t n, int64_t layer, LatentKvCache* const* caches, Arena& arena, float* out) {
  const int64_t D = cfg.hidden_size, H = cfg.num_attention_heads, C = cfg.kv_lora_rank,
                dn = cfg.qk_nope_head_dim, dr = cfg.qk_rope_head_dim, dv = cfg.v_head_dim, dq = dn + dr,
                dkv = dn + dv, cw = cfg.kv_cache_dim();
  const Arena::Mark mark = arena.mark();
  std::vector<int64_t> pos(static_cast<size_t>(n));
  int64_t max_s = 0;
  for (int64_t i = 0; i < n; ++i) {
    pos[size_t(i)] = caches[i]->length();
    max_s = std::max(max_s, pos[size_t(i)] + 1);
  }

  // Queries for all n rows at once: q [n, H·(dn+dr)].
  float* q = arena.alloc<float>(size_t(n * H * dq));
  if (cfg.q_lora_rank > 0) {
    float* cq = arena.alloc<float>(size_t(n * cfg.q_lora_rank));  // c_q [n, q_lora_rank]
    matmul_xwt(x_norm, n, D, w.q_a_proj, cq, cfg.q_lora_rank, &arena);
    rmsnorm_forward(cq, cfg.q_lora_rank, w.q_a_layernorm.data(), n, cfg.q_lora_rank, float(cfg.rms_norm_eps), cq,
                    cfg.q_lora_rank);
    matmul_xwt(cq, n, cfg.q_lora_rank, w.q_b_proj, q, H * dq, &arena);
  } else {
    matmul_xwt(x_norm, n, D, w.q_proj, q, H * dq, &arena);
  }
  for (int64_t h = 0; h < H; ++h)  // q_pe <- RoPE(q_pe) at each row's own position
    rope_interleaved(q + h * dq + dn, H * dq, n, dr, pos.data(), rope.inv_freq.data(), rope.mscale);

  // New latent rows [n, C + dr], normalised and rotated as in mla_forward, then appended to each
  // sequence's cache at its own position.
  float* rows = arena.alloc<float>(size_t(n * cw));
  matmul_xwt(x_norm, n, D, w.kv_a_proj_with_mqa, rows, cw, &arena);
  rmsnorm_forward(rows, cw, w.kv_a_layernorm.data(), n, C, float(cfg.rms_norm_eps), rows, cw);
  rope_interleaved(rows + C, cw, n, dr, pos.data(), rope.inv_freq.data(), rope.mscale);
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(caches[i]->layer(layer) + pos[size_t(i)] * cw, rows + i * cw, size_t(cw) * sizeof(float));

  // Absorb W_UK into the query for all rows: q̃ [(n·H), C], q_pe [(n·H), dr] (contiguous for the GEMMs).
  float* qt = arena.alloc<float>(size_t(n * H * C));
  float* qpe = arena.alloc<float>(size_t(n * H * dr));
  const int nt = num_threads();
  auto absorb_query = [&](int64_t h, Arena* scratch) {  // q̃_h [n, C] = q_nope_h [n, dn] · W_UK,h [dn, C]
    matmul_xw(q + h * dq, n, H * dq, w.kv_b_proj.row_slice(h * dkv, dn), qt + h * C, H * C, scratch);
    for (int64_t t = 0; t < n; ++t)
      for (int64_t i = 0; i < dr; ++i) qpe[(t * H + h) * dr + i] = q[t * H * dq + h * dq + dn + i];
  };
  if (nt > 1) {
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t h = 0; h < H; ++h) absorb_query(h, nullptr);
  } else {
    for (int64_t h = 0; h < H; ++h) absorb_query(h, &arena);
  }

  // Attention per sequence over its own cache: scores [H, S_i], õ_i [H, C] = P · c_kv.
  float* ot = arena.alloc<float>(size_t(n * H * C));  // õ [(n·H), C]
  const int workers = n > 1 ? nt : 1;
  float* scores_all = arena.alloc<float>(size_t(workers) * size_t(H * max_s));  // [workers][H, max S]
  auto attend = [&](int64_t i, int worker) {
    const int64_t S = pos[size_t(i)] + 1;
    const float* cache = caches[i]->layer(layer);
    float* scores = scores_all + size_t(worker) * size_t(H * max_s);
    sgemm(false, true, H, S, C, rope.softmax_scale, qt + i * H * C, C, cache, cw, 0.0f, scores, S);
    sgemm(false, true, H, S, dr, rope.softmax_scale, qpe + i * H * dr, dr, cache + C, cw, 1.0f, scores, S);
    softmax_rows(scores, H, S, S);  // the new token sees every cached row: no mask
    sgemm(false, false, H, C, S, 1.0f, scores, S, cache, cw, 0.0f, ot + i * H * C, C);
  };
  // One sequence: let its GEMMs use the threads (as the unbatched path does). Several: one
  // sequence per thread with single-threaded GEMMs (OpenBLAS drops to one thread inside a region).
  if (workers > 1) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int64_t i = 0; i < n; ++i) attend(i, omp_get_thread_num());
  } else {
    for (int64_t i = 0; i < n; ++i) attend(i, 0);
  }

  // Absorb W_UV into the output for all rows: o_h [n, dv] = õ_h · W_UV,hᵀ, then o_proj.
  float* o = arena.alloc<float>(size_t(n * H * dv));  // [n, H·dv]
  auto absorb_output = [&](int64_t h, Arena* scratch) {
    matmul_xwt(ot + h * C, n, H * C, w.kv_b_proj.row_slice(h * dkv + dn, dv), o + h * dv, H * dv, scratch);
  };
  if (nt > 1) {
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t h = 0; h < H; ++h) absorb_output(h, nullptr);
  } else {
    for (int64_t h = 0; h < H; ++h) absorb_output(h, &arena);
  }
  matmul_xwt(o, n, H * dv, w.o_proj, out, D, &arena);
  arena.rewind(mark);
}

}  // namespace frugal
