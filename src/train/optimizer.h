// AdamW with decoupled weight decay (Loshchilov & Hutter) and global-norm gradient clipping, as
// DeepSeek-V3 trains (β1 0.9, β2 0.95, wd 0.1, clip 1.0; docs/training.md, Hyper-parameters).
// Per element, at step t:
//   g ← g · min(1, clip / (‖g‖ + 1e-6))             ‖g‖ = L2 norm over all tensors together
//   m ← β1 m + (1−β1) g          v ← β2 v + (1−β2) g²
//   w ← w·(1 − lr·wd) − lr · (m / (1−β1^t)) / (sqrt(v / (1−β2^t)) + eps)    (wd only if `decay`)
//
// Determinism: the update is element-wise and done in fixed chunks, so any thread count gives the
// same bits. The norm is summed in double over fixed chunks whose partial sums are combined in a
// fixed order (chunks in order within a tensor, tensors in list order), so it is thread-count
// independent too. Moments are f32 (like PyTorch's) or, with AdamWConfig::bf16_moments, bf16 as
// V3 keeps them (V3 report §3.3.4): computed in f32 each step from the stored bf16 values, the
// step's weight update uses the f32 values, then they are rounded to bf16 (to nearest, ties to
// even) for storage, halving the optimizer state's memory. Checkpoints store the moments as f32
// either way (bf16 values are exact in f32), so a checkpoint restores them exactly.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.h"
#include "train/checkpoint.h"

namespace frugal {

struct AdamWConfig {
  double beta1 = 0.9;
  double beta2 = 0.95;
  double eps = 1e-8;
  double weight_decay = 0.1;  // decoupled; applied to tensors flagged `decay` (the caller flags every 2-D tensor)
  double grad_clip = 1.0;     // max global L2 norm; <= 0 disables clipping
  bool bf16_moments = false;  // store m and v in bf16 (see the top of this file); f32 otherwise
};
void validate(const AdamWConfig& cfg);  // throws kConfig naming the field ("optim.beta2 = 1.5 ...")

// One parameter tensor: `w` (updated in place) and its gradient `g`, n elements each.
// The pointers must stay valid for the optimizer's lifetime (g is read at each step()).
struct AdamWParam {
  std::string name;
  float* w = nullptr;
  const float* g = nullptr;
  int64_t n = 0;
  bool decay = false;
  Shape shape;  // for checkpoints; empty means {n}
  // A slice of a larger tensor (ZeRO-1 shards, docs/distributed.md): w, g and the moments hold
  // elements [offset, offset + n) of the tensor `shape` describes (slice = true only).
  int64_t offset = 0;
  bool slice = false;
};

// The fixed work units of the optimizer: kAdamWChunk elements from the start of each tensor.
// A slice that starts on a chunk boundary of its tensor has the same chunks as the whole tensor,
// so sharding on chunk boundaries changes neither the update nor the norm's partial sums.
inline constexpr int64_t kAdamWChunk = 16384;
struct AdamWChunk {
  size_t param;
  int64_t begin, end;
};
std::vector<AdamWChunk> adamw_chunks(const std::vector<AdamWParam>& params);
// Σ g² of each chunk (in double, fixed lanes), in chunk order.
std::vector<double> grad_norm_partials(const std::vector<AdamWParam>& params, const std::vector<AdamWChunk>& chunks);
// The squared norm from the partials of `chunks`: chunks of a tensor in order, then tensors in
// list order (the one combine tree; a sharded optimizer gathers the partials and calls this).
double combine_norm_partials(const std::vector<AdamWChunk>& chunks, const std::vector<double>& partials);
// Given this optimizer's chunk partials, the squared global norm over every shard (set by data parallelism).
using GradNormReducer = std::function<double(const std::vector<double>& local_partials)>;

struct AdamWStepResult {
  double grad_norm = 0;   // global L2 norm before clipping
  double clip_scale = 1;  // the factor the gradients were multiplied by (as applied, in f32)
  bool applied = false;   // false: the norm was NaN/Inf, nothing changed (caller counts a skipped step)
};

// Global L2 norm of the gradients, deterministic for any thread count. NaN/Inf if any g is.
double global_grad_norm(const std::vector<AdamWParam>& params);
// min(1, clip / (norm + 1e-6)) rounded to f32 (clip <= 0: 1).
float grad_clip_scale(double norm, double clip);

class AdamW {
 public:
  // Moments start at zero, step count at 0. Throws kInvalidArgument on duplicate names, null
  // pointers or negative sizes.
  AdamW(std::vector<AdamWParam> params, AdamWConfig cfg);

  // One optimizer step at learning rate `lr` (from the schedule). When the gradient norm is not
  // finite nothing is touched (weights, moments and step count stay) and applied = false.
  AdamWStepResult step(double lr);
  // A sharded optimizer's global norm: its partials go through `r` (null: this optimizer's alone).
  void set_norm_reducer(GradNormReducer r) { norm_reducer_ = std::move(r); }

  int64_t step_count() const { return t_; }  // applied steps so far
  const AdamWConfig& config() const { return cfg_; }
  const std::vector<AdamWParam>& params() const { return params_; }
  // m and v of params()[i] as f32 (widened from bf16 with bf16_moments), by value.
  std::vector<float> exp_avg(size_t i) const { return moment_f32(m_[i], mb_[i]); }
  std::vector<float> exp_avg_sq(size_t i) const { return moment_f32(v_[i], vb_[i]); }
  // Bytes the moments take (2 or 4 per element each): the optimizer state of the memory report.
  int64_t state_bytes() const;

  // Checkpoint export: views of "<name>.exp_avg" and "<name>.exp_avg_sq" for every param (valid
  // until the next step(); f32, widened from bf16 with bf16_moments), and {"step": t,
  // "moments": "f32" | "bf16"} for the meta JSON. import_state refuses a change of moment dtype.
  // Throws kInvalidArgument when a param is a slice (a sharded optimizer's owner gathers instead).
  std::vector<CheckpointTensor> state_tensors() const;
  nlohmann::json state_json() const;
  // Restores moments and step count; throws kFormat naming the checkpoint and tensor when a
  // moment is missing or has the wrong size, or `state` lacks a non-negative integer "step".
  // A slice reads its elements of the whole saved tensor (so any sharding restores any checkpoint).
  void import_state(const nlohmann::json& state, const LoadedCheckpoint& ckpt);

 private:
  std::vector<AdamWParam> params_;
  AdamWConfig cfg_;
  std::vector<std::vector<float>> m_, v_;         // (n) per param, f32 moments (empty with bf16_moments)
  std::vector<std::vector<uint16_t>> mb_, vb_;    // (n) per param, bf16 moments (empty without)
  mutable std::vector<std::vector<float>> export_;  // state_tensors()' f32 copies of bf16 moments
  static std::vector<float> moment_f32(const std::vector<float>& f, const std::vector<uint16_t>& b);
  int64_t t_ = 0;
  GradNormReducer norm_reducer_;
};

// Plain double-precision reference of one AdamW update of one tensor (the spec; tests only).
// g is the already-clipped gradient; t the 1-based step.
void adamw_update_ref(double* w, double* m, double* v, const double* g, int64_t n, int64_t t, double lr,
                      const AdamWConfig& cfg, bool decay);

}  // namespace frugal
