// Training MLA: projections as whole-batch GEMMs, attention as parallel (sequence, head) jobs.
// The formulas are those of model/mla.cpp's naive form; the backward is their exact
// vector-Jacobian product, written with the same f32 kernels (ops.h, rope.h, softmax.h, sgemm).
#include "model/mla_train.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/arena.h"
#include "core/error.h"
#include "core/sys.h"
#include "kernels/linear.h"
#include "kernels/linear_grad.h"
#include "kernels/ops.h"
#include "kernels/rope.h"
#include "kernels/softmax.h"

namespace frugal {

namespace {

struct Dims {
  int64_t B, T, N, D, H, Qr, C, dn, dr, dv, dq, dkv, ckw;
  const int32_t* pos;  // [N] packed-document positions, or null (mla_train.h)
  Precision prec = Precision::kF32;  // of the projections' GEMMs (not the attention core's)
  Dims(const DeepSeekConfig& c, int64_t B_, int64_t T_, const int32_t* pos_ = nullptr)
      : B(B_), T(T_), N(B_ * T_), D(c.hidden_size), H(c.num_attention_heads), Qr(c.q_lora_rank),
        C(c.kv_lora_rank), dn(c.qk_nope_head_dim), dr(c.qk_rope_head_dim), dv(c.v_head_dim), dq(dn + dr),
        dkv(dn + dv), ckw(C + dr), pos(pos_) {}
};

void check_param(const Param& p, int64_t rows, int64_t cols, const char* name) {
  FRUGAL_ASSERT(p.w && p.rows == rows && p.cols == cols, "MLA param {} is {}x{} (data {}), config wants {}x{}", name,
                p.rows, p.cols, p.w ? "set" : "null", rows, cols);
}

void check_inputs(const Dims& d, const MlaParams& p, const RopeTables& rope) {
  FRUGAL_ASSERT(d.B >= 1 && d.T >= 1, "MLA batch B {} T {}", d.B, d.T);
  FRUGAL_ASSERT(d.dr % 2 == 0 && int64_t(rope.inv_freq.size()) == d.dr / 2, "RoPE table has {} pairs, dr {}",
                rope.inv_freq.size(), d.dr);
  if (d.Qr > 0) {
    check_param(p.q_a_proj, d.Qr, d.D, "q_a_proj");
    check_param(p.q_a_layernorm, 1, d.Qr, "q_a_layernorm");
    check_param(p.q_b_proj, d.H * d.dq, d.Qr, "q_b_proj");
  } else {
    check_param(p.q_proj, d.H * d.dq, d.D, "q_proj");
  }
  check_param(p.kv_a_proj_with_mqa, d.ckw, d.D, "kv_a_proj_with_mqa");
  check_param(p.kv_a_layernorm, 1, d.C, "kv_a_layernorm");
  check_param(p.kv_b_proj, d.H * d.dkv, d.C, "kv_b_proj");
  check_param(p.o_proj, d.D, d.H * d.dv, "o_proj");
}

// cos/sin of positions 0..T-1: every sequence of the batch starts at position 0, so the B·T·(H+1)
// slices to rotate share T·dr/2 trig evaluations (row n is at position n % T). Packed documents
// (d.pos) get a table of all N rows' own positions (row n at table row n % N = n).
RopeAngles make_rope_angles(const RopeTables& rope, const Dims& d) {
  const int64_t P = d.pos ? d.N : d.T;
  std::vector<int64_t> pos(static_cast<size_t>(P));
  for (int64_t t = 0; t < P; ++t) pos[size_t(t)] = d.pos ? int64_t(d.pos[t]) : t;
  return rope_angles(pos.data(), P, rope.inv_freq.data(), d.dr / 2, rope.mscale);
}

// q_pe of every head of q [N, H·dq], and k_pe of [c_kv | k_pe] [N, ckw].
RopeSlices q_pe_slices(const Dims& d) { return {d.H * d.dq, d.N, d.H, d.dn, d.dq}; }
RopeSlices k_pe_slices(const Dims& d) { return {d.ckw, d.N, 1, d.C, 0}; }

// The activations between the down-projections and the attention.
struct Acts {
  float* cq = nullptr;   // [N, Qr]
  float* q = nullptr;    // [N, H·dq]
  float* ckv = nullptr;  // [N, ckw]
  float* kv = nullptr;   // [N, H·dkv]
};

// c_q (pre-norm) and [c_kv | k_pe] (pre-norm, pre-RoPE) = the down-projections of x.
void project_down(const Dims& d, const MlaParams& p, const float* x, float* cq_raw, float* ckv_raw) {
  if (d.Qr > 0) linear_gemm(d.prec, sgemm, false, true, d.N, d.Qr, d.D, 1.0f, x, d.D, p.q_a_proj.w, d.D, 0.0f, cq_raw, d.Qr);
  linear_gemm(d.prec, sgemm, false, true, d.N, d.ckw, d.D, 1.0f, x, d.D, p.kv_a_proj_with_mqa.w, d.D, 0.0f, ckv_raw, d.ckw);
}

// Norms, up-projections and RoPE: everything the attention reads. The `--recompute attn`
// backward calls this again on the tape's down-projection outputs.
void project_up(const Dims& d, const DeepSeekConfig& cfg, const MlaParams& p, const RopeAngles& rt, const float* x,
                const float* cq_raw, const float* ckv_raw, const Acts& a) {
  const float eps = float(cfg.rms_norm_eps);
  if (d.Qr > 0) {
    rmsnorm_forward(cq_raw, d.Qr, p.q_a_layernorm.w, d.N, d.Qr, eps, a.cq, d.Qr);
    linear_gemm(d.prec, sgemm, false, true, d.N, d.H * d.dq, d.Qr, 1.0f, a.cq, d.Qr, p.q_b_proj.w, d.Qr, 0.0f, a.q, d.H * d.dq);
  } else {
    linear_gemm(d.prec, sgemm, false, true, d.N, d.H * d.dq, d.D, 1.0f, x, d.D, p.q_proj.w, d.D, 0.0f, a.q, d.H * d.dq);
  }
  rope_forward(a.q, a.q, q_pe_slices(d), rt);
  rmsnorm_forward(ckv_raw, d.ckw, p.kv_a_layernorm.w, d.N, d.C, eps, a.ckv, d.ckw);  // c_kv only, not k_pe
  rope_forward(ckv_raw, a.ckv, k_pe_slices(d), rt);
  linear_gemm(d.prec, sgemm, false, true, d.N, d.H * d.dkv, d.C, 1.0f, a.ckv, d.ckw, p.kv_b_proj.w, d.C, 0.0f, a.kv, d.H * d.dkv);
}

// ---- Attention, one (sequence b, head h) job ----

// K_h [T, dq] = [k_nope_h | k_pe] for the T tokens of sequence b, gathered so QKᵀ is one GEMM.
void gather_k(const Dims& d, const Acts& a, int64_t b, int64_t h, float* k) {
  for (int64_t t = 0; t < d.T; ++t) {
    const int64_t n = b * d.T + t;
    std::copy_n(a.kv + n * d.H * d.dkv + h * d.dkv, d.dn, k + t * d.dq);
    std::copy_n(a.ckv + n * d.ckw + d.C, d.dr, k + t * d.dq + d.dn);
  }
}

// Query block [t0, t0 + tb) of one sequence; its rows see keys [0, L), L = t0 + tb.
struct Block {
  int64_t t0, tb, L;
};
int64_t num_blocks(int64_t T) { return (T + kMlaQueryBlock - 1) / kMlaQueryBlock; }
Block block(int64_t i, int64_t T) {
  const int64_t t0 = i * kMlaQueryBlock, tb = std::min(kMlaQueryBlock, T - t0);
  return {t0, tb, t0 + tb};
}

// Forward of job (b, h): P [T, T] (row stride T; only causal blocks written) and o_h rows of
// sequence b into o [N, H·dv]. k: scratch [T, dq].
void attend_forward(const Dims& d, float scale, const Acts& a, int64_t b, int64_t h, float* k, float* P, float* o) {
  const int64_t ldq = d.H * d.dq, ldkv = d.H * d.dkv, ldo = d.H * d.dv, n0 = b * d.T;
  gather_k(d, a, b, h, k);
  const float* v = a.kv + n0 * ldkv + h * d.dkv + d.dn;  // V_h [T, dv], row stride ldkv
  for (int64_t i = 0; i < num_blocks(d.T); ++i) {
    const Block blk = block(i, d.T);
    float* s = P + blk.t0 * d.T;  // [tb, L] scores, then probabilities
    sgemm(false, true, blk.tb, blk.L, d.dq, scale, a.q + (n0 + blk.t0) * ldq + h * d.dq, ldq, k, d.dq, 0.0f, s, d.T);
    if (d.pos)  // packed documents: keys before the query's document start get probability 0
      for (int64_t r = 0; r < blk.tb; ++r) {
        const int64_t t = blk.t0 + r, start = t - d.pos[n0 + t];
        std::fill(s + r * d.T, s + r * d.T + start, -std::numeric_limits<float>::infinity());
      }
    softmax_causal_rows(s, blk.tb, blk.t0 + 1, blk.L, d.T);  // row t sees keys 0..t
    sgemm(false, false, blk.tb, d.dv, blk.L, 1.0f, s, d.T, v, ldkv, 0.0f, o + (n0 + blk.t0) * ldo + h * d.dv, ldo);
  }
}

// Gradient outputs of the attention, each [N, ·] with disjoint (b, h) slices per job.
struct AttnGrads {
  float* dq;    // [N, H·dq]
  float* dkv;   // [N, H·dkv]: ∂k_nope_h | ∂v_h
  float* dkpe;  // [B·H, T, dr]: job (b, h)'s share of ∂k_pe, summed over h afterwards
};

// Backward of job (b, h) given P and ∂o (dO [N, H·dv]). Scratch: k [T, dq], dP [T, T], dK [T, dq].
// Blocks run last to first: the last block spans all T keys, so its β = 0 GEMMs initialise ∂V_h
// and ∂K_h and the earlier (shorter) blocks accumulate onto them in a fixed order.
void attend_backward(const Dims& d, float scale, const Acts& a, const float* P, const float* dO, int64_t b, int64_t h,
                     float* k, float* dP, float* dK, const AttnGrads& g) {
  const int64_t ldq = d.H * d.dq, ldkv = d.H * d.dkv, ldo = d.H * d.dv, n0 = b * d.T;
  gather_k(d, a, b, h, k);
  const float* v = a.kv + n0 * ldkv + h * d.dkv + d.dn;
  float* dv = g.dkv + n0 * ldkv + h * d.dkv + d.dn;
  for (int64_t i = num_blocks(d.T) - 1; i >= 0; --i) {
    const Block blk = block(i, d.T);
    const float beta = i == num_blocks(d.T) - 1 ? 0.0f : 1.0f;
    const float* p = P + blk.t0 * d.T;
    float* dp = dP + blk.t0 * d.T;
    const float* dOi = dO + (n0 + blk.t0) * ldo + h * d.dv;
    const float* qi = a.q + (n0 + blk.t0) * ldq + h * d.dq;
    sgemm(false, true, blk.tb, blk.L, d.dv, 1.0f, dOi, ldo, v, ldkv, 0.0f, dp, d.T);  // ∂P = ∂O · Vᵀ
    sgemm(true, false, blk.L, d.dv, blk.tb, 1.0f, p, d.T, dOi, ldo, beta, dv, ldkv);   // ∂V += Pᵀ · ∂O
    softmax_causal_rows_backward(p, dp, blk.tb, blk.t0 + 1, blk.L, d.T);               // ∂P -> ∂S
    // scores = scale · Q · Kᵀ:  ∂Q = scale · ∂S · K,  ∂K += scale · ∂Sᵀ · Q
    sgemm(false, false, blk.tb, d.dq, blk.L, scale, dp, d.T, k, d.dq, 0.0f, g.dq + (n0 + blk.t0) * ldq + h * d.dq, ldq);
    sgemm(true, false, blk.L, d.dq, blk.tb, scale, dp, d.T, qi, ldq, beta, dK, d.dq);
  }
  float* dkpe = g.dkpe + (b * d.H + h) * d.T * d.dr;
  for (int64_t t = 0; t < d.T; ++t) {
    std::copy_n(dK + t * d.dq, d.dn, g.dkv + (n0 + t) * ldkv + h * d.dkv);
    std::copy_n(dK + t * d.dq + d.dn, d.dr, dkpe + t * d.dr);
  }
}

// Per-thread scratch for the attention jobs (the arena is not thread-safe: carve it up front).
struct JobScratch {
  int64_t stride = 0;
  float* base = nullptr;
  float* get(int worker) const { return base + worker * stride; }
};
JobScratch job_scratch(Arena& arena, int nt, int64_t floats) {
  JobScratch s;
  s.stride = (floats + 15) / 16 * 16;  // keep each worker's block 64-byte aligned
  s.base = arena.alloc<float>(size_t(s.stride) * size_t(nt));
  return s;
}

}  // namespace

void mla_train_forward(const DeepSeekConfig& cfg, const MlaParams& p, const RopeTables& rope, const float* x_norm,
                       int64_t B, int64_t T, bool save_internals, Arena& keep, MlaTape& tape, float* out,
                       const int32_t* positions, Precision prec) {
  Dims d(cfg, B, T, positions);
  d.prec = prec;
  check_inputs(d, p, rope);
  const RopeAngles rt = make_rope_angles(rope, d);
  tape = MlaTape{};
  tape.B = B;
  tape.T = T;
  tape.positions = positions;
  tape.save_internals = save_internals;
  if (d.Qr > 0) tape.cq_raw = keep.alloc<float>(size_t(d.N * d.Qr));
  tape.ckv_raw = keep.alloc<float>(size_t(d.N * d.ckw));
  if (save_internals) {  // the tape proper; everything after `mark` is a temporary
    if (d.Qr > 0) tape.cq = keep.alloc<float>(size_t(d.N * d.Qr));
    tape.q = keep.alloc<float>(size_t(d.N * d.H * d.dq));
    tape.ckv = keep.alloc<float>(size_t(d.N * d.ckw));
    tape.kv = keep.alloc<float>(size_t(d.N * d.H * d.dkv));
    tape.p = keep.alloc<float>(size_t(B * d.H * T * T));
    tape.o = keep.alloc<float>(size_t(d.N * d.H * d.dv));
  }
  const Arena::Mark mark = keep.mark();
  Acts a;
  float* o = tape.o;
  if (save_internals) {
    a = {tape.cq, tape.q, tape.ckv, tape.kv};
  } else {
    a.cq = d.Qr > 0 ? keep.alloc<float>(size_t(d.N * d.Qr)) : nullptr;
    a.q = keep.alloc<float>(size_t(d.N * d.H * d.dq));
    a.ckv = keep.alloc<float>(size_t(d.N * d.ckw));
    a.kv = keep.alloc<float>(size_t(d.N * d.H * d.dkv));
    o = keep.alloc<float>(size_t(d.N * d.H * d.dv));
  }
  project_down(d, p, x_norm, tape.cq_raw, tape.ckv_raw);
  project_up(d, cfg, p, rt, x_norm, tape.cq_raw, tape.ckv_raw, a);

  const int nt = num_threads();
  const JobScratch ks = job_scratch(keep, nt, T * d.dq);
  const JobScratch ps = job_scratch(keep, nt, save_internals ? 0 : T * T);
  const float scale = rope.softmax_scale;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
  for (int64_t job = 0; job < B * d.H; ++job) {
    const int w = omp_get_thread_num();
    float* P = save_internals ? tape.p + job * T * T : ps.get(w);
    attend_forward(d, scale, a, job / d.H, job % d.H, ks.get(w), P, o);
  }
  linear_gemm(d.prec, sgemm, false, true, d.N, d.D, d.H * d.dv, 1.0f, o, d.H * d.dv, p.o_proj.w, d.H * d.dv, 0.0f, out, d.D);
  keep.rewind(mark);
}

void mla_train_backward(const DeepSeekConfig& cfg, const MlaParams& p, const RopeTables& rope, const float* x_norm,
                        int64_t B, int64_t T, const MlaTape& tape, const float* dout, float* dx_norm,
                        Arena& scratch, Precision prec) {
  Dims d(cfg, B, T, tape.positions);
  d.prec = prec;
  check_inputs(d, p, rope);
  FRUGAL_ASSERT(tape.B == B && tape.T == T && tape.ckv_raw && (d.Qr == 0 || tape.cq_raw),
                "MLA tape is for B {} T {}, backward called with B {} T {}", tape.B, tape.T, B, T);
  const Arena::Mark mark = scratch.mark();
  const RopeAngles rt = make_rope_angles(rope, d);
  const float eps = float(cfg.rms_norm_eps);
  const int64_t ldq = d.H * d.dq, ldkv = d.H * d.dkv, ldo = d.H * d.dv;

  // What the attention backward reads: the tape's copies, or recomputed from the down-projections.
  Acts a;
  float* o = tape.o;
  const bool recompute = !tape.save_internals;
  if (recompute) {
    a.cq = d.Qr > 0 ? scratch.alloc<float>(size_t(d.N * d.Qr)) : nullptr;
    a.q = scratch.alloc<float>(size_t(d.N * ldq));
    a.ckv = scratch.alloc<float>(size_t(d.N * d.ckw));
    a.kv = scratch.alloc<float>(size_t(d.N * ldkv));
    o = scratch.alloc<float>(size_t(d.N * ldo));
    project_up(d, cfg, p, rt, x_norm, tape.cq_raw, tape.ckv_raw, a);
  } else {
    a = {tape.cq, tape.q, tape.ckv, tape.kv};
  }

  // o_proj: ∂o [N, H·dv] = ∂out · W_o (its weight gradient needs o, which recompute rebuilds below).
  float* dO = scratch.alloc<float>(size_t(d.N * ldo));
  linear_backward(nullptr, 0, p.o_proj.w, ldo, dout, d.D, d.N, d.D, ldo, dO, ldo, nullptr, 0, d.prec);

  AttnGrads g;
  g.dq = scratch.alloc<float>(size_t(d.N * ldq));
  g.dkv = scratch.alloc<float>(size_t(d.N * ldkv));
  g.dkpe = scratch.alloc<float>(size_t(d.N * d.H * d.dr));
  const int nt = num_threads();
  const JobScratch ks = job_scratch(scratch, nt, 2 * T * d.dq + T * T);  // K_h, ∂K_h, ∂P
  const JobScratch ps = job_scratch(scratch, nt, recompute ? T * T : 0);
  const float scale = rope.softmax_scale;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
  for (int64_t job = 0; job < B * d.H; ++job) {
    const int w = omp_get_thread_num();
    const int64_t b = job / d.H, h = job % d.H;
    float* k = ks.get(w);
    float* dK = k + T * d.dq;
    float* dP = dK + T * d.dq;
    // With recompute the tape holds no P (tape.p is null, and offsetting it would be UB).
    const float* P = nullptr;
    if (recompute) {
      float* Pw = ps.get(w);
      attend_forward(d, scale, a, b, h, k, Pw, o);
      P = Pw;
    } else {
      P = tape.p + job * T * T;
    }
    attend_backward(d, scale, a, P, dO, b, h, k, dP, dK, g);
  }
  if (p.o_proj.g) linear_backward(o, ldo, p.o_proj.w, ldo, dout, d.D, d.N, d.D, ldo, nullptr, 0, p.o_proj.g, ldo, d.prec);

  // ∂[c_kv | k_pe] before norm / RoPE, [N, C + dr].
  float* dckv = scratch.alloc<float>(size_t(d.N * d.ckw));
  for (int64_t n = 0; n < d.N; ++n) {  // ∂k_pe = Σ_h of the jobs' shares, h ascending (deterministic)
    const int64_t b = n / T, t = n % T;
    float* dst = dckv + n * d.ckw + d.C;
    std::copy_n(g.dkpe + (b * d.H * T + t) * d.dr, d.dr, dst);
    for (int64_t h = 1; h < d.H; ++h) {
      const float* src = g.dkpe + ((b * d.H + h) * T + t) * d.dr;
      for (int64_t i = 0; i < d.dr; ++i) dst[i] += src[i];
    }
  }
  rope_backward(dckv, k_pe_slices(d), rt);
  // kv_b_proj: ∂c_kv (normalised) = ∂kv · W_UKV, then back through kv_a_layernorm in place.
  linear_backward(a.ckv, d.ckw, p.kv_b_proj.w, d.C, g.dkv, ldkv, d.N, ldkv, d.C, dckv, d.ckw, p.kv_b_proj.g, d.C, d.prec);
  rmsnorm_backward(tape.ckv_raw, d.ckw, p.kv_a_layernorm.w, d.N, d.C, eps, dckv, d.ckw, dckv, d.ckw,
                   p.kv_a_layernorm.g);

  // Query path: un-rotate ∂q_pe, then q_b_proj / q_a_layernorm / q_a_proj (or q_proj) into ∂x.
  rope_backward(g.dq, q_pe_slices(d), rt);
  if (d.Qr > 0) {
    float* dcq = scratch.alloc<float>(size_t(d.N * d.Qr));
    linear_backward(a.cq, d.Qr, p.q_b_proj.w, d.Qr, g.dq, ldq, d.N, ldq, d.Qr, dcq, d.Qr, p.q_b_proj.g, d.Qr, d.prec);
    rmsnorm_backward(tape.cq_raw, d.Qr, p.q_a_layernorm.w, d.N, d.Qr, eps, dcq, d.Qr, dcq, d.Qr,
                     p.q_a_layernorm.g);
    linear_backward(x_norm, d.D, p.q_a_proj.w, d.D, dcq, d.Qr, d.N, d.Qr, d.D, dx_norm, d.D, p.q_a_proj.g, d.D, d.prec);
  } else {
    linear_backward(x_norm, d.D, p.q_proj.w, d.D, g.dq, ldq, d.N, ldq, d.D, dx_norm, d.D, p.q_proj.g, d.D, d.prec);
  }
  // kv_a_proj_with_mqa: ∂x += ∂[c_kv | k_pe] · W_DKV (accumulated onto the query path's ∂x).
  linear_gemm(d.prec, sgemm, false, false, d.N, d.D, d.ckw, 1.0f, dckv, d.ckw, p.kv_a_proj_with_mqa.w, d.D, 1.0f,
              dx_norm, d.D);
  if (p.kv_a_proj_with_mqa.g)
    linear_backward(x_norm, d.D, p.kv_a_proj_with_mqa.w, d.D, dckv, d.ckw, d.N, d.ckw, d.D, nullptr, 0,
                    p.kv_a_proj_with_mqa.g, d.D, d.prec);
  scratch.rewind(mark);
}

double mla_train_forward_flops(const DeepSeekConfig& cfg, int64_t B, int64_t T) {
  const Dims d(cfg, B, T);
  double macs_per_row = double(d.D) * double(d.ckw) + double(d.C) * double(d.H * d.dkv) +
                        double(d.H * d.dv) * double(d.D);
  macs_per_row += d.Qr > 0 ? double(d.D) * double(d.Qr) + double(d.Qr) * double(d.H * d.dq)
                           : double(d.D) * double(d.H * d.dq);
  double attn_macs = 0;  // per (sequence, head): Σ_blocks tb · L · (dq + dv)
  for (int64_t i = 0; i < num_blocks(T); ++i) {
    const Block blk = block(i, T);
    attn_macs += double(blk.tb) * double(blk.L) * double(d.dq + d.dv);
  }
  return 2.0 * (double(d.N) * macs_per_row + double(B * d.H) * attn_macs);
}

}  // namespace frugal
