#include "kernels/ops.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"

namespace frugal {

void rmsnorm_forward(const float* x, int64_t ldx, const float* w, int64_t T, int64_t D, float eps, float* y,
                     int64_t ldy) {
#pragma omp parallel for schedule(static) if (T * D >= (1 << 16))
  for (int64_t t = 0; t < T; ++t) {
    const float* xr = x + t * ldx;
    float* yr = y + t * ldy;
    float ss = 0;
    for (int64_t i = 0; i < D; ++i) ss += xr[i] * xr[i];
    float r = 1.0f / std::sqrt(ss / float(D) + eps);
    for (int64_t i = 0; i < D; ++i) yr[i] = xr[i] * r * w[i];
  }
}

float silu(float x) { return x / (1.0f + std::exp(-x)); }

void add_inplace(float* x, const float* y, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= (1 << 16))
  for (int64_t i = 0; i < n; ++i) x[i] += y[i];
}

void swiglu_forward(const float* g, const float* u, int64_t T, int64_t F, float* h) {
  const int64_t n = T * F;
#pragma omp parallel for schedule(static) if (n >= (1 << 16))
  for (int64_t i = 0; i < n; ++i) h[i] = silu(g[i]) * u[i];
}

// ---- Backward passes ----

void rmsnorm_backward(const float* x, int64_t ldx, const float* w, int64_t T, int64_t D, float eps, const float* dy,
                      int64_t ldy, float* dx, int64_t lddx, float* dw) {
  // Pass 1: per-row r (computed exactly as the forward does) and c = r³/D · Σ dy·w·x.
  std::vector<float> r(static_cast<size_t>(T)), c(static_cast<size_t>(T));
#pragma omp parallel for schedule(static) if (T * D >= (1 << 16))
  for (int64_t t = 0; t < T; ++t) {
    const float* xr = x + t * ldx;
    const float* gr = dy + t * ldy;
    float ss = 0;
    for (int64_t i = 0; i < D; ++i) ss += xr[i] * xr[i];
    const float rt = 1.0f / std::sqrt(ss / float(D) + eps);
    double dot = 0;
    for (int64_t i = 0; i < D; ++i) dot += double(gr[i]) * w[i] * xr[i];
    r[size_t(t)] = rt;
    c[size_t(t)] = float(double(rt) * rt * rt / double(D) * dot);
  }
  // Pass 2: dw, parallel over columns so each dw_i is summed over t in order (deterministic).
  if (dw) {
#pragma omp parallel for schedule(static) if (T * D >= (1 << 16))
    for (int64_t i = 0; i < D; ++i) {
      float s = 0;
      for (int64_t t = 0; t < T; ++t) s += dy[t * ldy + i] * x[t * ldx + i] * r[size_t(t)];
      dw[i] += s;
    }
  }
  // Pass 3: dx (elementwise given the row statistics, so dx may alias x or dy).
#pragma omp parallel for schedule(static) if (T * D >= (1 << 16))
  for (int64_t t = 0; t < T; ++t) {
    const float* xr = x + t * ldx;
    const float* gr = dy + t * ldy;
    float* dr = dx + t * lddx;
    const float rt = r[size_t(t)], ct = c[size_t(t)];
    for (int64_t i = 0; i < D; ++i) dr[i] = rt * w[i] * gr[i] - xr[i] * ct;
  }
}

void swiglu_backward(const float* g, const float* u, const float* dh, int64_t T, int64_t F, float* dg, float* du) {
  const int64_t n = T * F;
#pragma omp parallel for schedule(static) if (n >= (1 << 16))
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i], ui = u[i], hi = dh[i];
    const float sg = 1.0f / (1.0f + std::exp(-gi));
    const float silu_g = gi * sg;
    dg[i] = hi * ui * (sg * (1.0f + gi * (1.0f - sg)));
    du[i] = hi * silu_g;
  }
}

void embedding_backward(const int32_t* ids, int64_t T, const float* dy, int64_t lddy, int64_t D, float* dW,
                        int64_t lddw, int64_t V) {
  // Serial over t (repeated ids would race); each row add is vectorised.
  for (int64_t t = 0; t < T; ++t) {
    FRUGAL_ASSERT(ids[t] >= 0 && ids[t] < V, "embedding_backward: id {} at {} outside [0, {})", ids[t], t, V);
    float* wr = dW + int64_t(ids[t]) * lddw;
    const float* gr = dy + t * lddy;
    for (int64_t i = 0; i < D; ++i) wr[i] += gr[i];
  }
}

namespace {

// log Σ_i exp(l_i) of one row: the max in f32, the shifted sum in double (the cross-entropies' lse).
double row_logsumexp(const float* l, int64_t V) {
  float m = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < V; ++i) m = std::max(m, l[i]);
  double z = 0;
  for (int64_t i = 0; i < V; ++i) z += std::exp(double(l[i]) - double(m));
  return double(m) + std::log(z);
}

}  // namespace

double cross_entropy_forward_backward(const float* logits, const int32_t* targets, int64_t T, int64_t V, int64_t ld,
                                      float* dlogits, const float* weights, double norm) {
  FRUGAL_ASSERT(norm >= 0 && std::isfinite(norm), "cross_entropy: norm {} must be finite and >= 0", norm);
  int64_t n_valid = 0;
  for (int64_t t = 0; t < T; ++t) {
    FRUGAL_ASSERT(targets[t] < V, "cross_entropy: target {} at {} >= V = {}", targets[t], t, V);
    n_valid += targets[t] >= 0;
  }
  const double n = norm > 0 ? norm : double(n_valid);
  const double inv_n = n > 0 ? 1.0 / n : 0.0;
  std::vector<double> row_loss(size_t(T), 0.0);
#pragma omp parallel for schedule(static) if (T * V >= (1 << 16))
  for (int64_t t = 0; t < T; ++t) {
    const float* l = logits + t * ld;
    float* d = dlogits ? dlogits + t * ld : nullptr;
    const int32_t tgt = targets[t];
    if (tgt < 0 || (weights && weights[t] == 0.0f)) {
      if (d) std::fill(d, d + V, 0.0f);
      continue;
    }
    const double lse = row_logsumexp(l, V);
    const double lt = l[tgt];  // read before d (which may alias l) is written
    // Unweighted rows keep the exact operations of the plain mean (no multiplication by 1).
    const double w = weights ? double(weights[t]) : 1.0;
    const double c = weights ? w * inv_n : inv_n;  // ∂loss/∂CE_t
    row_loss[size_t(t)] = weights ? w * (lse - lt) : lse - lt;
    if (d) {
      for (int64_t i = 0; i < V; ++i) d[i] = float(std::exp(double(l[i]) - lse) * c);
      d[tgt] = float((std::exp(lt - lse) - 1.0) * c);  // p − 1 in double: no cancellation in f32
    }
  }
  double loss = 0;
  for (int64_t t = 0; t < T; ++t) loss += row_loss[size_t(t)];  // fixed order: deterministic
  return loss * inv_n;
}

double soft_cross_entropy_forward_backward(const float* logits, const int32_t* scored, int64_t T, int64_t V, int64_t ld,
                                           int64_t k, const int32_t* ids, const float* q, float* dlogits,
                                           const float* weights, double norm) {
  FRUGAL_ASSERT(norm >= 0 && std::isfinite(norm), "soft_cross_entropy: norm {} must be finite and >= 0", norm);
  FRUGAL_ASSERT(k >= 1, "soft_cross_entropy: k = {} must be >= 1", k);
  int64_t n_valid = 0;
  for (int64_t t = 0; t < T; ++t) {
    n_valid += scored[t] >= 0;
    if (scored[t] < 0) continue;
    for (int64_t j = 0; j < k; ++j)
      FRUGAL_ASSERT(ids[t * k + j] >= 0 && ids[t * k + j] < V && q[t * k + j] >= 0 && std::isfinite(q[t * k + j]),
                    "soft_cross_entropy: target {} of row {}: id {} (V = {}), q {}", j, t, ids[t * k + j], V,
                    q[t * k + j]);
  }
  const double n = norm > 0 ? norm : double(n_valid);
  const double inv_n = n > 0 ? 1.0 / n : 0.0;
  std::vector<double> row_loss(size_t(T), 0.0);
#pragma omp parallel for schedule(static) if (T * V >= (1 << 16))
  for (int64_t t = 0; t < T; ++t) {
    const float* l = logits + t * ld;
    float* d = dlogits ? dlogits + t * ld : nullptr;
    if (scored[t] < 0 || (weights && weights[t] == 0.0f)) {
      if (d) std::fill(d, d + V, 0.0f);
      continue;
    }
    const double lse = row_logsumexp(l, V);
    const int32_t* id = ids + t * k;
    const float* qt = q + t * k;
    double qsum = 0, ce = 0;
    for (int64_t j = 0; j < k; ++j) {  // read the target logits before d (which may alias l) is written
      qsum += qt[j];
      ce += double(qt[j]) * (lse - double(l[id[j]]));
    }
    const double c = (weights ? double(weights[t]) : 1.0) * inv_n;
    row_loss[size_t(t)] = weights ? double(weights[t]) * ce : ce;
    if (d) {
      for (int64_t i = 0; i < V; ++i) d[i] = float(qsum * std::exp(double(l[i]) - lse) * c);
      for (int64_t j = 0; j < k; ++j) d[id[j]] = float(double(d[id[j]]) - double(qt[j]) * c);
    }
  }
  double loss = 0;
  for (int64_t t = 0; t < T; ++t) loss += row_loss[size_t(t)];  // fixed order: deterministic
  return loss * inv_n;
}

double soft_cross_entropy_ref(const double* logits, const int32_t* scored, int64_t T, int64_t V, int64_t ld, int64_t k,
                              const int32_t* ids, const float* q, const float* weights, double norm) {
  double L = 0;
  int64_t n = 0;
  for (int64_t t = 0; t < T; ++t) {
    if (scored[t] < 0) continue;
    ++n;
    const double* l = logits + t * ld;
    double m = -INFINITY, z = 0;
    for (int64_t i = 0; i < V; ++i) m = std::max(m, l[i]);
    for (int64_t i = 0; i < V; ++i) z += std::exp(l[i] - m);
    for (int64_t j = 0; j < k; ++j)
      L += (weights ? double(weights[t]) : 1.0) * double(q[t * k + j]) * (m + std::log(z) - l[ids[t * k + j]]);
  }
  const double N = norm > 0 ? norm : double(n);
  return N > 0 ? L / N : 0.0;
}

}  // namespace frugal
