#include "model/transformer_train.h"

#include <cmath>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "kernels/linear.h"
#include "kernels/linear_grad.h"
#include "kernels/ops.h"
#include "model/mla_train.h"
#include "model/moe_train.h"
#include "model/rope_yarn.h"

namespace frugal {

Recompute parse_recompute(std::string_view s) {
  if (s == "none") return Recompute::kNone;
  if (s == "attn") return Recompute::kAttn;
  if (s == "full") return Recompute::kFull;
  fail(ErrorKind::kInvalidArgument, "unknown recompute mode '{}' (expected none, attn or full)", s);
}

const char* recompute_name(Recompute r) {
  switch (r) {
    case Recompute::kNone: return "none";
    case Recompute::kAttn: return "attn";
    case Recompute::kFull: return "full";
  }
  return "?";
}

// What one decoder layer keeps between its forward and its backward. x_in is always kept (the
// previous layer's output); the rest depends on the recompute mode.
struct TrainModel::LayerTape {
  const float* x_in = nullptr;  // [N, D] layer input
  const int32_t* positions = nullptr;  // [N] packed-document positions, or null
  float* xn1 = nullptr;         // [N, D] input_layernorm(x_in)           (none only)
  float* h = nullptr;           // [N, D] x_in + attention                 (none, attn)
  float* xn2 = nullptr;         // [N, D] post_attention_layernorm(h)     (none only)
  MlaTape mla;
  MlpTape mlp;
  MoeTape moe;
};

// One MTP module's tape (docs/model.md, Multi-token prediction): its input rows, the concatenated
// normalised inputs, the block.
struct TrainModel::MtpTape {
  int64_t Tk = 0;                  // rows per sequence: T − (k + 1)
  std::vector<int32_t> emb_ids;    // [B·Tk] ids whose embedding enters (inputs[b, i + k + 1])
  std::vector<int32_t> targets;    // [B·Tk]
  std::vector<float> weights;      // [B·Tk] the targets' loss weights (empty: unweighted)
  std::vector<int32_t> positions;  // [B·Tk] rows' positions when packed (empty: not packed)
  const float* h_prev = nullptr;   // [B·Tk, D] gathered hidden rows (previous depth's output)
  float* emb = nullptr;            // [B·Tk, D] raw embedding rows
  float* cat = nullptr;            // [B·Tk, 2D] [enorm(emb) ; hnorm(h_prev)]
  float* x0 = nullptr;             // [B·Tk, D] eh_proj output = block input
  float* out = nullptr;            // [B·Tk, D] block output h_k (pre-norm)
  float* xn = nullptr;             // [B·Tk, D] shared_head.norm(out)
  LayerTape block;
};

TrainModel::TrainModel(const DeepSeekConfig& cfg, ModelParams& params)
    : cfg_(cfg), p_(params), keep_(size_t(1) << 24), scratch_(size_t(1) << 24) {
  rope_.inv_freq = rope_inv_freq(cfg);
  rope_.mscale = yarn_cos_sin_mscale(cfg);
  rope_.softmax_scale = float(softmax_scale(cfg));
}

void TrainModel::layer_forward(const LayerParams& lp, int64_t B, int64_t T, const int32_t* positions,
                               const float* x_in, float* x_out, Recompute rc, double aux_alpha, LayerTape& tape,
                               StepLosses* losses, int64_t layer_index, Arena& arena) {
  const int64_t D = cfg_.hidden_size, N = B * T;
  const float eps = float(cfg_.rms_norm_eps);
  tape.x_in = x_in;
  tape.positions = positions;
  // With kAttn the norms are recomputed in the backward, so their outputs go to scratch.
  const bool keep_norms = rc != Recompute::kAttn;
  float* xn1 = keep_norms ? arena.alloc<float>(size_t(N * D)) : scratch_.alloc<float>(size_t(N * D));
  rmsnorm_forward(x_in, D, lp.input_layernorm.w, N, D, eps, xn1, D);
  float* attn = x_out;  // o_proj output, then the residual add in place
  mla_train_forward(cfg_, lp.self_attn, rope_, xn1, B, T, rc != Recompute::kAttn, arena, tape.mla, attn, positions,
                    prec_);
  float* h = arena.alloc<float>(size_t(N * D));
  for (int64_t i = 0; i < N * D; ++i) h[i] = x_in[i] + attn[i];
  float* xn2 = keep_norms ? arena.alloc<float>(size_t(N * D)) : xn1;  // xn1 is dead by now
  rmsnorm_forward(h, D, lp.post_attention_layernorm.w, N, D, eps, xn2, D);
  if (lp.is_moe) {
    MoeStats stats;
    moe_train_forward(cfg_, lp.moe, xn2, B, T, aux_alpha, arena, tape.moe, x_out, &stats, prec_);
    if (losses) {
      (layer_index < cfg_.num_hidden_layers ? losses->balance : losses->balance_mtp) += stats.balance_loss;
      losses->moe_layers.push_back(layer_index);
      losses->expert_load.push_back(std::move(stats.load));
    }
  } else {
    mlp_train_forward(lp.mlp, xn2, N, D, arena, tape.mlp, x_out, prec_);
  }
  add_inplace(x_out, h, N * D);
  tape.h = h;
  tape.xn1 = keep_norms ? xn1 : nullptr;
  tape.xn2 = keep_norms ? xn2 : nullptr;
}

// dx: on entry ∂L/∂x_out, on return ∂L/∂x_in (in place).
void TrainModel::layer_backward(const LayerParams& lp, int64_t B, int64_t T, Recompute rc, double aux_alpha,
                                double balance_weight, LayerTape& tape, float* dx, int64_t layer_index) {
  const int64_t D = cfg_.hidden_size, N = B * T;
  const float eps = float(cfg_.rms_norm_eps);
  const Arena::Mark mark = scratch_.mark();
  if (rc == Recompute::kFull) {  // rerun the whole layer, keeping everything, into scratch
    float* out = scratch_.alloc<float>(size_t(N * D));
    const float* x_in = tape.x_in;
    const int32_t* positions = tape.positions;
    tape = LayerTape{};
    layer_forward(lp, B, T, positions, x_in, out, Recompute::kNone, aux_alpha, tape, nullptr, layer_index, scratch_);
  }
  float* xn = tape.xn2;
  if (!xn) {
    xn = scratch_.alloc<float>(size_t(N * D));
    rmsnorm_forward(tape.h, D, lp.post_attention_layernorm.w, N, D, eps, xn, D);
  }
  float* dxn = scratch_.alloc<float>(size_t(N * D));
  if (lp.is_moe)
    moe_train_backward(cfg_, lp.moe, xn, B, T, aux_alpha, balance_weight, tape.moe, dx, dxn, scratch_, prec_);
  else
    mlp_train_backward(lp.mlp, xn, N, D, tape.mlp, dx, dxn, scratch_, prec_);
  rmsnorm_backward(tape.h, D, lp.post_attention_layernorm.w, N, D, eps, dxn, D, dxn, D, lp.post_attention_layernorm.g);
  add_inplace(dx, dxn, N * D);  // dx = ∂L/∂h
  if (!tape.xn1) {
    xn = tape.xn2 ? scratch_.alloc<float>(size_t(N * D)) : xn;
    rmsnorm_forward(tape.x_in, D, lp.input_layernorm.w, N, D, eps, xn, D);
  } else {
    xn = tape.xn1;
  }
  mla_train_backward(cfg_, lp.self_attn, rope_, xn, B, T, tape.mla, dx, dxn, scratch_, prec_);
  rmsnorm_backward(tape.x_in, D, lp.input_layernorm.w, N, D, eps, dxn, D, dxn, D, lp.input_layernorm.g);
  add_inplace(dx, dxn, N * D);  // dx = ∂L/∂x_in
  scratch_.rewind(mark);
}

StepLosses TrainModel::forward_backward(const int32_t* inputs, const int32_t* targets, int64_t B, int64_t T,
                                        const TrainOptions& opt, const TokenWeights& weights,
                                        const int32_t* positions, const SoftTargets& soft) {
  return run(inputs, targets, B, T, opt, weights, positions, soft, true);
}

StepLosses TrainModel::evaluate(const int32_t* inputs, const int32_t* targets, int64_t B, int64_t T,
                                const TrainOptions& opt, const TokenWeights& weights, const int32_t* positions,
                                const SoftTargets& soft) {
  return run(inputs, targets, B, T, opt, weights, positions, soft, false);
}

StepLosses TrainModel::run(const int32_t* inputs, const int32_t* targets, int64_t B, int64_t T,
                           const TrainOptions& opt, const TokenWeights& weights, const int32_t* positions,
                           const SoftTargets& soft, bool backward) {
  const int64_t D = cfg_.hidden_size, V = cfg_.vocab_size, N = B * T, L = cfg_.num_hidden_layers;
  const float eps = float(cfg_.rms_norm_eps);
  if (B <= 0 || T <= 0) fail(ErrorKind::kInvalidArgument, "training batch must be non-empty (B={}, T={})", B, T);
  prec_ = opt.precision;
  for (int64_t i = 0; i < N; ++i) {
    if (inputs[i] < 0 || inputs[i] >= V)
      fail(ErrorKind::kInvalidArgument, "input token id {} at row {} is outside the vocabulary [0, {})", inputs[i], i, V);
    if (targets[i] >= V)
      fail(ErrorKind::kInvalidArgument, "target token id {} at row {} is outside the vocabulary [0, {})", targets[i], i, V);
    if (weights.w && !std::isfinite(weights.w[i]))
      fail(ErrorKind::kInvalidArgument, "loss weight {} at row {} is not finite", weights.w[i], i);
    // A packed row: each position starts a document (0) or continues the previous row's.
    if (positions && positions[i] != 0 && (i % T == 0 || positions[i] != positions[i - 1] + 1))
      fail(ErrorKind::kInvalidArgument,
           "position {} at row {} neither starts a document (0) nor continues the previous row's", positions[i], i);
  }
  if (!(weights.norm >= 0) || !std::isfinite(weights.norm))
    fail(ErrorKind::kInvalidArgument, "loss normaliser {} must be finite and >= 0 (0: the number of targets)",
         weights.norm);
  const bool use_mtp = opt.mtp_weight > 0 && !p_.mtp.empty();
  const int64_t depth = use_mtp ? int64_t(p_.mtp.size()) : 0;
  const Recompute rc = backward ? opt.recompute : Recompute::kFull;  // evaluation keeps nothing
  keep_.reset();
  scratch_.reset();
  StepLosses losses;

  // Forward through the main model. xs[l] is layer l's input; xs[L] the last hidden state.
  std::vector<float*> xs(static_cast<size_t>(L + 1));
  xs[0] = keep_.alloc<float>(size_t(N * D));
  for (int64_t i = 0; i < N; ++i) std::memcpy(xs[0] + i * D, p_.embed_tokens.w + int64_t(inputs[i]) * D, D * sizeof(float));
  std::vector<LayerTape> tapes(static_cast<size_t>(L));
  for (int64_t l = 0; l < L; ++l) {
    xs[size_t(l + 1)] = keep_.alloc<float>(size_t(N * D));
    const Arena::Mark mark = scratch_.mark();
    // Full recompute (and evaluation) run the layer into scratch and keep only its output.
    Arena& tape_arena = rc == Recompute::kFull ? scratch_ : keep_;
    layer_forward(p_.layers[size_t(l)], B, T, positions, xs[size_t(l)], xs[size_t(l + 1)], rc, opt.aux_alpha,
                  tapes[size_t(l)], &losses, l, tape_arena);
    scratch_.rewind(mark);
  }
  const float* hidden = xs[size_t(L)];

  // Head + cross-entropy. dlogits overwrites logits in place (a [N, V] buffer saved).
  float* xf = keep_.alloc<float>(size_t(N * D));
  rmsnorm_forward(hidden, D, p_.norm.w, N, D, eps, xf, D);
  float* logits = scratch_.alloc<float>(size_t(N * V));
  sgemm(false, true, N, V, D, 1.0f, xf, D, p_.lm_head.w, D, 0.0f, logits, V);
  losses.main = soft.k > 0 ? soft_cross_entropy_forward_backward(logits, targets, N, V, V, soft.k, soft.ids, soft.q,
                                                                 backward ? logits : nullptr, weights.w, weights.norm)
                           : cross_entropy_forward_backward(logits, targets, N, V, V, backward ? logits : nullptr,
                                                            weights.w, weights.norm);
  for (int64_t i = 0; i < N; ++i) losses.main_count += targets[i] >= 0;
  float* dx = nullptr;
  if (backward) {
    dx = keep_.alloc<float>(size_t(N * D));  // ∂L/∂hidden, accumulated by the head and the MTP modules
    const float s = float(opt.loss_scale);
    for (int64_t i = 0; i < N * V; ++i) logits[i] *= s;
    float* dxf = scratch_.alloc<float>(size_t(N * D));
    linear_backward(xf, D, p_.lm_head.w, D, logits, V, N, V, D, dxf, D, p_.lm_head.g, D);
    rmsnorm_backward(hidden, D, p_.norm.w, N, D, eps, dxf, D, dx, D, p_.norm.g);
  }
  scratch_.reset();

  // MTP modules: depth k predicts the token k+1 positions after the next one (docs/model.md, Multi-token prediction).
  std::vector<MtpTape> mtps(static_cast<size_t>(depth));
  const float* h_prev = hidden;  // [B, T_prev] rows of the previous depth
  int64_t T_prev = T;
  double mtp_sum = 0;
  for (int64_t k = 0; k < depth; ++k) {
    MtpTape& m = mtps[size_t(k)];
    const MtpParams& mp = p_.mtp[size_t(k)];
    const int64_t Tk = T - (k + 1), Nk = B * Tk;
    m.Tk = Tk;
    if (Tk <= 0) break;
    m.emb_ids.resize(size_t(Nk));
    m.targets.resize(size_t(Nk));
    if (weights.w) m.weights.resize(size_t(Nk));
    if (positions) m.positions.resize(size_t(Nk));
    float* hp = keep_.alloc<float>(size_t(Nk * D));
    m.emb = keep_.alloc<float>(size_t(Nk * D));
    m.cat = keep_.alloc<float>(size_t(Nk * 2 * D));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < Tk; ++i) {
        const int64_t r = b * Tk + i;
        m.emb_ids[size_t(r)] = inputs[b * T + i + k + 1];
        m.targets[size_t(r)] = targets[b * T + i + k + 1];
        if (weights.w) m.weights[size_t(r)] = weights.w[b * T + i + k + 1];
        if (positions) {  // row i keeps its position; a target in the next document is masked
          m.positions[size_t(r)] = positions[b * T + i];
          if (positions[b * T + i + k + 1] != positions[b * T + i] + k + 1) m.targets[size_t(r)] = -1;
        }
        std::memcpy(hp + r * D, h_prev + (b * T_prev + i) * D, D * sizeof(float));
        std::memcpy(m.emb + r * D, mp.embed_tokens.w + int64_t(m.emb_ids[size_t(r)]) * D, D * sizeof(float));
      }
    m.h_prev = hp;
    // cat = [enorm(emb) ; hnorm(h)]: the embedding first, as the released weights expect.
    rmsnorm_forward(m.emb, D, mp.enorm.w, Nk, D, eps, m.cat, 2 * D);
    rmsnorm_forward(hp, D, mp.hnorm.w, Nk, D, eps, m.cat + D, 2 * D);
    m.x0 = keep_.alloc<float>(size_t(Nk * D));
    linear_gemm(prec_, sgemm, false, true, Nk, D, 2 * D, 1.0f, m.cat, 2 * D, mp.eh_proj.w, 2 * D, 0.0f, m.x0, D);
    m.out = keep_.alloc<float>(size_t(Nk * D));
    {
      const Arena::Mark mark = scratch_.mark();
      Arena& tape_arena = rc == Recompute::kFull ? scratch_ : keep_;
      layer_forward(mp.block, B, Tk, positions ? m.positions.data() : nullptr, m.x0, m.out, rc, opt.aux_alpha,
                    m.block, &losses, L + k, tape_arena);
      scratch_.rewind(mark);
    }
    m.xn = keep_.alloc<float>(size_t(Nk * D));
    rmsnorm_forward(m.out, D, mp.shared_head_norm.w, Nk, D, eps, m.xn, D);
    float* lg = scratch_.alloc<float>(size_t(Nk * V));
    sgemm(false, true, Nk, V, D, 1.0f, m.xn, D, mp.shared_head_head.w, D, 0.0f, lg, V);
    const float* mw = weights.w ? m.weights.data() : nullptr;
    const double ce = cross_entropy_forward_backward(lg, m.targets.data(), Nk, V, V, nullptr, mw, weights.norm);
    mtp_sum += ce;
    for (int32_t t : m.targets) losses.mtp_count += t >= 0;
    scratch_.reset();
    h_prev = m.out;
    T_prev = Tk;
  }
  if (depth > 0) losses.mtp = mtp_sum / double(depth);
  if (!backward) return losses;

  // MTP backward, deepest first: each module's ∂L/∂h_prev flows into the one before it, the first
  // into the main model's last hidden state (dx).
  std::vector<float*> dh_out(static_cast<size_t>(depth), nullptr);  // ∂L/∂(module k's output) from module k+1
  for (int64_t k = depth - 1; k >= 0; --k) {
    MtpTape& m = mtps[size_t(k)];
    const MtpParams& mp = p_.mtp[size_t(k)];
    const int64_t Tk = m.Tk, Nk = B * Tk;
    if (Tk <= 0) continue;
    const Arena::Mark mark = scratch_.mark();
    // Recompute this module's logits (the forward did not keep the [Nk, V] buffer).
    float* lg = scratch_.alloc<float>(size_t(Nk * V));
    sgemm(false, true, Nk, V, D, 1.0f, m.xn, D, mp.shared_head_head.w, D, 0.0f, lg, V);
    cross_entropy_forward_backward(lg, m.targets.data(), Nk, V, V, lg, weights.w ? m.weights.data() : nullptr,
                                   weights.norm);
    const float s = float(opt.mtp_weight / double(depth) * opt.loss_scale);
    for (int64_t i = 0; i < Nk * V; ++i) lg[i] *= s;
    float* dxn = scratch_.alloc<float>(size_t(Nk * D));
    linear_backward(m.xn, D, mp.shared_head_head.w, D, lg, V, Nk, V, D, dxn, D, mp.shared_head_head.g, D);
    float* dout = scratch_.alloc<float>(size_t(Nk * D));
    rmsnorm_backward(m.out, D, mp.shared_head_norm.w, Nk, D, eps, dxn, D, dout, D, mp.shared_head_norm.g);
    if (dh_out[size_t(k)]) add_inplace(dout, dh_out[size_t(k)], Nk * D);
    layer_backward(mp.block, B, Tk, rc, opt.aux_alpha, opt.loss_scale, m.block, dout, L + k);
    // x0 = cat · eh_projᵀ
    float* dcat = scratch_.alloc<float>(size_t(Nk * 2 * D));
    linear_backward(m.cat, 2 * D, mp.eh_proj.w, 2 * D, dout, D, Nk, D, 2 * D, dcat, 2 * D, mp.eh_proj.g, 2 * D, prec_);
    float* demb = scratch_.alloc<float>(size_t(Nk * D));
    rmsnorm_backward(m.emb, D, mp.enorm.w, Nk, D, eps, dcat, 2 * D, demb, D, mp.enorm.g);
    embedding_backward(m.emb_ids.data(), Nk, demb, D, D, mp.embed_tokens.g, D, V);
    float* dh = scratch_.alloc<float>(size_t(Nk * D));
    rmsnorm_backward(m.h_prev, D, mp.hnorm.w, Nk, D, eps, dcat + D, 2 * D, dh, D, mp.hnorm.g);
    // Scatter the rows back to the previous depth's layout [B, T_prev].
    const int64_t T_prev_k = k == 0 ? T : mtps[size_t(k - 1)].Tk;
    float* target = nullptr;
    if (k == 0) {
      target = dx;
    } else {
      target = keep_.alloc<float>(size_t(B * T_prev_k * D));
      std::memset(target, 0, size_t(B * T_prev_k * D) * sizeof(float));
      dh_out[size_t(k - 1)] = target;
    }
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < Tk; ++i) {
        float* dst = target + (b * T_prev_k + i) * D;
        const float* src = dh + (b * Tk + i) * D;
        for (int64_t j = 0; j < D; ++j) dst[j] += src[j];
      }
    scratch_.rewind(mark);
  }

  // Main layers, last to first; dx becomes ∂L/∂(embedding rows).
  for (int64_t l = L - 1; l >= 0; --l)
    layer_backward(p_.layers[size_t(l)], B, T, rc, opt.aux_alpha, opt.loss_scale, tapes[size_t(l)], dx, l);
  embedding_backward(inputs, N, dx, D, D, p_.embed_tokens.g, D, V);
  return losses;
}

}  // namespace frugal
