// One optimizer step of a DeepSeek-V3 model, reusable by every training loop (pretraining's
// run_training, and post-training: SFT, distillation, GRPO): the Trainer owns the f32 parameters,
// the AdamW moments, the lr schedule and the step counter, and step(micro_batches) runs
//   zero-grad -> forward/backward of every micro-batch (gradient accumulation) -> global-norm clip
//   + AdamW at the scheduled lr -> aux-loss-free routing-bias update from the step's expert loads.
// Data, telemetry, evaluation cadence and checkpoint files stay with the caller.
//
// Objective of a step of K micro-batches (docs/training.md): the mean over micro-batches,
//   L = (1/K) Σ_k [CE_main_k + λ·CE_mtp_k + balance_k],   CE_k = Σ_t w_t · CE_t / N_k
// with w_t the micro-batch's per-token weights (none: 1) and N_k its loss_norm (0: its number of
// targets >= 0, i.e. the plain mean). A token mean over the whole step with n tokens unmasked in
// all micro-batches is loss_norm = n / K on each (the 1/K of the mean cancels).
//
// Determinism: a step is a pure function of the parameters, moments, step counter and the
// micro-batches, for a fixed thread count. The gradient of K > 1 micro-batches is the sum of each
// micro-batch's own gradient (computed from zero) in the fixed tree of train/tree_sum.h, so data
// parallelism (set_data_parallel: P ranks, K/P micro-batches each) reproduces it bit for bit.
//
// Data parallelism (docs/distributed.md): every rank passes the same global micro-batches; rank r
// computes micro-batches [r·K/P, (r+1)·K/P) (K/P must be a power of two: then its local sum is one
// node of the tree), the gradient is reduce-scattered over the shards of the optimizer's chunk
// layout, and per-micro-batch losses and expert loads are gathered and summed in micro-batch order.
// Without ZeRO-1 the reduced shards are all-gathered and every rank runs the whole AdamW; with
// ZeRO-1 each rank holds the moments of its shard only, updates it, and the parameters are
// all-gathered. The gradient norm is combined from every shard's chunk partials in the one order.
#pragma once
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "kernels/gemm_precision.h"
#include "model/config.h"
#include "model/param_store.h"
#include "model/transformer_train.h"
#include <memory>

#include "train/checkpoint.h"
#include "train/data_parallel.h"
#include "train/optimizer.h"
#include "train/schedule.h"
#include "train/train_config.h"

namespace frugal {

// B sequences of T tokens: the model reads inputs and is scored on targets (target < 0: masked).
struct MicroBatch {
  int64_t B = 0, T = 0;
  std::vector<int32_t> inputs, targets;  // [B, T]
  std::vector<float> weights;            // [B, T] per-token loss weights (any sign); empty: unweighted
  std::vector<int32_t> positions;        // [B, T] packed documents (TrainModel::forward_backward); empty: none
  int64_t soft_k = 0;                    // soft targets of the main head (SoftTargets); 0: hard targets
  std::vector<int32_t> soft_ids;         // [B, T, soft_k]
  std::vector<float> soft_q;             // [B, T, soft_k]
  double loss_norm = 0;                  // N_k of the CE terms; 0: the number of targets >= 0
};

struct StepResult {
  int64_t step = 0;       // the step just taken, 1-based (== Trainer::step_count() after it)
  bool applied = false;   // false: the loss or the gradient was NaN/Inf, nothing was updated
  double loss = 0;        // (1/K) Σ_k CE_main_k
  double mtp_loss = 0;    // (1/K) Σ_k CE_mtp_k (λ not applied); 0 without MTP
  double balance_loss = 0;  // (1/K) Σ_k balance_k, the main model's and the MTP blocks' together
  double lr = 0;          // the scheduled lr of this step (also when skipped)
  double grad_norm = 0;   // global L2 norm before clipping (NaN/Inf when skipped for it)
  int64_t tokens = 0;     // Σ_k B·T
  int64_t scored = 0;     // Σ_k targets >= 0 (main head)
  // Routed (token, slot) assignments per expert summed over the micro-batches, per MoE layer
  // (main layers, then MTP blocks), and the largest MaxVio among those layers.
  std::vector<std::vector<int64_t>> expert_load;
  double moe_max_violation = 0;
};

struct TrainerSettings {
  AdamWConfig adamw;
  LrScheduleConfig schedule;
  TrainOptions model;       // recompute, λ, α; loss_scale is set by step() (1/K)
  double bias_gamma = 1e-3;  // γ of the aux-loss-free bias update
};
// The settings of a TrainConfig's [optim] and [train] sections.
TrainerSettings trainer_settings(const TrainConfig& c);

class Trainer {
 public:
  // Parameters are zero (fill them through store(): init_random, load_params_hf, or restore()).
  // The MTP modules are built when cfg has them. Throws kConfig on bad optimizer/schedule settings.
  Trainer(const DeepSeekConfig& cfg, const TrainerSettings& settings);
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // One optimizer step over the micro-batches (at least one). Throws kInvalidArgument on an empty
  // list, a micro-batch whose sizes disagree with B·T, or bad ids/weights (naming the micro-batch).
  StepResult step(const std::vector<MicroBatch>& micro_batches);

  // Makes this trainer one of comm->size() data-parallel ranks (null: a single process again);
  // zero1 shards the AdamW moments. Call before restore() and the first step. The moments restart
  // at zero unless restore() follows (a checkpoint holds whole tensors: any layout restores it).
  void set_data_parallel(DataParallelComm* comm, bool zero1);
  DataParallelComm* data_parallel() const { return dp_; }
  bool zero1() const { return zero1_; }
  // [offsets[r], offsets[r+1]) of the flat parameter buffer is rank r's shard ({0, total} alone).
  const std::vector<int64_t>& shard_offsets() const { return shard_offsets_; }

  // Losses without gradients (validation), with the step's options.
  StepLosses evaluate(const MicroBatch& mb);

  int64_t step_count() const { return step_; }
  const DeepSeekConfig& config() const { return store_.config(); }
  const TrainerSettings& settings() const { return settings_; }
  ParamStore& store() { return store_; }
  const ParamStore& store() const { return store_; }
  TrainModel& model() { return model_; }
  const AdamW& optimizer() const { return *adamw_; }
  const LrSchedule& schedule() const { return schedule_; }

  // Checkpoint state: every parameter and both moments of each trainable one (views valid until
  // the next step), and {"step", "optimizer"} for the meta JSON. With ZeRO-1, gather_state() (a
  // collective: every rank calls it) must come first; it assembles the whole moments.
  void gather_state();
  std::vector<CheckpointTensor> state_tensors() const;
  nlohmann::json state_json() const;
  // Restores what state_tensors/state_json saved (meta must hold "step" and "optimizer"); throws
  // kFormat naming the checkpoint when something is missing or has the wrong size.
  void restore(const LoadedCheckpoint& ckpt, const nlohmann::json& meta);

 private:
  TrainerSettings settings_;
  ParamStore store_;
  std::unique_ptr<AdamW> adamw_;
  LrSchedule schedule_;
  TrainModel model_;
  std::vector<float*> routing_bias_;  // per MoE layer in the order the forward reports loads; null: none
  int64_t step_ = 0;
  DataParallelComm* dp_ = nullptr;
  bool zero1_ = false;
  std::vector<int64_t> shard_offsets_;     // flat-buffer shard bounds, size P + 1
  std::vector<AdamWChunk> global_chunks_;  // the whole optimizer's chunks (the norm's combine order)
  std::vector<float> full_m_, full_v_;     // ZeRO-1: whole moments (flat layout) for a checkpoint
  int64_t gathered_step_ = -1;             // the step full_m_/full_v_ hold
};

}  // namespace frugal
