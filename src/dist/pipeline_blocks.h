// A pipeline-parallel model built from the model's own layer code, to run and check the schedules
// end to end (docs/distributed.md, Pipeline): L dense DeepSeek-V3 decoder layers
//   h = x + MLA(RMSNorm_attn(x)),   y = h + MLP(RMSNorm_ffn(h))
// with the model's training kernels (model/mla_train.h: multi-head latent attention with q and kv
// low-rank compression and decoupled RoPE; model/mlp_train.h: SwiGLU). Not the whole TrainModel:
// no embedding, output head, MoE layers or MTP modules (TrainModel's layer forward/backward are
// private and have no per-stage entry point yet); the stage input is a given [N, D] activation.
//
// Micro-batch mb's input X_mb [N, D] (B sequences of T rows) and target Y_mb [N, D] come from the
// seed; the loss is L_mb = Σ (y − Y_mb)² / (2·N·D), the step's loss (1/M) Σ_mb L_mb, and each
// micro-batch's gradient is scaled by 1/M (as grad-accum averages).
//
// The backward is split as zero-bubble schedules need it: backward_input computes only activation
// gradients (every weight gradient pointer null), backward_weight only the weight gradients from
// the saved output gradients (MLA's backward reruns its activation part to get them: on a CPU the
// split costs that recomputation). The bits equal the one-pass backward's: the same operations on
// the same data.
//
// Gradient order (docs/distributed.md, Determinism): one process computes each micro-batch's
// gradient into a zeroed buffer and sums the M of them in the tree of train/tree_sum.h. A stage does
// the same with its layers' slice: per micro-batch into zeroed buffers, the tree over its
// micro-batches in order. With 1F1B / ZB1P every stage sees all M micro-batches: bit-identical. With
// DualPipe a stage's layers live on two ranks, one summing micro-batches [0, M/2), the other
// [M/2, M); their two sums are added, which is the root of the tree when M is a power of two
// (bit-identical) and a regrouping otherwise (within the bound the tests derive).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "core/arena.h"
#include "dist/communicator.h"
#include "dist/pipeline_exec.h"
#include "model/config.h"
#include "model/mla.h"
#include "model/train_params.h"
#include "train/tree_sum.h"

namespace frugal::dist {

struct PipeBlocksConfig {
  int64_t layers = 4;
  int64_t hidden = 32;        // D
  int64_t intermediate = 48;  // F
  int64_t rows = 16;          // N rows (tokens) per micro-batch: B = rows / seq sequences
  int64_t seq = 8;            // T tokens per sequence (causal attention within it)
  int64_t heads = 2, q_lora_rank = 16, kv_lora_rank = 16, qk_nope_head_dim = 8, qk_rope_head_dim = 4, v_head_dim = 8;
  float eps = 1e-6f;
  uint64_t seed = 1;
};

// The model config of these layers (dense, no MoE); throws kInvalidArgument on bad sizes.
DeepSeekConfig pipe_blocks_model_config(const PipeBlocksConfig& cfg);

// The parameters of layers [l0, l1) in one flat buffer (layer by layer: input_layernorm, the MLA
// tensors, post_attention_layernorm, the MLP's), values from the seed (the same for a layer
// wherever it lives), and their gradient.
class PipeBlockParams {
 public:
  PipeBlockParams(const PipeBlocksConfig& cfg, int64_t l0, int64_t l1);
  static int64_t layer_numel(const PipeBlocksConfig& cfg);
  int64_t numel() const { return int64_t(w_.size()); }
  float* weights() { return w_.data(); }
  float* grads() { return g_.data(); }
  const float* grads() const { return g_.data(); }
  int64_t first_layer() const { return l0_; }
  int64_t layer_count() const { return int64_t(mlp_.size()); }
  // Layer i of this chunk: its two norms (w, g), attention and MLP; *_no_grad: the same with null
  // gradients (their backward then computes only the input gradient).
  const Param& attn_norm(int64_t i) const { return attn_norm_[size_t(i)]; }
  const Param& ffn_norm(int64_t i) const { return ffn_norm_[size_t(i)]; }
  const MlaParams& mla(int64_t i) const { return mla_[size_t(i)]; }
  const MlpParams& mlp(int64_t i) const { return mlp_[size_t(i)]; }
  MlaParams mla_no_grad(int64_t i) const;
  MlpParams mlp_no_grad(int64_t i) const;
  const DeepSeekConfig& model_config() const { return model_; }
  const RopeTables& rope() const { return rope_; }
  const PipeBlocksConfig& cfg() const { return cfg_; }

 private:
  PipeBlocksConfig cfg_;
  DeepSeekConfig model_;
  RopeTables rope_;
  int64_t l0_;
  std::vector<float> w_, g_;
  std::vector<Param> attn_norm_, ffn_norm_;
  std::vector<MlaParams> mla_;
  std::vector<MlpParams> mlp_;
};

// Micro-batch mb's input and target [N, D], from the seed.
std::vector<float> pipe_blocks_input(const PipeBlocksConfig& cfg, int mb);
std::vector<float> pipe_blocks_target(const PipeBlocksConfig& cfg, int mb);

struct PipeBlocksResult {
  std::vector<double> losses;  // [M] L_mb
  double loss = 0;             // (1/M) Σ L_mb, summed in micro-batch order
};

// One process, all layers: forward, whole backward per micro-batch, gradients tree-summed into
// p.grads() (p must hold every layer). per_mb_grads (optional) receives each micro-batch's gradient.
PipeBlocksResult pipe_blocks_reference_step(PipeBlockParams& p, int M,
                                            std::vector<std::vector<float>>* per_mb_grads = nullptr);

// One rank's chunks of a pipeline-parallel step over the same model (layers split evenly into P
// stages: layers % P must be 0).
class PipeBlocksStage final : public PipeStageCompute {
 public:
  PipeBlocksStage(const PipeBlocksConfig& cfg, const PipeSchedule& s, int rank);
  ~PipeBlocksStage() override;
  int64_t activation_elems() const override { return cfg_.rows * cfg_.hidden; }
  void forward(int dir, int mb, const float* in, float* out) override;
  void backward_input(int dir, int mb, const float* dout, float* din) override;
  void backward_weight(int dir, int mb) override;

  // After run_pipeline: every rank's chunk gradients become the full-batch gradients of their
  // stage (DualPipe: the two ranks holding a stage exchange their halves) and every rank gets the
  // M losses. Collective: every rank calls it.
  PipeBlocksResult finish_step(Communicator& comm);
  // The chunk of direction dir (its stage's layers, weights and gradients).
  PipeBlockParams& chunk(int dir) { return *chunks_[size_t(dir)]; }
  // w -= lr · g on every chunk (both copies of a stage get the same update).
  void sgd(float lr);

 private:
  struct Tape;
  PipeBlocksConfig cfg_;
  const PipeSchedule& s_;
  int rank_;
  std::vector<std::unique_ptr<PipeBlockParams>> chunks_;  // [dir]
  std::map<int, std::unique_ptr<Tape>> tapes_;             // by micro-batch
  std::unique_ptr<Arena> scratch_;                         // backward temporaries
  std::vector<TreeAccumulator> acc_;                       // [dir] the chunk's micro-batch gradients
  std::vector<int> last_w_;                                // [dir] last micro-batch whose W ran
  std::vector<std::pair<int, double>> losses_;             // (mb, L_mb) computed here
};

}  // namespace frugal::dist
