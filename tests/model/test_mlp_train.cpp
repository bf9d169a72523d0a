// Training forward/backward of the SwiGLU MLP (model/mlp_train.h): the dense FFN of the first
// layers, and the shape of every MoE expert (test_moe_train.cpp tests those in place).
//
//  (a) the training forward equals the inference mlp_forward on the micro fixture's dense layer;
//  (b) every gradient (gate, up, down, x) against central finite differences of the double
//      reference mlp_row_ref (reference.h), and accumulation (+=) onto existing gradients;
//  (c) outputs and gradients bit-identical across runs and thread counts.
//
// Tolerances. (a): the same f32 math with GEMMs that may sum in another order: ≤ 1e-5 absolute on
// O(1) outputs (sums of ≤ 64 terms: ~64·6e-8·Σ|terms|). (b): FD in double with h = 1e-6 is good to
// ~1e-9 relative, so the budget is the f32 pipeline's: ≤ 4 chained f32 reductions (forward
// activations, dh = dy·W_down, swiglu', the weight/input GEMM) over ≤ 10 terms each, ≤ n·2^-24
// relative to the size of their terms, which the tensor's largest gradient bounds: ~3e-6 ·
// max|g_fd|; we allow 3e-5 (the MoE tests' bound, same structure).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/arena.h"
#include "core/rng.h"
#include "core/sys.h"
#include "io/hf_loader.h"
#include "model/mlp_train.h"
#include "model/moe.h"
#include "grad_check.h"
#include "owned_params.h"
#include "reference.h"

using namespace frugal;

namespace {

constexpr double kRelTol = 3e-5;

using test::fd_grad;
using test::Mat;
using test::randn;
using test::TestMlp;
using test::to_double;

TEST(MlpTrain, ForwardEqualsInferenceOnFixture) {
  auto lm = load_model(FRUGAL_TEST_DATA "/fixtures/micro_f32");
  const DeepSeekConfig& cfg = lm->config;
  const int64_t D = cfg.hidden_size, N = 2 * 12;
  std::vector<float> x = randn(size_t(N * D), 21);
  Arena arena, keep;
  std::vector<float> want(static_cast<size_t>(N * D)), got(static_cast<size_t>(N * D));
  TestMlp mlp(lm->weights.layers[0].mlp);  // layer 0 is dense
  mlp_forward(lm->weights.layers[0].mlp, x.data(), N, D, arena, want.data());
  MlpTape mt;
  mlp_train_forward(mlp.params(), x.data(), N, D, keep, mt, got.data());
  for (int64_t i = 0; i < N * D; ++i) EXPECT_NEAR(got[size_t(i)], want[size_t(i)], 1e-5f) << "mlp " << i;
}

TEST(MlpTrain, GradientsMatchFiniteDifferences) {
  const int64_t N = 5, D = 6, F = 10;
  Rng rng(3);
  TestMlp m(D, F, rng);
  std::vector<float> x = randn(size_t(N * D), 4), R = randn(size_t(N * D), 5);
  Arena keep, scratch;
  MlpTape tape;
  std::vector<float> y(static_cast<size_t>(N * D)), dx(static_cast<size_t>(N * D));
  mlp_train_forward(m.params(), x.data(), N, D, keep, tape, y.data());
  mlp_train_backward(m.params(), x.data(), N, D, tape, R.data(), dx.data(), scratch);

  std::vector<std::vector<double>> P{to_double(m.gate.w), to_double(m.up.w), to_double(m.down.w)};
  std::vector<double> xd = to_double(x);
  auto loss = [&] {
    double L = 0;
    for (int64_t t = 0; t < N; ++t) {
      std::vector<double> yt(static_cast<size_t>(D), 0.0);
      test::mlp_row_ref(P[0].data(), P[1].data(), P[2].data(), D, F, xd.data() + t * D, 1.0, yt.data());
      for (int64_t i = 0; i < D; ++i) L += double(R[size_t(t * D + i)]) * yt[size_t(i)];
    }
    return L;
  };
  Mat* mats[] = {&m.gate, &m.up, &m.down};
  for (size_t j = 0; j < 3; ++j)
    test::expect_grad_near(mats[j]->g.data(), fd_grad(&P[j], loss), kRelTol, "mlp " + std::to_string(j));
  test::expect_grad_near(dx.data(), fd_grad(&xd, loss), kRelTol, "mlp x");

  // Gradients accumulate: a second backward adds the same amount again.
  std::vector<float> g1 = m.down.g;
  mlp_train_backward(m.params(), x.data(), N, D, tape, R.data(), dx.data(), scratch);
  for (size_t i = 0; i < g1.size(); ++i) EXPECT_NEAR(m.down.g[i], 2 * g1[i], 1e-6 * std::fabs(g1[i]) + 1e-12);
}

// Forward + backward of a dense MLP whose token GEMMs span two fixed GEMM tiles (N > 128 rows):
// the same bits at 1, 2 and 3 threads.
struct MlpRun {
  std::vector<float> y, dx;
  std::vector<std::vector<float>> grads;
};

MlpRun run_mlp_once(int threads) {
  const int saved = num_threads();
  set_num_threads(threads);
  const int64_t D = 64, F = 96, N = 2 * 96;
  Rng rng(5);
  TestMlp dense(D, F, rng);
  std::vector<float> x = randn(size_t(N * D), 7), R = randn(size_t(N * D), 8);
  MlpRun out;
  out.y.resize(size_t(N * D));
  out.dx.resize(size_t(N * D));
  Arena keep, scratch;
  MlpTape mt;
  mlp_train_forward(dense.params(), x.data(), N, D, keep, mt, out.y.data());
  mlp_train_backward(dense.params(), x.data(), N, D, mt, R.data(), out.dx.data(), scratch);
  for (Mat* mat : {&dense.gate, &dense.up, &dense.down}) out.grads.push_back(mat->g);
  set_num_threads(saved);
  return out;
}

TEST(MlpTrain, DeterministicAcrossRunsAndThreadCounts) {
  const MlpRun a = run_mlp_once(2);
  for (int threads : {2, 1, 3}) {
    const MlpRun b = run_mlp_once(threads);
    SCOPED_TRACE("threads " + std::to_string(threads));
    EXPECT_EQ(std::memcmp(a.y.data(), b.y.data(), a.y.size() * sizeof(float)), 0);
    EXPECT_EQ(std::memcmp(a.dx.data(), b.dx.data(), a.dx.size() * sizeof(float)), 0);
    ASSERT_EQ(a.grads.size(), b.grads.size());
    for (size_t j = 0; j < a.grads.size(); ++j)
      EXPECT_EQ(std::memcmp(a.grads[j].data(), b.grads[j].data(), a.grads[j].size() * sizeof(float)), 0) << j;
  }
}

}  // namespace
