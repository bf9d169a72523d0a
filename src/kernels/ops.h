// Row-wise elementwise kernels of the transformer: RMSNorm, SwiGLU, residual add, embedding and
// cross-entropy backward (softmax and RoPE have files of their own: softmax.h, rope.h). Each is
// memory-bound and tiny next to the GEMMs, so the plain loop (which GCC vectorises) is both the
// reference and the implementation; the backward passes follow the forwards below.
//
// Dims legend: T rows (tokens), D features per row.
#pragma once
#include <cstdint>

namespace frugal {

// y[T, D] = x · rsqrt(mean(x²) + eps) · w. Statistics in double-free f32 like HF (which normalises
// in fp32). x and y may alias.
void rmsnorm_forward(const float* x, int64_t ldx, const float* w, int64_t T, int64_t D, float eps, float* y,
                     int64_t ldy);

// h[T, F] = silu(g) ⊙ u, with g and u rows F wide (SwiGLU's elementwise part). h may alias g.
void swiglu_forward(const float* g, const float* u, int64_t T, int64_t F, float* h);

float silu(float x);

// x[i] += y[i] for n elements (the residual adds), threaded for prefill-sized n.
void add_inplace(float* x, const float* y, int64_t n);

// ---- Backward passes (training). Each is the exact vector-Jacobian product of the forward above
// it as written in f32 (same statistics, same formulas), so the finite-difference harness in
// tests/kernels/test_ops_grad.cpp can check it against a double re-implementation. "dz" is always
// ∂loss/∂z. Gradients of weights are accumulated (+=), gradients of activations are overwritten.

// Backward of rmsnorm_forward. With r = rsqrt(mean(x²) + eps) per row:
//   dx_j = r·w_j·dy_j − x_j · r³/D · Σ_i dy_i·w_i·x_i,   dw_i += Σ_t dy_ti · x_ti · r_t.
// dx may alias x or dy (row-wise: the row statistics are taken before dx is written). dw [D] is
// accumulated; it may be null (frozen weight). Deterministic: dw is reduced over t in a fixed order.
void rmsnorm_backward(const float* x, int64_t ldx, const float* w, int64_t T, int64_t D, float eps, const float* dy,
                      int64_t ldy, float* dx, int64_t lddx, float* dw);

// Backward of swiglu_forward (h = silu(g)·u, silu(g) = g·σ(g), silu'(g) = σ(g)·(1 + g·(1 − σ(g)))):
//   dg = dh·u·silu'(g),  du = dh·silu(g).   Overwrites dg and du [T, F]; dg may alias g or dh and
// du may alias u or dh (each element is read before either output of that element is written),
// but dg and du must not alias each other.
void swiglu_backward(const float* g, const float* u, const float* dh, int64_t T, int64_t F, float* dg, float* du);

// Backward of the embedding lookup y[t] = W[ids[t]]: dW[ids[t], :] += dy[t, :] for dy [T, D]
// (row stride lddy) into dW [V, D] (row stride lddw). Repeated ids accumulate, in order of t.
// ids outside [0, V) are an internal error (the forward checks them first).
void embedding_backward(const int32_t* ids, int64_t T, const float* dy, int64_t lddy, int64_t D, float* dW,
                        int64_t lddw, int64_t V);

// Cross-entropy of logits [T, V] (row stride ld) against targets [T], optionally weighted per row:
//   loss = Σ_{t: target_t ≥ 0} w_t · (logsumexp(l_t) − l_t[target_t]) / N
// with w_t = weights[t] (weights == nullptr: every w_t = 1) and N = norm when norm > 0, else the
// number of rows with target ≥ 0 (0 rows: loss 0). Without weights and norm this is the mean over
// the unmasked rows; weights let post-training reweight tokens (0 for SFT prompt tokens, the
// advantage in GRPO — negative allowed) and norm lets the caller pick the denominator (Σ mask for a
// mean over the unmasked tokens, a step-wide token count across micro-batches, ...).
// Rows with target < 0 or w_t = 0 have no loss and a zero gradient (a w = 0 row never reads its
// logits, so its CE cannot turn 0·∞ into NaN). If dlogits (row stride ld) is non-null it is
// overwritten with ∂loss/∂logits = w_t · (softmax(l_t) − onehot(target_t)) / N. dlogits may alias
// logits (the in-place form saves a [T, V] buffer at V = 129k). Row sums are taken in double.
// Weights all 1 give bit for bit the unweighted result (w_t·x and x/N·w_t are exact for w_t = 1).
double cross_entropy_forward_backward(const float* logits, const int32_t* targets, int64_t T, int64_t V, int64_t ld,
                                      float* dlogits, const float* weights = nullptr, double norm = 0);

// Cross-entropy against soft targets (logit distillation, docs/posttrain.md, Distillation): row t
// of T has k target ids ids[t·k + j] with probabilities q[t·k + j] (a teacher's top-k, usually
// renormalised to sum 1; ids may repeat, q_j >= 0), and
//   loss = Σ_{t scored} w_t · Σ_j q_tj · (logsumexp(l_t) − l_t[id_tj]) / N,
// which is the forward KL(q ‖ softmax(l_t)) plus the targets' entropy (a constant). Row t is scored
// when scored[t] >= 0 (the hard targets' mask); N, weights and the in-place gradient are as in
// cross_entropy_forward_backward, with ∂loss/∂l_t = w_t · (Σ_j q_tj · softmax(l_t) − Σ_j q_tj·e_id_tj) / N.
double soft_cross_entropy_forward_backward(const float* logits, const int32_t* scored, int64_t T, int64_t V, int64_t ld,
                                           int64_t k, const int32_t* ids, const float* q, float* dlogits,
                                           const float* weights = nullptr, double norm = 0);
// Plain double reference of its loss (the spec the kernel and its gradient are tested against).
double soft_cross_entropy_ref(const double* logits, const int32_t* scored, int64_t T, int64_t V, int64_t ld, int64_t k,
                              const int32_t* ids, const float* q, const float* weights, double norm);

}  // namespace frugal
