// Backward passes of the elementwise kernels of ops.h (RMSNorm, SwiGLU, embedding, cross-entropy;
// softmax and RoPE are in test_softmax.cpp and test_rope.cpp, linear_backward in
// test_linear_grad.cpp).
//
// Method: each op's forward is re-implemented in double (reference.h); a scalar loss L = Σ G ⊙ out
// with a random G (the upstream gradient dy) is differentiated by central finite differences in
// double,
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
// ~eps-small for D = 1) are therefore compared with a tolerance scaled by those terms, not by the
// (possibly tiny) result: tol = 2e-5 · scale, ~10x headroom over the budget. Pure data movement
// (embedding) gets 1e-6.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "grad_check.h"
#include "kernels/ops.h"
#include "reference.h"

using namespace frugal;

namespace {

using test::fd_grad;
using test::randn;
using test::to_double;

// ---------------- RMSNorm ----------------

// y = x · rsqrt(mean(x²) + eps) · w, rows ld apart; returns Σ G ⊙ y.
double rmsnorm_loss_d(const std::vector<double>& x, const std::vector<double>& w, const std::vector<double>& G,
                      int64_t T, int64_t D, int64_t ld, double eps, std::vector<double>* y = nullptr) {
  std::vector<double> yd = x;
  test::rmsnorm_ref(yd.data(), w.data(), T, D, ld, eps);
  double L = 0;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < D; ++i) L += G[size_t(t * ld + i)] * yd[size_t(t * ld + i)];
  if (y) *y = yd;
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
        auto xd = to_double(x), wd = to_double(w), Gd = to_double(G);
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
  for (size_t i = 0; i < g.size(); ++i) L += G[i] * test::silu_ref(g[i]) * u[i];
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
      auto gd = to_double(g), ud = to_double(u), Gd = to_double(G);
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

// ---------------- Embedding ----------------

TEST(OpsGrad, EmbeddingBackwardAccumulatesRepeatedIds) {
  const int64_t V = 5, D = 7, T = 4, lddy = D + 1, lddw = D + 2;
  const std::vector<int32_t> ids = {3, 0, 3, 4};  // 3 repeats; 1 and 2 unused
  auto dy = randn(size_t(T * lddy), 41);
  auto W = randn(size_t(V * lddw), 42);  // only used for the FD loss
  auto dW0 = randn(size_t(V * lddw), 43), dW = dW0;
  embedding_backward(ids.data(), T, dy.data(), lddy, D, dW.data(), lddw, V);
  auto Wd = to_double(W);
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
      auto ld_ = to_double(l);
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

}  // namespace
