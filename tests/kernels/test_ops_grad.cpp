// Backward passes of the elementwise kernels (ops.h) and of the f32 linear layer (linear_grad.h).
//
// Method: each op's forward is re-implemented in double; a scalar loss L = Σ G ⊙ out with a random
// G (the upstream gradient dy) is differentiated by central finite differences in double,
//   ∂L/∂x_i ≈ (L(x + h·e_i) − L(x − h·e_i)) / 2h,   h = 1e-6,
// and the f32 backward (fed the same G) is compared with it. The f32 forward is also checked to
// match the double re-implementation, so the gradient checked is the gradient of the real kernel.
//
// Tolerances. The FD value is good to ~1e-9 relative: truncation h²·|L'''|/6 ≈ 1e-12·|L'''| and
// rounding ≈ 1e-16·|L|/h ≈ 1e-10·|L| (all inputs are O(1)–O(10); the one sharp case, rmsnorm with
// |x| ≈ 1e-3 and eps = 1e-6, still has curvature scale ≫ h). So the error budget is the f32
// backward's own: each gradient element is a few f32 operations (≈ 2^-24 ≈ 6e-8 each) on top of a
// row reduction of ≤ 33 terms, i.e. ≲ 40·6e-8 ≈ 2.5e-6 relative to the size of the *terms* that
// form it. Gradients that are a difference of larger terms (rmsnorm's dx = r·w·dy − x·c, which is
// ~eps-small for D = 1; softmax's y·(dy − Σ y·dy)) are therefore compared with a tolerance scaled
// by those terms, not by the (possibly tiny) result: tol = 2e-5 · scale, ~10x headroom over the
// budget. Pure data movement (embedding) and rotations (rope: f32 cos/sin, 2 products + 1 add) get
// 1e-6. linear_backward (OpenBLAS sgemm, f32 accumulation of up to K = 257 terms) vs its
// double-accumulating _ref: ≤ K·6e-8 ≈ 1.5e-5 relative to Σ|terms|, checked at 1e-5 · Σ|terms| +
// 1e-6 (blocked sums grow like √K·… in practice, far inside that).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "core/rng.h"
#include "kernels/linear_grad.h"
#include "kernels/ops.h"
#include "grad_check.h"

using namespace frugal;

namespace {


std::vector<float> randn(size_t n, uint64_t seed, float scale = 1.0f) {
  Rng r(seed);
  std::vector<float> v(n);
  for (float& x : v) x = scale * r.normal();
  return v;
}

using test::fd_grad;
const auto to_d = test::to_double;

// ---------------- RMSNorm ----------------

// y = x · rsqrt(mean(x²) + eps) · w, rows ld apart; returns Σ G ⊙ y.
double rmsnorm_loss_d(const std::vector<double>& x, const std::vector<double>& w, const std::vector<double>& G,
                      int64_t T, int64_t D, int64_t ld, double eps, std::vector<double>* y = nullptr) {
  double L = 0;
  for (int64_t t = 0; t < T; ++t) {
    double ss = 0;
    for (int64_t i = 0; i < D; ++i) ss += x[t * ld + i] * x[t * ld + i];
    const double r = 1.0 / std::sqrt(ss / double(D) + eps);
    for (int64_t i = 0; i < D; ++i) {
      const double yi = x[t * ld + i] * r * w[i];
      if (y) (*y)[t * ld + i] = yi;
      L += G[t * ld + i] * yi;
    }
  }
  return L;
}

TEST(OpsGrad, RmsNormMatchesFiniteDifferences) {
  struct Case {
    float xscale, eps;
  };
  // eps negligible; eps dominating mean(x²) (r ≈ 1/sqrt(eps)); eps comparable to mean(x²).
  for (Case c : {Case{1.0f, 1e-6f}, Case{1e-3f, 1.0f}, Case{1e-3f, 1e-6f}})
    for (int64_t D : {1, 7, 33})
      for (int64_t T : {1, 3}) {
        const int64_t ld = D + 2;
        const uint64_t seed = uint64_t(D * 10 + T);
        auto x = randn(size_t(T * ld), seed, c.xscale), w = randn(size_t(D), seed + 1),
             G = randn(size_t(T * ld), seed + 2);
        // Forward f32 vs double (the gradient checked below is that of this forward).
        std::vector<float> y(x.size());
        rmsnorm_forward(x.data(), ld, w.data(), T, D, c.eps, y.data(), ld);
        auto xd = to_d(x), wd = to_d(w), Gd = to_d(G);
        std::vector<double> yd(x.size());
        rmsnorm_loss_d(xd, wd, Gd, T, D, ld, c.eps, &yd);
        for (int64_t t = 0; t < T; ++t)
          for (int64_t i = 0; i < D; ++i)
            ASSERT_NEAR(y[t * ld + i], yd[t * ld + i], 1e-5 * (1 + std::fabs(yd[t * ld + i])));

        // Backward: dw accumulates onto a non-zero start.
        std::vector<float> dx(x.size(), -7.0f), dw0 = randn(size_t(D), seed + 3), dw = dw0;
        rmsnorm_backward(x.data(), ld, w.data(), T, D, c.eps, G.data(), ld, dx.data(), ld, dw.data());
        auto fx = fd_grad(&xd, [&] { return rmsnorm_loss_d(xd, wd, Gd, T, D, ld, c.eps); });
        auto fw = fd_grad(&wd, [&] { return rmsnorm_loss_d(xd, wd, Gd, T, D, ld, c.eps); });

        std::vector<double> wterms(size_t(D), 0.0);
        for (int64_t t = 0; t < T; ++t) {
          double ss = 0, dot = 0;
          for (int64_t i = 0; i < D; ++i) {
            ss += xd[t * ld + i] * xd[t * ld + i];
            dot += std::fabs(Gd[t * ld + i] * wd[i] * xd[t * ld + i]);
          }
          const double r = 1.0 / std::sqrt(ss / double(D) + c.eps);
          for (int64_t i = 0; i < D; ++i) {
            // dx_i = r·w_i·G_i − x_i·r³/D·Σ G·w·x: scale by the two terms' magnitudes.
            const double scale = r * std::fabs(wd[i] * Gd[t * ld + i]) + std::fabs(xd[t * ld + i]) * r * r * r / D * dot;
            EXPECT_NEAR(dx[t * ld + i], fx[t * ld + i], 2e-5 * scale + 1e-30)
                << "D=" << D << " T=" << T << " eps=" << c.eps << " t=" << t << " i=" << i;
            wterms[size_t(i)] += std::fabs(Gd[t * ld + i] * xd[t * ld + i]) * r;
          }
          for (int64_t i = D; i < ld; ++i) EXPECT_EQ(dx[t * ld + i], -7.0f);  // padding untouched
        }
        for (int64_t i = 0; i < D; ++i) {
          // wterms = Σ_t |G·x|·r, the size of dw's terms; the += onto dw0 adds one rounding of dw0.
          EXPECT_NEAR(dw[i] - dw0[i], fw[i], 2e-5 * wterms[size_t(i)] + 1e-6 * std::fabs(dw0[i]))
              << "D=" << D << " T=" << T << " i=" << i;
        }

        // dx may alias dy: same bits as the out-of-place result; dw = null skips the weight grad.
        auto g_inplace = G;
        rmsnorm_backward(x.data(), ld, w.data(), T, D, c.eps, g_inplace.data(), ld, g_inplace.data(), ld, nullptr);
        for (int64_t t = 0; t < T; ++t)
          for (int64_t i = 0; i < D; ++i) EXPECT_EQ(g_inplace[t * ld + i], dx[t * ld + i]);
      }
}

// eps = 0 with D = 1 is the sign function (dx = 0 exactly in exact math); eps > 0 smooths it:
// dx = w·dy·eps / (x² + eps)^{3/2}, which the difference of terms in f32 must still resolve
// in the regime where eps matters (|x|² ~ eps).
TEST(OpsGrad, RmsNormD1EpsGradient) {
  for (float x0 : {1e-3f, -2e-3f, 5e-4f}) {
    const float w = 1.5f, g = 0.7f, eps = 1e-6f;
    float dx = 0, dw = 0;
    rmsnorm_backward(&x0, 1, &w, 1, 1, eps, &g, 1, &dx, 1, &dw);
    const double want = double(w) * g * eps / std::pow(double(x0) * x0 + eps, 1.5);
    // scale of the terms r·w·g ≈ w·g/|x| ~ 1e3: 2e-5 of that.
    EXPECT_NEAR(dx, want, 2e-5 * w * g / std::sqrt(double(x0) * x0 + eps)) << x0;
    EXPECT_NEAR(dw, g * x0 / std::sqrt(double(x0) * x0 + eps), 1e-6);
  }
}

// ---------------- SwiGLU ----------------

double swiglu_loss_d(const std::vector<double>& g, const std::vector<double>& u, const std::vector<double>& G) {
  double L = 0;
  for (size_t i = 0; i < g.size(); ++i) L += G[i] * g[i] / (1.0 + std::exp(-g[i])) * u[i];
  return L;
}

TEST(OpsGrad, SwigluMatchesFiniteDifferences) {
  for (int64_t F : {1, 7, 33})
    for (int64_t T : {1, 3}) {
      const size_t n = size_t(T * F);
      auto g = randn(n, uint64_t(F + 100 * T), 3.0f), u = randn(n, uint64_t(F + 100 * T + 1)),
           G = randn(n, uint64_t(F + 100 * T + 2));
      g[0] = 20.0f;                  // saturated: σ = 1, silu' = 1
      if (n > 1) g[n - 1] = -20.0f;  // saturated low: silu' ≈ −19·e^-20
      std::vector<float> dg(n), du(n);
      swiglu_backward(g.data(), u.data(), G.data(), T, F, dg.data(), du.data());
      auto gd = to_d(g), ud = to_d(u), Gd = to_d(G);
      auto fg = fd_grad(&gd, [&] { return swiglu_loss_d(gd, ud, Gd); });
      auto fu = fd_grad(&ud, [&] { return swiglu_loss_d(gd, ud, Gd); });
      for (size_t i = 0; i < n; ++i) {
        // silu'(g) = σ·(1 + g·(1−σ)) has terms up to ~1 + |g|·σ(1−σ) ≤ 1.3; scale by |G·u|.
        EXPECT_NEAR(dg[i], fg[i], 2e-5 * std::fabs(Gd[i] * ud[i]) * (1 + 0.3 * std::fabs(gd[i])) + 1e-12)
            << "F=" << F << " T=" << T << " i=" << i;
        EXPECT_NEAR(du[i], fu[i], 2e-5 * std::fabs(Gd[i] * gd[i]) + 1e-12) << "F=" << F << " T=" << T << " i=" << i;
      }
      // In place (dg over g, du over u), as the training loop will use it.
      auto g2 = g, u2 = u;
      swiglu_backward(g2.data(), u2.data(), G.data(), T, F, g2.data(), u2.data());
      for (size_t i = 0; i < n; ++i) {
        EXPECT_EQ(g2[i], dg[i]);
        EXPECT_EQ(u2[i], du[i]);
      }
    }
}

// ---------------- Softmax ----------------

double softmax_loss_d(const std::vector<double>& x, const std::vector<double>& G, int64_t T, int64_t n, int64_t ld) {
  double L = 0;
  for (int64_t t = 0; t < T; ++t) {
    double m = -INFINITY, z = 0;
    for (int64_t i = 0; i < n; ++i) m = std::max(m, x[t * ld + i]);
    if (m == -INFINITY) continue;
    for (int64_t i = 0; i < n; ++i) z += std::exp(x[t * ld + i] - m);
    for (int64_t i = 0; i < n; ++i) L += G[t * ld + i] * std::exp(x[t * ld + i] - m) / z;
  }
  return L;
}

TEST(OpsGrad, SoftmaxMatchesFiniteDifferencesWithMasks) {
  const float ninf = -std::numeric_limits<float>::infinity();
  for (int64_t n : {1, 3, 7, 33})
    for (int64_t T : {1, 3}) {
      const int64_t ld = n + 1;
      auto x = randn(size_t(T * ld), uint64_t(n + 10 * T), 3.0f), G = randn(size_t(T * ld), uint64_t(n + 10 * T + 1));
      if (n > 1) x[0] = ninf;  // one masked entry in row 0
      if (T == 3)
        for (int64_t i = 0; i < n; ++i) x[2 * ld + i] = ninf;  // a fully masked row
      auto y = x;
      softmax_rows(y.data(), T, n, ld);
      std::vector<float> dx(size_t(T * ld), -7.0f);
      softmax_rows_backward(y.data(), G.data(), T, n, ld, dx.data());
      auto xd = to_d(x), Gd = to_d(G);
      // FD only on finite entries (a −inf logit stays −inf: its gradient is 0 by definition).
      std::vector<double> fx(xd.size(), 0.0);
      for (size_t i = 0; i < xd.size(); ++i) {
        if (std::isfinite(xd[i])) fx[i] = test::fd_grad_at(&xd, i, [&] { return softmax_loss_d(xd, Gd, T, n, ld); });
      }
      for (int64_t t = 0; t < T; ++t) {
        double ydy = 0;
        for (int64_t i = 0; i < n; ++i) ydy += std::fabs(double(y[t * ld + i]) * G[t * ld + i]);
        for (int64_t i = 0; i < n; ++i) {
          const size_t k = size_t(t * ld + i);
          if (!std::isfinite(x[k])) {
            EXPECT_EQ(dx[k], 0.0f);  // masked entries (and fully masked rows): exactly zero, not NaN
            continue;
          }
          const double scale = double(y[k]) * (std::fabs(Gd[k]) + ydy);
          EXPECT_NEAR(dx[k], fx[k], 2e-5 * scale + 1e-12) << "n=" << n << " T=" << T << " t=" << t << " i=" << i;
        }
        EXPECT_EQ(dx[size_t(t * ld + n)], -7.0f);  // padding untouched
      }
      // dx may alias dy.
      auto g2 = G;
      softmax_rows_backward(y.data(), g2.data(), T, n, ld, g2.data());
      for (int64_t t = 0; t < T; ++t)
        for (int64_t i = 0; i < n; ++i) EXPECT_EQ(g2[size_t(t * ld + i)], dx[size_t(t * ld + i)]);
    }
}

// ---------------- RoPE ----------------

double rope_loss_d(const std::vector<double>& x, const std::vector<double>& G, int64_t T, int64_t R, int64_t ld,
                   const std::vector<int64_t>& pos, const std::vector<double>& inv_freq, double mscale) {
  double L = 0;
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t i = 0; i < R / 2; ++i) {
      const double a = double(pos[size_t(t)]) * inv_freq[size_t(i)];
      const double c = std::cos(a) * mscale, s = std::sin(a) * mscale;
      const double x0 = x[t * ld + 2 * i], x1 = x[t * ld + 2 * i + 1];
      L += G[t * ld + 2 * i] * (x0 * c - x1 * s) + G[t * ld + 2 * i + 1] * (x0 * s + x1 * c);
    }
    if (R % 2) L += G[t * ld + R - 1] * x[t * ld + R - 1];  // an odd last element is passed through
  }
  return L;
}

TEST(OpsGrad, RopeBackwardIsTransposedRotation) {
  const double mscale = 1.3;
  for (int64_t R : {1, 2, 7, 8})
    for (int64_t T : {1, 3}) {
      const int64_t ld = R + 3;
      std::vector<double> inv_freq(size_t(std::max<int64_t>(R / 2, 1)));
      for (size_t i = 0; i < inv_freq.size(); ++i) inv_freq[i] = std::pow(10000.0, -2.0 * double(i) / double(R));
      // Position 0 (identity·mscale), small, and large (angles ~1e5–1e6 rad at freq 1).
      std::vector<int64_t> pos = T == 1 ? std::vector<int64_t>{163839} : std::vector<int64_t>{0, 5, 1000003};
      auto x = randn(size_t(T * ld), uint64_t(R + 7 * T)), G = randn(size_t(T * ld), uint64_t(R + 7 * T + 1));
      auto y = x;
      rope_interleaved(y.data(), ld, T, R, pos.data(), inv_freq.data(), mscale);
      auto dx = G;
      rope_interleaved_backward(dx.data(), ld, T, R, pos.data(), inv_freq.data(), mscale);
      auto xd = to_d(x), Gd = to_d(G);
      auto fx = fd_grad(&xd, [&] { return rope_loss_d(xd, Gd, T, R, ld, pos, inv_freq, mscale); });
      for (int64_t t = 0; t < T; ++t)
        for (int64_t i = 0; i < ld; ++i) {
          const size_t k = size_t(t * ld + i);
          if (i >= R) {
            EXPECT_EQ(dx[k], G[k]);  // outside the rotated span: untouched
            continue;
          }
          EXPECT_NEAR(dx[k], fx[k], 1e-6 * mscale * (std::fabs(Gd[k]) + std::fabs(Gd[size_t(t * ld + (i ^ 1))]) + 1))
              << "R=" << R << " T=" << T << " t=" << t << " i=" << i;
        }
      // Backward ∘ forward = mscale² · identity on the rotated span (rotation is orthogonal).
      auto z = y;
      rope_interleaved_backward(z.data(), ld, T, R, pos.data(), inv_freq.data(), mscale);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t i = 0; i < R - R % 2; ++i) {
          const size_t k = size_t(t * ld + i);
          EXPECT_NEAR(z[k], mscale * mscale * x[k], 1e-5 * (1 + std::fabs(x[k])));
        }
    }
}

// ---------------- Embedding ----------------

TEST(OpsGrad, EmbeddingBackwardAccumulatesRepeatedIds) {
  const int64_t V = 5, D = 7, T = 4, lddy = D + 1, lddw = D + 2;
  const std::vector<int32_t> ids = {3, 0, 3, 4};  // 3 repeats; 1 and 2 unused
  auto dy = randn(size_t(T * lddy), 41);
  auto W = randn(size_t(V * lddw), 42);  // only used for the FD loss
  auto dW0 = randn(size_t(V * lddw), 43), dW = dW0;
  embedding_backward(ids.data(), T, dy.data(), lddy, D, dW.data(), lddw, V);
  auto Wd = to_d(W);
  auto fW = fd_grad(&Wd, [&] {
    double L = 0;
    for (int64_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < D; ++i) L += double(dy[t * lddy + i]) * Wd[size_t(ids[t] * lddw + i)];
    return L;
  });
  for (int64_t v = 0; v < V; ++v)
    for (int64_t i = 0; i < lddw; ++i) {
      const size_t k = size_t(v * lddw + i);
      if (i >= D) {
        EXPECT_EQ(dW[k], dW0[k]);
        continue;
      }
      EXPECT_NEAR(double(dW[k]) - dW0[k], fW[k], 1e-6 * (1 + std::fabs(dW0[k]))) << v << " " << i;
    }
  std::vector<float> empty_dw(size_t(V * D), 1.0f);
  embedding_backward(ids.data(), 0, dy.data(), lddy, D, empty_dw.data(), D, V);  // T = 0: no-op
  for (float f : empty_dw) EXPECT_EQ(f, 1.0f);
}

// ---------------- Cross-entropy ----------------

double ce_loss_d(const std::vector<double>& l, const std::vector<int32_t>& tg, int64_t T, int64_t V, int64_t ld) {
  double L = 0;
  int64_t n = 0;
  for (int64_t t = 0; t < T; ++t) {
    if (tg[size_t(t)] < 0) continue;
    double m = -INFINITY, z = 0;
    for (int64_t i = 0; i < V; ++i) m = std::max(m, l[t * ld + i]);
    for (int64_t i = 0; i < V; ++i) z += std::exp(l[t * ld + i] - m);
    L += m + std::log(z) - l[t * ld + tg[size_t(t)]];
    ++n;
  }
  return n ? L / double(n) : 0.0;
}

TEST(OpsGrad, CrossEntropyMatchesFiniteDifferencesWithMaskedTargets) {
  for (int64_t V : {1, 7, 33})
    for (int64_t T : {1, 3}) {
      const int64_t ld = V + 2;
      auto l = randn(size_t(T * ld), uint64_t(V + 3 * T), 3.0f);
      std::vector<int32_t> tg(static_cast<size_t>(T));
      for (int64_t t = 0; t < T; ++t) tg[size_t(t)] = int32_t((t * 5 + 1) % V);
      if (T == 3) {
        tg[1] = -100;  // masked (HF's ignore_index)
        for (int64_t i = 0; i < V; ++i) l[2 * ld + i] *= 30.0f;  // logits ~±100: exp overflows f32 without max-shift
      }
      std::vector<float> d(size_t(T * ld), -7.0f);
      const double loss = cross_entropy_forward_backward(l.data(), tg.data(), T, V, ld, d.data());
      auto ld_ = to_d(l);
      const double want = ce_loss_d(ld_, tg, T, V, ld);
      EXPECT_NEAR(loss, want, 1e-9 * (1 + std::fabs(want))) << "V=" << V << " T=" << T;  // all double inside
      EXPECT_EQ(cross_entropy_forward_backward(l.data(), tg.data(), T, V, ld, nullptr), loss);  // loss only
      auto fl = fd_grad(&ld_, [&] { return ce_loss_d(ld_, tg, T, V, ld); });
      const int64_t n_valid = T == 3 ? 2 : 1;
      for (int64_t t = 0; t < T; ++t)
        for (int64_t i = 0; i < ld; ++i) {
          const size_t k = size_t(t * ld + i);
          if (i >= V) {
            EXPECT_EQ(d[k], -7.0f);  // padding untouched
          } else if (tg[size_t(t)] < 0) {
            EXPECT_EQ(d[k], 0.0f);  // masked row: zero gradient
          } else {
            // (p − onehot)/N computed in double then rounded: 1 f32 rounding; FD ~1e-9.
            EXPECT_NEAR(d[k], fl[k], 1e-6 / double(n_valid) + 1e-6 * std::fabs(fl[k]))
                << "V=" << V << " T=" << T << " t=" << t << " i=" << i;
          }
        }
      // In place over the logits.
      auto l2 = l;
      EXPECT_EQ(cross_entropy_forward_backward(l2.data(), tg.data(), T, V, ld, l2.data()), loss);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t i = 0; i < V; ++i) EXPECT_EQ(l2[size_t(t * ld + i)], d[size_t(t * ld + i)]);
    }
  // Every target masked: loss 0, gradient 0 (no division by zero).
  std::vector<float> l = {1, 2, 3, 4, 5, 6}, d(6, -1.0f);
  std::vector<int32_t> tg = {-1, -100};
  EXPECT_EQ(cross_entropy_forward_backward(l.data(), tg.data(), 2, 3, 3, d.data()), 0.0);
  for (float f : d) EXPECT_EQ(f, 0.0f);
}

// ---------------- Linear ----------------

TEST(OpsGrad, LinearBackwardMatchesReference) {
  struct Shape {
    int64_t M, N, K;
  };
  for (Shape s : {Shape{1, 1, 1}, Shape{3, 7, 33}, Shape{1, 33, 7}, Shape{17, 5, 3}, Shape{67, 129, 257}}) {
    const int64_t ldx = s.K + 1, ldw = s.K + 3, lddy = s.N + 2, lddx = s.K + 5, lddw = s.K + 4;
    const uint64_t seed = uint64_t(s.M * 1000 + s.N * 10 + s.K);
    auto x = randn(size_t(s.M * ldx), seed), w = randn(size_t(s.N * ldw), seed + 1),
         dy = randn(size_t(s.M * lddy), seed + 2), dw0 = randn(size_t(s.N * lddw), seed + 3);
    std::vector<float> dx(size_t(s.M * lddx), -7.0f), dx_ref = dx, dw = dw0, dw_ref = dw0;
    linear_backward(x.data(), ldx, w.data(), ldw, dy.data(), lddy, s.M, s.N, s.K, dx.data(), lddx, dw.data(), lddw);
    linear_backward_ref(x.data(), ldx, w.data(), ldw, dy.data(), lddy, s.M, s.N, s.K, dx_ref.data(), lddx,
                        dw_ref.data(), lddw);
    for (int64_t m = 0; m < s.M; ++m)
      for (int64_t k = 0; k < lddx; ++k) {
        const size_t i = size_t(m * lddx + k);
        if (k >= s.K) {
          EXPECT_EQ(dx[i], -7.0f);
          continue;
        }
        double abs_terms = 0;
        for (int64_t n = 0; n < s.N; ++n) abs_terms += std::fabs(double(dy[m * lddy + n]) * w[n * ldw + k]);
        EXPECT_NEAR(dx[i], dx_ref[i], 1e-5 * abs_terms + 1e-6) << s.M << "x" << s.N << "x" << s.K;
      }
    for (int64_t n = 0; n < s.N; ++n)
      for (int64_t k = 0; k < lddw; ++k) {
        const size_t i = size_t(n * lddw + k);
        if (k >= s.K) {
          EXPECT_EQ(dw[i], dw0[i]);
          continue;
        }
        double abs_terms = std::fabs(dw0[i]);
        for (int64_t m = 0; m < s.M; ++m) abs_terms += std::fabs(double(dy[m * lddy + n]) * x[m * ldx + k]);
        EXPECT_NEAR(dw[i], dw_ref[i], 1e-5 * abs_terms + 1e-6) << s.M << "x" << s.N << "x" << s.K;
      }
  }
}

// The reference itself against finite differences of L = Σ dy ⊙ (x·Wᵀ) (bilinear: FD is exact up
// to rounding), and the null / empty cases.
TEST(OpsGrad, LinearReferenceMatchesFiniteDifferencesAndEdgeCases) {
  const int64_t M = 3, N = 5, K = 7;
  auto x = randn(size_t(M * K), 51), w = randn(size_t(N * K), 52), dy = randn(size_t(M * N), 53);
  std::vector<float> dx(size_t(M * K)), dw(size_t(N * K), 0.0f);
  linear_backward_ref(x.data(), K, w.data(), K, dy.data(), N, M, N, K, dx.data(), K, dw.data(), K);
  auto xd = to_d(x), wd = to_d(w);
  auto loss = [&] {
    double L = 0;
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double y = 0;
        for (int64_t k = 0; k < K; ++k) y += xd[size_t(m * K + k)] * wd[size_t(n * K + k)];
        L += double(dy[size_t(m * N + n)]) * y;
      }
    return L;
  };
  auto fx = fd_grad(&xd, loss), fw = fd_grad(&wd, loss);
  for (size_t i = 0; i < dx.size(); ++i) EXPECT_NEAR(dx[i], fx[i], 1e-5 * (1 + std::fabs(fx[i])));
  for (size_t i = 0; i < dw.size(); ++i) EXPECT_NEAR(dw[i], fw[i], 1e-5 * (1 + std::fabs(fw[i])));

  // Null outputs are skipped; M = 0 leaves dW as it was; N = 0 gives dx = 0.
  auto dw2 = dw;
  linear_backward(x.data(), K, w.data(), K, dy.data(), N, M, N, K, nullptr, K, dw2.data(), K);
  for (size_t i = 0; i < dw.size(); ++i) EXPECT_NEAR(dw2[i], 2 * dw[i], 1e-5 * (1 + std::fabs(dw[i])));
  auto dw3 = dw;
  linear_backward(x.data(), K, w.data(), K, dy.data(), N, 0, N, K, nullptr, K, dw3.data(), K);
  EXPECT_EQ(dw3, dw);
  std::vector<float> dx0(size_t(M * K), 9.0f);
  linear_backward(x.data(), K, w.data(), K, dy.data(), 1, M, 0, K, dx0.data(), K, nullptr, K);
  for (float f : dx0) EXPECT_EQ(f, 0.0f);
}

}  // namespace
