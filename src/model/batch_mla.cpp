#include "model/batch_mla.h"

#include <algorithm>
#include <cstring>
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
                dr = cfg.qk_rope_head_dim, dv = cfg.v_head_dim, cw = cfg.kv_cache_dim(), R = row0[n];
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

  // Absorb W_UK into the query for all rows: q̃ [(R·H), C], q_pe [(R·H), dr]; a sequence's rows
  // are one contiguous block of both.
  float* qt = arena.alloc<float>(size_t(R * H * C));
  float* qpe = arena.alloc<float>(size_t(R * H * dr));
  mla_absorb_query(cfg, w, q, R, arena, qt, qpe);

  // Attention per sequence over its own cache, causal within its chunk.
  float* ot = arena.alloc<float>(size_t(R * H * C));  // õ [(R·H), C]
  const int nt = num_threads(), workers = n > 1 ? nt : 1;
  float* scores_all = arena.alloc<float>(size_t(workers) * size_t(max_scores));
  auto attend = [&](int64_t i, int worker) {
    const int64_t T = row0[i + 1] - row0[i], p0 = caches[i]->length();
    const float* cache = caches[i]->layer(layer);
    float* scores = scores_all + size_t(worker) * size_t(max_scores);
    if (T == 1 && n > 1 && latent_attention_preferred(H, C, dr)) {  // a decode row among others, small heads
      latent_attention(qt + row0[i] * H * C, qpe + row0[i] * H * dr, H, C, dr, cache, cw, p0 + 1,
                       rope.softmax_scale, scores, ot + row0[i] * H * C);
      return;
    }
    mla_attend_latent(cfg, rope, qt + row0[i] * H * C, qpe + row0[i] * H * dr, T, p0, cache, cw, scores,
                      ot + row0[i] * H * C);
  };
  // One sequence: let its GEMMs use the threads (as the unbatched path does). Several: one
  // sequence per thread with single-threaded GEMMs (OpenBLAS drops to one thread inside a region).
  if (workers > 1) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (int64_t i = 0; i < n; ++i) attend(i, omp_get_thread_num());
  } else {
    for (int64_t i = 0; i < n; ++i) attend(i, 0);
  }

  // Absorb W_UV into the output for all rows: o [R, H·dv], then o_proj.
  float* o = arena.alloc<float>(size_t(R * H * dv));
  mla_absorb_output(cfg, w, ot, R, arena, o);
  matmul_xwt(o, R, H * dv, w.o_proj, out, D, &arena);
  arena.rewind(mark);
}

}  // namespace frugal
