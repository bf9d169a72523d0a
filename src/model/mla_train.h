// Multi-head latent attention for training: forward that records a tape, and the exact backward
// (docs/model.md, MLA naive form: K/V decompressed — in training every token's K/V is needed anyway, and
// 192/128-dim heads cost fewer FLOPs than the 576/512-dim absorbed form). The inference twin is
// model/mla.h; tests/model/test_mla_train.cpp checks the two forwards agree and the backward against
// finite differences of a double-precision scalar reference.
//
// Layout of a batch: B sequences of T tokens, rows n = b·T + t, token t at position t in every
// sequence; attention is causal within a sequence and never crosses sequences (packed documents
// are not masked from each other, as in V3 pre-training). With `positions` (SFT's packing,
// docs/posttrain.md, SFT) row n is at position positions[n] instead: a position of 0 starts a new
// document, every other one continues the previous row's (positions[n] = positions[n-1] + 1), and
// query t attends only to keys [t − positions[n], t], its own document. The masked scores are set
// to −inf before the softmax, so they get probability exactly 0 and gradient exactly 0, and a
// document packed behind others computes what it computes alone (tests/model/test_packing.cpp).
//
// Recomputation (docs/training.md, Recomputation, `--recompute attn`): with save_internals = false the tape holds only
// the two down-projection outputs (c_q before its norm, [c_kv | k_pe] before norm / RoPE), and the
// backward recomputes the RMSNorms, the up-projections (q_b_proj, kv_b_proj) and the attention
// probabilities with the same code, so the gradients are bit-identical to save_internals = true.
//
// Parallelism: every projection is one GEMM over all B·T rows (multi-threaded OpenBLAS); the
// attention runs one job per (sequence, head) pair on OpenMP threads with single-threaded GEMMs.
// Each job writes disjoint memory and the one cross-head sum (∂k_pe, k_pe being shared by all
// heads) is reduced in a fixed head order afterwards, so results do not depend on the schedule.
// Causality is exploited in query blocks of kMlaQueryBlock rows: block i only multiplies against
// keys [0, (i+1)·kMlaQueryBlock), which skips most of the masked half of the T×T products.
//
// Dims legend: B sequences, T tokens each, N = B·T rows, D hidden, H heads, Qr q_lora_rank,
// C kv_lora_rank, dn qk_nope_head_dim, dr qk_rope_head_dim, dv v_head_dim, dq = dn + dr.
#pragma once
#include <cstdint>

#include "kernels/gemm_precision.h"
#include "model/config.h"
#include "model/mla.h"
#include "model/train_params.h"

namespace frugal {

class Arena;

// Query rows per causal block (see above). Tests use T > 2·kMlaQueryBlock to cover partial blocks.
inline constexpr int64_t kMlaQueryBlock = 64;

// Activations the backward needs; the pointers live in the `keep` arena given to the forward.
struct MlaTape {
  int64_t B = 0, T = 0;
  bool save_internals = false;
  const int32_t* positions = nullptr;  // [N] per-row positions (see above), or null: t in each sequence
  // Always kept:
  float* cq_raw = nullptr;   // [N, Qr] q_a_proj output before q_a_layernorm (null when Qr == 0)
  float* ckv_raw = nullptr;  // [N, C + dr] kv_a_proj_with_mqa output: c_kv before its norm | k_pe before RoPE
  // Kept only with save_internals (else null; the backward recomputes them):
  float* cq = nullptr;   // [N, Qr] normalised c_q (null when Qr == 0)
  float* q = nullptr;    // [N, H·dq] queries, q_pe rotated
  float* ckv = nullptr;  // [N, C + dr] normalised c_kv | rotated k_pe
  float* kv = nullptr;   // [N, H·(dn + dv)] decompressed k_nope / v per head (kv_b_proj output)
  float* p = nullptr;    // [B·H, T, T] attention probabilities (only the causal part is defined)
  float* o = nullptr;    // [N, H·dv] attention output, the o_proj input
};

// x_norm [N, D] (input_layernorm output) -> out [N, D] (o_proj output). The tape's buffers are
// allocated from `keep`; temporaries also come from `keep` but are rewound before returning, so
// after the call `keep` holds only the tape. x_norm must stay unchanged until the backward.
// `prec` (kernels/gemm_precision.h) applies to the projections (q_a/q_b/q_proj, kv_a, kv_b, o_proj),
// forward and backward; the attention core (QKᵀ, softmax, P·V) stays f32.
void mla_train_forward(const DeepSeekConfig& cfg, const MlaParams& p, const RopeTables& rope, const float* x_norm,
                       int64_t B, int64_t T, bool save_internals, Arena& keep, MlaTape& tape, float* out,
                       const int32_t* positions = nullptr, Precision prec = Precision::kF32);

// `positions` [N] (or null) must stay valid until the backward, which reads it from the tape.
//
// dout [N, D] -> dx_norm [N, D] (overwritten; must not alias x_norm or dout). Parameter gradients
// are accumulated (+=) into p.*.g; a Param whose g is null is skipped. Temporaries come from
// `scratch`, rewound before returning. Deterministic: the same inputs give bit-identical gradients
// on every run at a fixed thread count (not across thread counts: OpenBLAS's multi-threaded GEMMs
// round differently from its single-threaded ones).
void mla_train_backward(const DeepSeekConfig& cfg, const MlaParams& p, const RopeTables& rope, const float* x_norm,
                        int64_t B, int64_t T, const MlaTape& tape, const float* dout, float* dx_norm,
                        Arena& scratch, Precision prec = Precision::kF32);

// FLOPs of one forward over B·T rows as computed (GEMMs only; attention counts the causal blocks
// actually multiplied). The backward costs about twice this, plus one forward when recomputing.
double mla_train_forward_flops(const DeepSeekConfig& cfg, int64_t B, int64_t T);

}  // namespace frugal
