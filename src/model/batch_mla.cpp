#include "model/batch_mla.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include <omp.h>

#include "core/arena.h"
#include "core/sys.h"
#include "kernels/latent_attention.h"
#include "kernels/ops.h"

namespace frugal {

void mla_forward_ragged(const DeepSeekConfig& cfg, const MlaWeights& w, const RopeTables& rope, const float* x_norm,
                        const int64_t* row0, int64_t n, int64_t layer, LatentKvCache* const* caches, Arena& arena,
                        float* out) {
  const int64_t D = cfg.hidden_size, H = cfg.num_attention_heads, C = cfg.kv_lora_rank,
                dn = cfg.qk_nope_head_dim, dr = cfg.qk_rope_head_dim, dv = cfg.v_head_dim, dq = dn + dr,
                dkv = dn + dv, cw = cfg.kv_cache_dim(), R = row0[n];
  const Arena::Mark mark = arena.mark();
  // Absolute position of every row; the largest per-sequence score block [(T_i·H), S_i].
  std::vector<int64_t> pos(static_cast<size_t>(R));
  int64_t max_scores = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t p0 = caches[i]->length(), T = row0[i + 1] - row0[i];
    for (int64_t t = 0; t < T; ++t) pos[size_t(row0[i] + t)] = p0 + t;
    max_scores = std::max(max_scores, T * H * (p0 + T));
  }

  // Queries for all R rows at once: q [R, H·(dn+dr)]. New latent rows [R, C + dr], normalised
  // and rotated as in mla_forward, then appended to each sequence's cache at its own positions.
  float* q = mla_queries(cfg, w, rope, x_norm, R, pos.data(), arena);
  float* rows = arena.alloc<float>(size_t(R * cw));
  mla_latent_rows(cfg, w, rope, x_norm, R, pos.data(), arena, rows, cw);
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(caches[i]->layer(layer) + caches[i]->length() * cw, rows + row0[i] * cw,
                size_t((row0[i + 1] - row0[i]) * cw) * sizeof(float));

  // Absorb W_UK into the query for all rows: q̃ [(R·H), C], q_pe [(R·H), dr] (contiguous for the
  // GEMMs); a sequence's rows are one contiguous block of both.
  float* qt = arena.alloc<float>(size_t(R * H * C));
  float* qpe = arena.alloc<float>(size_t(R * H * dr));
  const int nt = num_threads();
  auto absorb_query = [&](int64_t h, Arena* scratch) {  // q̃_h [R, C] = q_nope_h [R, dn] · W_UK,h [dn, C]
    matmul_xw(q + h * dq, R, H * dq, w.kv_b_proj.row_slice(h * dkv, dn), qt + h * C, H * C, scratch);
    for (int64_t t = 0; t < R; ++t)
      for (int64_t i = 0; i < dr; ++i) qpe[(t * H + h) * dr + i] = q[t * H * dq + h * dq + dn + i];
  };
  if (nt > 1) {
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t h = 0; h < H; ++h) absorb_query(h, nullptr);
  } else {
    for (int64_t h = 0; h < H; ++h) absorb_query(h, &arena);
  }

  // Attention per sequence over its own cache: scores [(T·H), S], õ [(T·H), C] = P · c_kv, with
  // row (t, h) seeing cached rows s <= pos_i + t.
  float* ot = arena.alloc<float>(size_t(R * H * C));  // õ [(R·H), C]
  const int workers = n > 1 ? nt : 1;
  float* scores_all = arena.alloc<float>(size_t(workers) * size_t(max_scores));
  const float ninf = -std::numeric_limits<float>::infinity();
  auto attend = [&](int64_t i, int worker) {
    const int64_t T = row0[i + 1] - row0[i], p0 = caches[i]->length(), S = p0 + T;
    const float* cache = caches[i]->layer(layer);
    float* scores = scores_all + size_t(worker) * size_t(max_scores);
    if (T == 1 && n > 1 && latent_attention_preferred(H, C, dr)) {  // a decode row among others, small heads
      latent_attention(qt + row0[i] * H * C, qpe + row0[i] * H * dr, H, C, dr, cache, cw, S, rope.softmax_scale,
                       scores, ot + row0[i] * H * C);
      return;
    }
    sgemm(false, true, T * H, S, C, rope.softmax_scale, qt + row0[i] * H * C, C, cache, cw, 0.0f, scores, S);
    sgemm(false, true, T * H, S, dr, rope.softmax_scale, qpe + row0[i] * H * dr, dr, cache + C, cw, 1.0f, scores,
          S);
    for (int64_t t = 0; t < T; ++t)  // causal within the chunk (nothing to mask for one token)
      for (int64_t h = 0; h < H; ++h) {
        float* row = scores + (t * H + h) * S;
        std::fill(row + p0 + t + 1, row + S, ninf);
      }
    softmax_rows(scores, T * H, S, S);
    sgemm(false, false, T * H, C, S, 1.0f, scores, S, cache, cw, 0.0f, ot + row0[i] * H * C, C);
  };
  // One sequence: let its GEMMs use the threads (as the unbatched path does). Several: one
  // sequence per thread with single-threaded GEMMs (OpenBLAS drops to one thread inside a region).
  if (workers > 1) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int64_t i = 0; i < n; ++i) attend(i, omp_get_thread_num());
  } else {
    for (int64_t i = 0; i < n; ++i) attend(i, 0);
  }

  // Absorb W_UV into the output for all rows: o_h [R, dv] = õ_h · W_UV,hᵀ, then o_proj.
  float* o = arena.alloc<float>(size_t(R * H * dv));  // [R, H·dv]
  auto absorb_output = [&](int64_t h, Arena* scratch) {
    matmul_xwt(ot + h * C, R, H * C, w.kv_b_proj.row_slice(h * dkv + dn, dv), o + h * dv, H * dv, scratch);
  };
  if (nt > 1) {
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t h = 0; h < H; ++h) absorb_output(h, nullptr);
  } else {
    for (int64_t h = 0; h < H; ++h) absorb_output(h, &arena);
  }
  matmul_xwt(o, R, H * dv, w.o_proj, out, D, &arena);
  arena.rewind(mark);
}

}  // namespace frugal
