#include "dist/pipeline_blocks.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/rng.h"
#include "kernels/ops.h"
#include "model/mlp_train.h"

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

// One micro-batch's activations through a chunk's layers: inputs of each layer, their norms, the
// MLP tapes; after backward_input also the gradient at each layer's output and at its norm's
// output (what the weight gradients need).
struct PipeLayerTape {
  std::vector<float> x, xn, g, u, h, dy, dxn;  // [N, D] / [N, F]
};

// x [N, D] through the layers of p; writes each layer's tape and returns the output.
std::vector<float> pipe_blocks_forward(const PipeBlockParams& p, const float* x0, std::vector<PipeLayerTape>& tapes) {
  const PipeBlocksConfig& c = p.cfg();
  const int64_t N = c.rows, D = c.hidden, F = c.intermediate;
  std::vector<float> x(x0, x0 + N * D), y(size_t(N * D));
  tapes.assign(size_t(p.layer_count()), {});
  for (int64_t i = 0; i < p.layer_count(); ++i) {
    PipeLayerTape& t = tapes[size_t(i)];
    t.x = x;
    t.xn.resize(size_t(N * D));
    rmsnorm_forward(x.data(), D, p.norm(i), N, D, c.eps, t.xn.data(), D);
    t.g.resize(size_t(N * F));
    t.u.resize(size_t(N * F));
    t.h.resize(size_t(N * F));
    MlpTape mt{t.g.data(), t.u.data(), t.h.data(), N, F};
    mlp_train_forward_buffers(p.mlp(i), t.xn.data(), N, D, mt, y.data());
    for (int64_t k = 0; k < N * D; ++k) x[size_t(k)] = x[size_t(k)] + y[size_t(k)];
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

MlpTape pipe_mlp_tape(const PipeBlocksConfig& c, PipeLayerTape& t) {
  return MlpTape{t.g.data(), t.u.data(), t.h.data(), c.rows, c.intermediate};
}

}  // namespace

PipeBlockParams::PipeBlockParams(const PipeBlocksConfig& cfg, int64_t l0, int64_t l1) : cfg_(cfg), l0_(l0) {
  const int64_t D = cfg.hidden, F = cfg.intermediate, per = layer_numel(cfg);
  FRUGAL_ASSERT(l0 >= 0 && l1 >= l0 && l1 <= cfg.layers, "layers [{}, {}) of {}", l0, l1, cfg.layers);
  w_.resize(size_t((l1 - l0) * per));
  g_.assign(w_.size(), 0.0f);
  for (int64_t l = l0; l < l1; ++l) {
    float* w = w_.data() + (l - l0) * per;
    float* g = g_.data() + (l - l0) * per;
    // norm weights near 1, projections ~ N(0, 1/D) and N(0, 1/F): activations stay O(1) through
    // the residual stack, so the test's differences are not lost under rounding.
    std::vector<float> v = pipe_normal(pipe_stream(cfg.seed, 1, uint64_t(l)), per, 1.0f);
    for (int64_t k = 0; k < D; ++k) w[k] = 1.0f + 0.1f * v[size_t(k)];
    const float sd = 1.0f / std::sqrt(float(D)), sf = 1.0f / std::sqrt(float(F));
    for (int64_t k = D; k < D + 2 * F * D; ++k) w[k] = sd * v[size_t(k)];
    for (int64_t k = D + 2 * F * D; k < per; ++k) w[k] = sf * v[size_t(k)];
    Param norm{w, g, 1, D};
    MlpParams m;
    m.gate_proj = Param{w + D, g + D, F, D};
    m.up_proj = Param{w + D + F * D, g + D + F * D, F, D};
    m.down_proj = Param{w + D + 2 * F * D, g + D + 2 * F * D, D, F};
    norm_.push_back(norm);
    mlp_.push_back(m);
  }
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
  const int64_t N = c.rows, D = c.hidden, F = c.intermediate;
  PipeBlocksResult res;
  TreeAccumulator acc(p.numel());
  std::vector<float> dxn(size_t(N * D)), dxr(size_t(N * D)), dg(size_t(N * F)), du(size_t(N * F)), dy;
  for (int mb = 0; mb < M; ++mb) {
    std::fill(p.grads(), p.grads() + p.numel(), 0.0f);
    std::vector<PipeLayerTape> tapes;
    const std::vector<float> x0 = pipe_blocks_input(c, mb);
    const std::vector<float> y = pipe_blocks_forward(p, x0.data(), tapes);
    res.losses.push_back(pipe_blocks_loss(c, M, y, pipe_blocks_target(c, mb), dy));
    // The whole backward of each layer at once: MLP input and weight gradients, then the norm's.
    for (int64_t i = p.layer_count() - 1; i >= 0; --i) {
      PipeLayerTape& t = tapes[size_t(i)];
      mlp_train_backward_buffers(p.mlp(i), t.xn.data(), N, D, pipe_mlp_tape(c, t), dy.data(), dxn.data(), dg.data(),
                                 du.data());
      rmsnorm_backward(t.x.data(), D, p.norm(i), N, D, c.eps, dxn.data(), D, dxr.data(), D, p.norm_grad(i));
      for (int64_t k = 0; k < N * D; ++k) dy[size_t(k)] = dy[size_t(k)] + dxr[size_t(k)];
    }
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
    : cfg_(cfg), s_(s), rank_(rank) {
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
  const int64_t N = cfg_.rows, D = cfg_.hidden, F = cfg_.intermediate;
  std::vector<float> dy = dout ? std::vector<float>(dout, dout + N * D) : tape.dloss;
  std::vector<float> dxr(size_t(N * D)), dg(size_t(N * F)), du(size_t(N * F));
  // Input gradients only: the MLP's backward without its weight gradients, the norm's without dw.
  // The weight step reuses dy and dxn, so it repeats only the GEMMs of the weight gradients (and the
  // elementwise SwiGLU backward); the bits equal the one-pass backward's (same operations, same order).
  for (int64_t i = p.layer_count() - 1; i >= 0; --i) {
    PipeLayerTape& t = tape.layers[size_t(i)];
    t.dy = dy;
    t.dxn.resize(size_t(N * D));
    mlp_train_backward_buffers(p.mlp_no_grad(i), t.xn.data(), N, D, pipe_mlp_tape(cfg_, t), dy.data(), t.dxn.data(),
                               dg.data(), du.data());
    rmsnorm_backward(t.x.data(), D, p.norm(i), N, D, cfg_.eps, t.dxn.data(), D, dxr.data(), D, nullptr);
    for (int64_t k = 0; k < N * D; ++k) dy[size_t(k)] = dy[size_t(k)] + dxr[size_t(k)];
  }
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
  const int64_t N = cfg_.rows, D = cfg_.hidden, F = cfg_.intermediate;
  std::fill(p.grads(), p.grads() + p.numel(), 0.0f);
  std::vector<float> dxr(size_t(N * D)), dg(size_t(N * F)), du(size_t(N * F));
  for (int64_t i = p.layer_count() - 1; i >= 0; --i) {
    PipeLayerTape& t = tape.layers[size_t(i)];
    FRUGAL_ASSERT(!t.dy.empty(), "rank {}: weight gradient of micro-batch {} before its input gradient", rank_, mb);
    mlp_train_backward_buffers(p.mlp(i), t.xn.data(), N, D, pipe_mlp_tape(cfg_, t), t.dy.data(), nullptr, dg.data(),
                               du.data());
    rmsnorm_backward(t.x.data(), D, p.norm(i), N, D, cfg_.eps, t.dxn.data(), D, dxr.data(), D, p.norm_grad(i));
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
