#include "dist/pipeline_blocks.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/rng.h"
#include "kernels/ops.h"
#include "model/mla_train.h"
#include "model/mlp_train.h"
#include "model/rope_yarn.h"

namespace frugal::dist {

namespace {

// Distinct streams per layer and per micro-batch (inputs and targets), from the seed.
uint64_t pipe_stream(uint64_t seed, uint64_t kind, uint64_t index) {
  return seed * 0x9E3779B97F4A7C15ull + kind * 0x100000001B3ull + index * 0xC2B2AE3D27D4EB4Full;
}

std::vector<float> pipe_normal(uint64_t stream, int64_t n, float scale) {
  Rng rng(stream);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = scale * rng.normal();
  return v;
}

// One micro-batch's activations through one layer: its input, the attention norm's output and
// the MLA tape (in `keep`), h, the FFN norm's output and the MLP tape; after backward_input also
// the output gradients the weight gradients need.
struct PipeLayerTape {
  std::vector<float> x, xn1, h, xn2, g, u, hm;  // [N, D] / [N, F]
  std::unique_ptr<Arena> keep;                  // MLA's tape buffers
  MlaTape mla;
  std::vector<float> dy, dxn2, dh, dxn1;  // ∂y, ∂xn2, ∂h, ∂xn1 [N, D]
};

MlpTape pipe_mlp_tape(const PipeBlocksConfig& c, PipeLayerTape& t) {
  return MlpTape{t.g.data(), t.u.data(), t.hm.data(), c.rows, c.intermediate};
}

// x [N, D] through the layers of p; writes each layer's tape and returns the output.
std::vector<float> pipe_blocks_forward(const PipeBlockParams& p, const float* x0, std::vector<PipeLayerTape>& tapes) {
  const PipeBlocksConfig& c = p.cfg();
  const int64_t N = c.rows, D = c.hidden, F = c.intermediate, T = c.seq, B = N / T;
  std::vector<float> x(x0, x0 + N * D), y(size_t(N * D));
  tapes.clear();
  tapes.resize(size_t(p.layer_count()));
  for (int64_t i = 0; i < p.layer_count(); ++i) {
    PipeLayerTape& t = tapes[size_t(i)];
    t.x = x;
    t.xn1.resize(size_t(N * D));
    rmsnorm_forward(x.data(), D, p.attn_norm(i).w, N, D, c.eps, t.xn1.data(), D);
    t.keep = std::make_unique<Arena>(size_t(1) << 16);
    mla_train_forward(p.model_config(), p.mla(i), p.rope(), t.xn1.data(), B, T, /*save_internals=*/true, *t.keep,
                      t.mla, y.data());
    t.h.resize(size_t(N * D));
    for (int64_t k = 0; k < N * D; ++k) t.h[size_t(k)] = x[size_t(k)] + y[size_t(k)];
    t.xn2.resize(size_t(N * D));
    rmsnorm_forward(t.h.data(), D, p.ffn_norm(i).w, N, D, c.eps, t.xn2.data(), D);
    t.g.resize(size_t(N * F));
    t.u.resize(size_t(N * F));
    t.hm.resize(size_t(N * F));
    mlp_train_forward_buffers(p.mlp(i), t.xn2.data(), N, D, pipe_mlp_tape(c, t), y.data());
    for (int64_t k = 0; k < N * D; ++k) x[size_t(k)] = t.h[size_t(k)] + y[size_t(k)];
  }
  return x;
}

// L = Σ (y − t)² / (2·N·D) in double, in element order; dy = (y − t) / (N·D·M) in f32.
double pipe_blocks_loss(const PipeBlocksConfig& c, int M, const std::vector<float>& y, const std::vector<float>& t,
                        std::vector<float>& dy) {
  const double nd = double(c.rows * c.hidden);
  const float scale = float(1.0 / (nd * M));
  double sum = 0;
  dy.resize(y.size());
  for (size_t k = 0; k < y.size(); ++k) {
    const float d = y[k] - t[k];
    sum += double(d) * double(d);
    dy[k] = d * scale;
  }
  return sum / (2 * nd);
}

// The backward of layer i, from dy (∂ of its output; becomes ∂ of its input). with_weights: the
// one-pass backward (weight gradients accumulated too); otherwise input gradients only, and the
// output gradients each weight gradient needs are saved in the tape.
void pipe_layer_backward(const PipeBlockParams& p, int64_t i, PipeLayerTape& t, std::vector<float>& dy,
                         bool with_weights, Arena& scratch) {
  const PipeBlocksConfig& c = p.cfg();
  const int64_t N = c.rows, D = c.hidden, F = c.intermediate, T = c.seq, B = N / T;
  std::vector<float> dxn(size_t(N * D)), dxr(size_t(N * D)), dg(size_t(N * F)), du(size_t(N * F));
  if (!with_weights) t.dy = dy;
  // FFN half: ∂xn2 = MLP'(∂y), ∂h = ∂y + RMSNorm_ffn'(∂xn2).
  mlp_train_backward_buffers(with_weights ? p.mlp(i) : p.mlp_no_grad(i), t.xn2.data(), N, D, pipe_mlp_tape(c, t),
                             dy.data(), dxn.data(), dg.data(), du.data());
  rmsnorm_backward(t.h.data(), D, p.ffn_norm(i).w, N, D, c.eps, dxn.data(), D, dxr.data(), D,
                   with_weights ? p.ffn_norm(i).g : nullptr);
  if (!with_weights) t.dxn2 = dxn;
  for (int64_t k = 0; k < N * D; ++k) dy[size_t(k)] = dy[size_t(k)] + dxr[size_t(k)];
  // Attention half: ∂xn1 = MLA'(∂h), ∂x = ∂h + RMSNorm_attn'(∂xn1).
  if (!with_weights) t.dh = dy;
  mla_train_backward(p.model_config(), with_weights ? p.mla(i) : p.mla_no_grad(i), p.rope(), t.xn1.data(), B, T, t.mla,
                     dy.data(), dxn.data(), scratch);
  rmsnorm_backward(t.x.data(), D, p.attn_norm(i).w, N, D, c.eps, dxn.data(), D, dxr.data(), D,
                   with_weights ? p.attn_norm(i).g : nullptr);
  if (!with_weights) t.dxn1 = dxn;
  for (int64_t k = 0; k < N * D; ++k) dy[size_t(k)] = dy[size_t(k)] + dxr[size_t(k)];
}

// The weight gradients of layer i from the output gradients backward_input saved.
void pipe_layer_weight_grads(const PipeBlockParams& p, int64_t i, PipeLayerTape& t, Arena& scratch) {
  const PipeBlocksConfig& c = p.cfg();
  const int64_t N = c.rows, D = c.hidden, F = c.intermediate, T = c.seq, B = N / T;
  std::vector<float> dxr(size_t(N * D)), dxn(size_t(N * D)), dg(size_t(N * F)), du(size_t(N * F));
  mlp_train_backward_buffers(p.mlp(i), t.xn2.data(), N, D, pipe_mlp_tape(c, t), t.dy.data(), nullptr, dg.data(),
                             du.data());
  rmsnorm_backward(t.h.data(), D, p.ffn_norm(i).w, N, D, c.eps, t.dxn2.data(), D, dxr.data(), D, p.ffn_norm(i).g);
  // MLA has no weights-only entry point: its backward also recomputes ∂xn1 (discarded here).
  mla_train_backward(p.model_config(), p.mla(i), p.rope(), t.xn1.data(), B, T, t.mla, t.dh.data(), dxn.data(),
                     scratch);
  rmsnorm_backward(t.x.data(), D, p.attn_norm(i).w, N, D, c.eps, t.dxn1.data(), D, dxr.data(), D, p.attn_norm(i).g);
}

// The tensor shapes of one layer in buffer order, and which are norm vectors.
struct PipeTensorShape {
  int64_t rows, cols;
  bool norm;
};
std::vector<PipeTensorShape> pipe_layer_shapes(const PipeBlocksConfig& c) {
  const int64_t D = c.hidden, H = c.heads, dq = c.qk_nope_head_dim + c.qk_rope_head_dim;
  return {{1, D, true},
          {c.q_lora_rank, D, false},
          {1, c.q_lora_rank, true},
          {H * dq, c.q_lora_rank, false},
          {c.kv_lora_rank + c.qk_rope_head_dim, D, false},
          {1, c.kv_lora_rank, true},
          {H * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank, false},
          {D, H * c.v_head_dim, false},
          {1, D, true},
          {c.intermediate, D, false},
          {c.intermediate, D, false},
          {D, c.intermediate, false}};
}

}  // namespace

DeepSeekConfig pipe_blocks_model_config(const PipeBlocksConfig& c) {
  if (c.layers < 1 || c.hidden < 1 || c.intermediate < 1 || c.seq < 1 || c.rows < c.seq || c.rows % c.seq != 0 ||
      c.heads < 1 || c.q_lora_rank < 1 || c.kv_lora_rank < 1 || c.qk_nope_head_dim < 1 || c.qk_rope_head_dim < 2 ||
      c.qk_rope_head_dim % 2 != 0 || c.v_head_dim < 1)
    fail(ErrorKind::kInvalidArgument,
         "pipeline blocks: bad sizes (layers {}, hidden {}, intermediate {}, rows {} in sequences of {}: rows must be a "
         "multiple of seq; heads {}, ranks {}/{}, head dims {}/{}/{}: rope dim even)",
         c.layers, c.hidden, c.intermediate, c.rows, c.seq, c.heads, c.q_lora_rank, c.kv_lora_rank,
         c.qk_nope_head_dim, c.qk_rope_head_dim, c.v_head_dim);
  DeepSeekConfig m;
  m.hidden_size = c.hidden;
  m.intermediate_size = c.intermediate;
  m.num_hidden_layers = c.layers;
  m.num_attention_heads = c.heads;
  m.q_lora_rank = c.q_lora_rank;
  m.kv_lora_rank = c.kv_lora_rank;
  m.qk_nope_head_dim = c.qk_nope_head_dim;
  m.qk_rope_head_dim = c.qk_rope_head_dim;
  m.v_head_dim = c.v_head_dim;
  m.rms_norm_eps = c.eps;
  m.max_position_embeddings = c.seq;
  m.vocab_size = 1;
  return m;
}

int64_t PipeBlockParams::layer_numel(const PipeBlocksConfig& cfg) {
  int64_t n = 0;
  for (const PipeTensorShape& t : pipe_layer_shapes(cfg)) n += t.rows * t.cols;
  return n;
}

PipeBlockParams::PipeBlockParams(const PipeBlocksConfig& cfg, int64_t l0, int64_t l1)
    : cfg_(cfg), model_(pipe_blocks_model_config(cfg)), l0_(l0) {
  FRUGAL_ASSERT(l0 >= 0 && l1 >= l0 && l1 <= cfg.layers, "layers [{}, {}) of {}", l0, l1, cfg.layers);
  rope_.inv_freq = rope_inv_freq(model_);
  rope_.mscale = yarn_cos_sin_mscale(model_);
  rope_.softmax_scale = float(softmax_scale(model_));
  const int64_t per = layer_numel(cfg);
  w_.resize(size_t((l1 - l0) * per));
  g_.assign(w_.size(), 0.0f);
  for (int64_t l = l0; l < l1; ++l) {
    // Norm weights near 1, projections ~ N(0, 1/cols): activations stay O(1) through the
    // residual stack, so the tests' differences are not lost under rounding.
    const std::vector<float> v = pipe_normal(pipe_stream(cfg.seed, 1, uint64_t(l)), per, 1.0f);
    std::vector<Param> ps;
    int64_t off = (l - l0) * per, k = 0;
    for (const PipeTensorShape& t : pipe_layer_shapes(cfg)) {
      Param prm{w_.data() + off, g_.data() + off, t.rows, t.cols};
      const float sd = t.norm ? 0.1f : 1.0f / std::sqrt(float(t.cols));
      for (int64_t e = 0; e < t.rows * t.cols; ++e, ++k) prm.w[e] = (t.norm ? 1.0f : 0.0f) + sd * v[size_t(k)];
      ps.push_back(prm);
      off += t.rows * t.cols;
    }
    attn_norm_.push_back(ps[0]);
    MlaParams a;
    a.q_a_proj = ps[1];
    a.q_a_layernorm = ps[2];
    a.q_b_proj = ps[3];
    a.kv_a_proj_with_mqa = ps[4];
    a.kv_a_layernorm = ps[5];
    a.kv_b_proj = ps[6];
    a.o_proj = ps[7];
    mla_.push_back(a);
    ffn_norm_.push_back(ps[8]);
    MlpParams m;
    m.gate_proj = ps[9];
    m.up_proj = ps[10];
    m.down_proj = ps[11];
    mlp_.push_back(m);
  }
}

MlaParams PipeBlockParams::mla_no_grad(int64_t i) const {
  MlaParams a = mla_[size_t(i)];
  for (Param* prm : {&a.q_a_proj, &a.q_a_layernorm, &a.q_b_proj, &a.q_proj, &a.kv_a_proj_with_mqa, &a.kv_a_layernorm,
                     &a.kv_b_proj, &a.o_proj})
    prm->g = nullptr;
  return a;
}

MlpParams PipeBlockParams::mlp_no_grad(int64_t i) const {
  MlpParams m = mlp_[size_t(i)];
  m.gate_proj.g = m.up_proj.g = m.down_proj.g = nullptr;
  return m;
}

std::vector<float> pipe_blocks_input(const PipeBlocksConfig& cfg, int mb) {
  return pipe_normal(pipe_stream(cfg.seed, 2, uint64_t(mb)), cfg.rows * cfg.hidden, 1.0f);
}

std::vector<float> pipe_blocks_target(const PipeBlocksConfig& cfg, int mb) {
  return pipe_normal(pipe_stream(cfg.seed, 3, uint64_t(mb)), cfg.rows * cfg.hidden, 1.0f);
}

PipeBlocksResult pipe_blocks_reference_step(PipeBlockParams& p, int M, std::vector<std::vector<float>>* per_mb_grads) {
  const PipeBlocksConfig& c = p.cfg();
  FRUGAL_ASSERT(p.first_layer() == 0 && p.layer_count() == c.layers, "reference needs every layer");
  PipeBlocksResult res;
  TreeAccumulator acc(p.numel());
  Arena scratch(size_t(1) << 16);
  std::vector<float> dy;
  for (int mb = 0; mb < M; ++mb) {
    std::fill(p.grads(), p.grads() + p.numel(), 0.0f);
    std::vector<PipeLayerTape> tapes;
    const std::vector<float> x0 = pipe_blocks_input(c, mb);
    const std::vector<float> y = pipe_blocks_forward(p, x0.data(), tapes);
    res.losses.push_back(pipe_blocks_loss(c, M, y, pipe_blocks_target(c, mb), dy));
    // The whole backward of each layer at once (input and weight gradients together).
    for (int64_t i = p.layer_count() - 1; i >= 0; --i) pipe_layer_backward(p, i, tapes[size_t(i)], dy, true, scratch);
    acc.push(p.grads());
    if (per_mb_grads) per_mb_grads->emplace_back(p.grads(), p.grads() + p.numel());
  }
  acc.finish(p.grads());
  for (double l : res.losses) res.loss += l;
  res.loss /= M;
  return res;
}

struct PipeBlocksStage::Tape {
  std::vector<PipeLayerTape> layers;
  std::vector<float> dloss;  // last stage: the loss gradient at the output
};

PipeBlocksStage::PipeBlocksStage(const PipeBlocksConfig& cfg, const PipeSchedule& s, int rank)
    : cfg_(cfg), s_(s), rank_(rank), scratch_(std::make_unique<Arena>(size_t(1) << 16)) {
  if (cfg.layers % s.P != 0)
    fail(ErrorKind::kInvalidArgument, "pipeline: {} layers do not split into {} equal stages", cfg.layers, s.P);
  const int64_t per = cfg.layers / s.P;
  for (int dir = 0; dir < s.chunks_per_rank(); ++dir) {
    const int64_t st = s.stage_of(rank, dir);
    chunks_.push_back(std::make_unique<PipeBlockParams>(cfg, st * per, (st + 1) * per));
    acc_.emplace_back(chunks_.back()->numel());
    last_w_.push_back(-1);
  }
}

PipeBlocksStage::~PipeBlocksStage() = default;

void PipeBlocksStage::forward(int dir, int mb, const float* in, float* out) {
  PipeBlockParams& p = chunk(dir);
  auto tape = std::make_unique<Tape>();
  std::vector<float> x0;
  if (!in) {
    x0 = pipe_blocks_input(cfg_, mb);
    in = x0.data();
  }
  const std::vector<float> y = pipe_blocks_forward(p, in, tape->layers);
  if (out) {
    std::copy(y.begin(), y.end(), out);
  } else {
    losses_.push_back({mb, pipe_blocks_loss(cfg_, s_.M, y, pipe_blocks_target(cfg_, mb), tape->dloss)});
  }
  tapes_[mb] = std::move(tape);
}

void PipeBlocksStage::backward_input(int dir, int mb, const float* dout, float* din) {
  PipeBlockParams& p = chunk(dir);
  auto it = tapes_.find(mb);
  FRUGAL_ASSERT(it != tapes_.end(), "rank {}: backward of micro-batch {} before its forward", rank_, mb);
  Tape& tape = *it->second;
  const int64_t N = cfg_.rows, D = cfg_.hidden;
  std::vector<float> dy = dout ? std::vector<float>(dout, dout + N * D) : tape.dloss;
  for (int64_t i = p.layer_count() - 1; i >= 0; --i) pipe_layer_backward(p, i, tape.layers[size_t(i)], dy, false, *scratch_);
  if (din) std::copy(dy.begin(), dy.end(), din);
}

void PipeBlocksStage::backward_weight(int dir, int mb) {
  PipeBlockParams& p = chunk(dir);
  auto it = tapes_.find(mb);
  FRUGAL_ASSERT(it != tapes_.end(), "rank {}: weight gradient of micro-batch {} before its forward", rank_, mb);
  // The tree needs the chunk's micro-batches in order (every schedule here runs its W's in order).
  FRUGAL_ASSERT(mb > last_w_[size_t(dir)], "rank {}: weight gradient of micro-batch {} after {}", rank_, mb,
                last_w_[size_t(dir)]);
  last_w_[size_t(dir)] = mb;
  Tape& tape = *it->second;
  std::fill(p.grads(), p.grads() + p.numel(), 0.0f);
  for (int64_t i = p.layer_count() - 1; i >= 0; --i) {
    FRUGAL_ASSERT(!tape.layers[size_t(i)].dy.empty(), "rank {}: weight gradient of micro-batch {} before its input gradient",
                  rank_, mb);
    pipe_layer_weight_grads(p, i, tape.layers[size_t(i)], *scratch_);
  }
  acc_[size_t(dir)].push(p.grads());
  tapes_.erase(it);  // the activations of mb on this chunk are released here (Table 2's count)
}

PipeBlocksResult PipeBlocksStage::finish_step(Communicator& comm) {
  FRUGAL_ASSERT(tapes_.empty(), "rank {}: {} micro-batches without a weight gradient", rank_, tapes_.size());
  for (size_t d = 0; d < chunks_.size(); ++d) acc_[d].finish(chunks_[d]->grads());
  if (s_.bidirectional()) {
    // The partner holds the same two stages in the other directions: its chunk 1 is our stage of
    // chunk 0, and its chunk 0 is our chunk 1's stage. The direction-0 half ([0, M/2)) is the left
    // operand of the root addition on both ranks, so both compute the same bits.
    const int partner = s_.P - 1 - rank_;
    constexpr int kTag = 1 << 14;  // above every activation tag (2·4096)
    std::vector<std::vector<float>> theirs(2);
    std::vector<Request> reqs;
    for (int d = 0; d < 2; ++d) {
      theirs[size_t(d)].resize(size_t(chunks_[size_t(d)]->numel()));
      reqs.push_back(comm.irecv(theirs[size_t(d)].data(), int64_t(theirs[size_t(d)].size() * sizeof(float)), partner, kTag + d));
    }
    for (int d = 0; d < 2; ++d)
      reqs.push_back(comm.isend(chunks_[size_t(d)]->grads(), chunks_[size_t(d)]->numel() * int64_t(sizeof(float)), partner,
                                kTag + d));
    wait_all(reqs);
    // chunk 0 (direction 0 here) + partner's chunk 1 (direction 1); chunk 1: partner's chunk 0 + ours.
    float* g0 = chunks_[0]->grads();
    float* g1 = chunks_[1]->grads();
    for (size_t k = 0; k < theirs[1].size(); ++k) g0[k] = g0[k] + theirs[1][k];
    for (size_t k = 0; k < theirs[0].size(); ++k) g1[k] = theirs[0][k] + g1[k];
  }
  // The losses, from the last stages to everyone, summed in micro-batch order.
  std::vector<double> mine;
  for (auto [mb, l] : losses_) mine.push_back(double(mb)), mine.push_back(l);
  losses_.clear();
  const std::vector<double> all = comm.all_gather_v(mine);
  PipeBlocksResult res;
  res.losses.assign(size_t(s_.M), 0.0);
  std::vector<int> seen(size_t(s_.M), 0);
  for (size_t k = 0; k + 1 < all.size(); k += 2) {
    const int mb = int(all[k]);
    FRUGAL_ASSERT(mb >= 0 && mb < s_.M && !seen[size_t(mb)], "loss of micro-batch {} twice or out of range", mb);
    seen[size_t(mb)] = 1;
    res.losses[size_t(mb)] = all[k + 1];
  }
  for (int mb = 0; mb < s_.M; ++mb) FRUGAL_ASSERT(seen[size_t(mb)], "no loss for micro-batch {}", mb);
  for (double l : res.losses) res.loss += l;
  res.loss /= s_.M;
  for (int& w : last_w_) w = -1;
  return res;
}

void PipeBlocksStage::sgd(float lr) {
  for (auto& c : chunks_) {
    float* w = c->weights();
    const float* g = c->grads();
    for (int64_t k = 0; k < c->numel(); ++k) w[k] = w[k] - lr * g[k];
  }
}

}  // namespace frugal::dist
