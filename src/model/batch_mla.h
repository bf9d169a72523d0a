// Batched MLA for continuous batching over a ragged batch: n sequences, sequence i appending T_i
// new tokens (1 for a decode step, a prompt chunk for prefill) at its own position with its own
// latent cache. The projections (q_a/q_b or q_proj, kv_a_proj_with_mqa, the W_UK / W_UV
// absorption products, o_proj) run once over all R = Σ T_i rows, so each weight is read once per
// step instead of once per sequence; only the attention proper (scores and P·c_kv over a
// sequence's own cache, causal within its chunk) runs per sequence, in parallel over sequences.
//
// The absorbed form of mla.cpp is the reference (the same mla_absorb_query / mla_attend_latent /
// mla_absorb_output stages; small-head decode rows use latent_attention): for one sequence this computes
// the same operations in the same order (tests/model/test_batch_mla.cpp checks batched ==
// one-at-a-time forward()).
//
// Dims legend: n sequences, R = Σ T_i rows, S_i = pos_i + T_i cached tokens of sequence i after
// the step, H heads, C kv_lora_rank, dn qk_nope_head_dim, dr qk_rope_head_dim, dv v_head_dim,
// D hidden.
#pragma once
#include <cstdint>

#include "model/config.h"
#include "model/kv_cache.h"
#include "model/mla.h"
#include "model/weights.h"

namespace frugal {

class Arena;

// x_norm [R, D] (input_layernorm'ed; rows [row0[i], row0[i+1]) belong to caches[i]) -> out [R, D]
// (o_proj output). row0 [n + 1] are the row offsets (row0[0] = 0, row0[n] = R). Sequence i's
// tokens sit at positions pos_i = caches[i]->length() onwards; their [c_kv | k_pe] rows are
// written to caches[i]->layer(layer) from row pos_i. Lengths are not advanced here (the caller
// does that once after the last layer, like forward()).
void mla_forward_ragged(const DeepSeekConfig& cfg, const MlaWeights& w, const RopeTables& rope, const float* x_norm,
                        const int64_t* row0, int64_t n, int64_t layer, LatentKvCache* const* caches, Arena& arena,
                        float* out);

}  // namespace frugal
