// Batched MLA decode for continuous batching: n sequences, one new token each, every sequence at
// its own position with its own latent cache. The projections (q_a/q_b or q_proj,
// kv_a_proj_with_mqa, the W_UK / W_UV absorption products, o_proj) run once over all n rows, so
// each weight is read once per step instead of once per sequence; only the attention proper
// (scores and P·c_kv over a sequence's own cache) runs per sequence, in parallel over sequences.
//
// The absorbed form of mla.cpp (attend_absorbed) with T = 1 per sequence is the reference: for
// n = 1 this computes the same operations in the same order (tests/model/test_batch_decode.cpp
// checks batched == one-at-a-time forward()).
//
// Dims legend: n sequences (rows), S_i = pos_i + 1 cached tokens of sequence i, H heads,
// C kv_lora_rank, dn qk_nope_head_dim, dr qk_rope_head_dim, dv v_head_dim, D hidden.
#pragma once
#include <cstdint>

#include "model/config.h"
#include "model/kv_cache.h"
#include "model/mla.h"
#include "model/weights.h"

namespace frugal {

class Arena;

// x_norm [n, D] (input_layernorm'ed, row i belongs to caches[i]) -> out [n, D] (o_proj output).
// Sequence i's token sits at position pos_i = caches[i]->length(); its [c_kv | k_pe] row is
// written to row pos_i of caches[i]->layer(layer). Lengths are not advanced here (the caller does
// that once after the last layer, like forward()).
void mla_decode_batch(const DeepSeekConfig& cfg, const MlaWeights& w, const RopeTables& rope, const float* x_norm,
                      int64_t n, int64_t layer, LatentKvCache* const* caches, Arena& arena, float* out);

}  // namespace frugal
