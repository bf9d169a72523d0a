// The DeepSeek-V3 decoder for training: the forward that keeps what the backward needs (a tape per
// layer), and the backward beside it, over a micro-batch of B packed sequences of T tokens.
// docs/training.md, Objective: L = CE_main + λ · (1/D) Σ_k CE_mtp_k + Σ_moe-layers α Σ_i f_i P_i,
// every gradient multiplied by loss_scale (1/grad_accum, so micro-batches average).
//
// Per-token loss weights (post-training; TokenWeights below) turn each cross-entropy term into
//   CE = Σ_t w_t · CE_t / N       (t over rows with target >= 0)
// where an MTP row takes the weight of the position whose target it predicts (depth k, row (b, i)
// predicts targets[b, i+k+1] and takes w[b, i+k+1]), so SFT's masked prompt tokens are masked in
// every CE term. N is the caller's (TokenWeights::norm, shared by the main and every MTP term) or,
// when 0, each term's own number of targets >= 0 (the plain mean). The balance loss and the expert
// loads ignore the weights: every token is routed, prompt or not, and the balance term keeps its
// definition over all of them (set aux_alpha = 0 to drop it).
//
// Recomputation (docs/training.md, Recomputation), trading FLOPs for activation memory:
//   none: keep every layer's norms, attention internals (q, K/V, probabilities) and FFN activations;
//   attn: keep the FFN activations, but recompute the RMSNorms, the MLA up-projections and the
//         attention probabilities in the backward (V3's choice);
//   full: keep only each layer's input; rerun the layer's forward just before its backward.
// All three give bit-identical gradients (the recomputation runs the same code on the same data).
//
// Dims legend: B sequences, T tokens per sequence, N = B·T rows, D hidden, V vocab.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/arena.h"
#include "kernels/gemm_precision.h"
#include "model/config.h"
#include "model/mla.h"
#include "model/train_params.h"

namespace frugal {

enum class Recompute { kNone, kAttn, kFull };
Recompute parse_recompute(std::string_view s);  // "none" | "attn" | "full"; throws naming the value
const char* recompute_name(Recompute r);

struct TrainOptions {
  Recompute recompute = Recompute::kNone;
  double mtp_weight = 0.3;  // λ; 0 skips the MTP modules entirely (no forward, no gradient)
  double aux_alpha = 1e-4;  // α of the sequence-wise balance loss; 0 turns it off
  double loss_scale = 1.0;  // multiplies every gradient (1/grad_accum)
  // Of the linear layers' GEMMs (kernels/gemm_precision.h): the MLA projections, the dense and
  // expert MLPs, MTP's eh_proj. The embedding, lm_head, MoE gate, norms and attention core stay f32.
  Precision precision = Precision::kF32;
};

// Per-token weights of the cross-entropy terms of one micro-batch (see the header comment).
struct TokenWeights {
  const float* w = nullptr;  // [B, T], finite, any sign; null: every weight 1
  double norm = 0;           // N > 0 of every CE term; 0: each term's count of targets >= 0
};

// Soft targets of the main head (logit distillation): per row k ids and their probabilities
// (kernels/ops.h, soft_cross_entropy_forward_backward); rows whose hard target is < 0 are unscored.
// The MTP modules keep the hard targets.
struct SoftTargets {
  int64_t k = 0;                // 0: hard targets
  const int32_t* ids = nullptr;  // [B, T, k]
  const float* q = nullptr;      // [B, T, k]
};
struct StepLosses {
  double main = 0;     // next-token cross-entropy: mean over unmasked targets, or Σ w·CE / N weighted
  double mtp = 0;      // (1/D) Σ_k CE of MTP module k, weighted alike (λ not applied); 0 when off
  double balance = 0;      // Σ over the main model's MoE layers of α·mean_seq Σ_i f_i P_i
  double balance_mtp = 0;  // the same for MoE blocks of the MTP modules (also in the objective)
  int64_t main_count = 0, mtp_count = 0;  // unmasked targets
  // (token, slot) assignments per routed expert, for every MoE layer (main layers first, then the
  // MTP blocks'): the aux-loss-free bias update and MaxVio use them.
  std::vector<int64_t> moe_layers;            // checkpoint layer index of each entry below
  std::vector<std::vector<int64_t>> expert_load;  // [moe layer][E]
};

class TrainModel {
 public:
  // `params` must outlive the model; gradients are accumulated into params.*.g.
  TrainModel(const DeepSeekConfig& cfg, ModelParams& params);

  // inputs, targets [B, T] (target < 0: masked, no loss). Forward, backward, gradients += .
  // Throws kInvalidArgument on ids outside the vocabulary, a non-finite weight or a bad norm.
  // positions [B, T] (optional): packed documents, each restarting at position 0 and attending only
  // within itself (model/mla_train.h); MTP terms whose target lies in the next document are masked.
  // Throws kInvalidArgument unless every position is 0 or the previous row's + 1.
  StepLosses forward_backward(const int32_t* inputs, const int32_t* targets, int64_t B, int64_t T,
                              const TrainOptions& opt, const TokenWeights& weights = {},
                              const int32_t* positions = nullptr, const SoftTargets& soft = {});
  // The same losses without any gradient (validation); keeps one layer's activations at a time.
  StepLosses evaluate(const int32_t* inputs, const int32_t* targets, int64_t B, int64_t T, const TrainOptions& opt,
                      const TokenWeights& weights = {}, const int32_t* positions = nullptr,
                      const SoftTargets& soft = {});

  // High-water bytes of the activation tape and of the backward scratch since construction.
  size_t tape_high_water() const { return keep_.high_water(); }
  size_t scratch_high_water() const { return scratch_.high_water(); }

 private:
  struct LayerTape;
  struct MtpTape;
  StepLosses run(const int32_t* inputs, const int32_t* targets, int64_t B, int64_t T, const TrainOptions& opt,
                 const TokenWeights& weights, const int32_t* positions, const SoftTargets& soft, bool backward);
  void layer_forward(const LayerParams& lp, int64_t B, int64_t T, const int32_t* positions, const float* x_in,
                     float* x_out, Recompute rc, double aux_alpha, LayerTape& tape, StepLosses* losses,
                     int64_t layer_index, Arena& arena);
  void layer_backward(const LayerParams& lp, int64_t B, int64_t T, Recompute rc, double aux_alpha,
                      double balance_weight, LayerTape& tape, float* dx, int64_t layer_index);

  DeepSeekConfig cfg_;
  ModelParams& p_;
  RopeTables rope_;
  Arena keep_;     // the tape: lives from the forward to the end of the backward
  Arena scratch_;  // per-op temporaries and full-recompute tapes, rewound after each use
  Precision prec_ = Precision::kF32;  // of the current run(): TrainOptions::precision
};

}  // namespace frugal
