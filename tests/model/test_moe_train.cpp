// Training forward/backward of DeepSeekMoE (model/moe_train.h); its experts' SwiGLU MLP on its own
// is tested in test_mlp_train.cpp.
//
//  (a) the training forward equals the inference forward (moe_forward) on the micro fixture's
//      weights;
//  (b) on the fixture model's real MoE-layer inputs (rebuilt from the inference Transformer's
//      dumps), the expert loads and the routing-bias update reproduce oracles/train_micro_f32.json
//      exactly; the balance losses match the documented formula on the PyTorch reference's routing,
//      which the oracle's own balance entries miss by up to 1.7e-3 relative (see the test);
//  (c) every gradient (router, every expert, shared experts, x) against central finite
//      differences of a plain double re-implementation (reference.h), with the expert choice
//      frozen at the f32 forward's (the gradient does not flow through the discrete choice);
//  (d) bit-identical gradients across runs and thread counts.
//
// Tolerance of (c). FD in double with h = 1e-6 is good to ~1e-9 relative (truncation h²·|L'''|/6,
// rounding 1e-16·|L|/h with |L| ≲ 30), so the budget is the f32 pipeline's. Every gradient element
// is built from ≤ 4 chained f32 reductions (forward activations, then dh = dy·W_down, swiglu', the
// weight/input GEMM, and for the router the gate-weight dot and the sgemm into dx) over ≤ 16
// terms each; each costs ≤ n·2^-24 ≈ 1e-6 relative to the size of its terms, and the terms of one
// tensor's gradient are of the size of that tensor's largest gradient (inputs, weights and R are
// O(1) and all of one scale). So |g − g_fd| ≤ ~4e-6 · max|g_fd| per tensor; we allow 3e-5, ~8x
// headroom over that worst case (errors seen: ≤ 4e-7 · max|g_fd|). A wrong formula (a missing
// term, a dropped 1/S, the balance term in the wrong place) is an O(1) relative error on the
// affected elements, and the balance-loss gradient, which is small next to Σ R ⊙ y, is checked on
// its own with R = 0.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/arena.h"
#include "core/rng.h"
#include "core/sys.h"
#include "io/hf_loader.h"
#include "io/npy.h"
#include "kernels/ops.h"
#include "kernels/softmax.h"
#include "model/moe.h"
#include "model/moe_train.h"
#include "model/transformer.h"
#include "grad_check.h"
#include "owned_params.h"
#include "reference.h"
#include "test_util.h"

using namespace frugal;

namespace {

using test::kFixtureDir;
constexpr double kMoeRelTol = 3e-5;

// ---------------- test parameters (f32 value + gradient, with a double mirror for FD) ----------------

using test::Mat;
using test::mlp_row_ref;
using test::randn;
using test::TestMlp;

struct TestMoe {
  DeepSeekConfig cfg;
  Mat router;
  std::vector<float> bias;  // empty: no correction bias
  std::vector<TestMlp> experts;
  std::unique_ptr<TestMlp> shared;

  MoeParams params() {
    MoeParams p;
    p.gate = router.param();
    p.e_score_correction_bias = bias.empty() ? nullptr : bias.data();
    for (TestMlp& e : experts) p.experts.push_back(e.params());
    p.has_shared = shared != nullptr;
    if (shared) p.shared_experts = shared->params();
    return p;
  }
  // Every parameter matrix in a fixed order: router, experts (gate, up, down), shared.
  std::vector<Mat*> mats() {
    std::vector<Mat*> m{&router};
    for (TestMlp& e : experts) m.insert(m.end(), {&e.gate, &e.up, &e.down});
    if (shared) m.insert(m.end(), {&shared->gate, &shared->up, &shared->down});
    return m;
  }
  void zero_grads() {
    for (Mat* m : mats()) std::fill(m->g.begin(), m->g.end(), 0.0f);
  }
};

TestMoe moe_from_weights(const DeepSeekConfig& cfg, const MoeWeights& w) {
  TestMoe m;
  m.cfg = cfg;
  m.router = Mat(w.gate);
  m.bias = w.e_score_correction_bias;
  for (const MlpWeights& e : w.experts) m.experts.emplace_back(e);
  if (w.has_shared) m.shared = std::make_unique<TestMlp>(w.shared_experts);
  return m;
}

using test::to_double;

// ---------------- the double reference ----------------

// Σ R ⊙ y + bw · mean_b α Σ_i f_bi P_bi, with the expert choice `chosen` [N·K] frozen. P = the
// mats() order of TestMoe as doubles; xs [N, D].
double moe_loss_ref(const DeepSeekConfig& cfg, bool has_shared, const std::vector<std::vector<double>>& P,
                    const std::vector<double>& xs, int64_t B, int64_t T, const std::vector<int32_t>& chosen,
                    const std::vector<double>& R, double alpha, double bw, std::vector<double>* y_out = nullptr) {
  const int64_t D = cfg.hidden_size, E = cfg.n_routed_experts, K = cfg.num_experts_per_tok;
  const int64_t F = cfg.moe_intermediate_size, Fs = F * cfg.n_shared_experts;
  const std::vector<double>& router = P[0];
  double L = 0, bal = 0;
  for (int64_t b = 0; b < B; ++b) {
    std::vector<double> Pi(static_cast<size_t>(E), 0.0), count(size_t(E), 0.0);
    for (int64_t t = b * T; t < (b + 1) * T; ++t) {
      const double* x = xs.data() + t * D;
      std::vector<double> s(static_cast<size_t>(E)), y(size_t(D), 0.0);
      for (int64_t e = 0; e < E; ++e) {
        double l = 0;
        for (int64_t i = 0; i < D; ++i) l += router[size_t(e * D + i)] * x[i];
        s[size_t(e)] = l;
      }
      if (cfg.scoring_func == ScoringFunc::kSigmoid) {
        for (double& v : s) v = 1 / (1 + std::exp(-v));
      } else {
        softmax_ref(s.data(), E);
      }
      double S = 0, Z = 0;
      for (int64_t k = 0; k < K; ++k) S += s[size_t(chosen[size_t(t * K + k)])];
      for (double v : s) Z += v;
      for (int64_t e = 0; e < E; ++e) Pi[size_t(e)] += s[size_t(e)] / Z / double(T);
      if (has_shared) {
        const size_t j = 1 + 3 * size_t(E);
        mlp_row_ref(P[j].data(), P[j + 1].data(), P[j + 2].data(), D, Fs, x, 1.0, y.data());
      }
      for (int64_t k = 0; k < K; ++k) {
        const int32_t e = chosen[size_t(t * K + k)];
        count[size_t(e)] += 1;
        const double g = cfg.routed_scaling_factor * s[size_t(e)] / (cfg.norm_topk_prob ? S : 1.0);
        const size_t j = 1 + 3 * size_t(e);
        mlp_row_ref(P[j].data(), P[j + 1].data(), P[j + 2].data(), D, F, x, g, y.data());
      }
      for (int64_t i = 0; i < D; ++i) L += R[size_t(t * D + i)] * y[size_t(i)];
      if (y_out) std::copy(y.begin(), y.end(), y_out->begin() + t * D);
    }
    for (int64_t e = 0; e < E; ++e) bal += alpha * double(E) / double(K * T) * count[size_t(e)] * Pi[size_t(e)];
  }
  return L + bw * bal / double(B);
}

using test::fd_grad;

// |got − want| ≤ kMoeRelTol · max|want| (+ FD noise) over one tensor; returns the worst ratio.
double expect_grad_near(const float* got, const std::vector<double>& want, const std::string& what) {
  return test::expect_grad_near(got, want, kMoeRelTol, what);
}

// ---------------- MoE configurations for the gradient checks ----------------

struct MoeCase {
  const char* name;
  ScoringFunc scoring;
  TopkMethod method;
  int64_t n_group, topk_group, K, n_shared;
  bool norm, bias;
  double scale;
};

constexpr int64_t kD = 8, kE = 8, kF = 6, kB = 2, kT = 8;
constexpr int32_t kDeadExpert = 5;  // receives no token (checked: exactly zero gradient)

const MoeCase kCases[] = {
    {"v3_noaux_tc_groups_bias", ScoringFunc::kSigmoid, TopkMethod::kNoauxTc, 4, 2, 2, 1, true, true, 2.5},
    {"v3_sigmoid_no_norm", ScoringFunc::kSigmoid, TopkMethod::kNoauxTc, 2, 1, 3, 1, false, true, 2.5},
    {"v2_softmax_group_limited", ScoringFunc::kSoftmax, TopkMethod::kGroupLimitedGreedy, 4, 2, 3, 2, false, false, 16},
    {"softmax_greedy_norm_no_shared", ScoringFunc::kSoftmax, TopkMethod::kGreedy, 1, 1, 2, 0, true, false, 1.0},
};

TestMoe make_moe(const MoeCase& c, uint64_t seed) {
  Rng rng(seed);
  TestMoe m;
  DeepSeekConfig& cfg = m.cfg;
  cfg.hidden_size = kD;
  cfg.n_routed_experts = kE;
  cfg.num_experts_per_tok = c.K;
  cfg.moe_intermediate_size = kF;
  cfg.n_shared_experts = c.n_shared;
  cfg.n_group = c.n_group;
  cfg.topk_group = c.topk_group;
  cfg.topk_method = c.method;
  cfg.scoring_func = c.scoring;
  cfg.norm_topk_prob = c.norm;
  cfg.routed_scaling_factor = c.scale;
  m.router = Mat(kE, kD, rng, 1.0f / std::sqrt(float(kD)));
  // x[:, 0] is a constant 1 (see make_x): a strongly negative weight on it keeps one expert idle.
  m.router.w[size_t(kDeadExpert * kD)] = -8.0f;
  if (c.bias) {
    m.bias.resize(size_t(kE));
    for (float& b : m.bias) b = 0.1f * rng.normal();
  }
  for (int64_t e = 0; e < kE; ++e) m.experts.emplace_back(kD, kF, rng);
  if (c.n_shared) m.shared = std::make_unique<TestMlp>(kD, kF * c.n_shared, rng);
  return m;
}

std::vector<float> make_x(int64_t N, int64_t D, uint64_t seed) {
  std::vector<float> x = randn(size_t(N * D), seed);
  for (int64_t t = 0; t < N; ++t) x[size_t(t * D)] = 1.0f;
  return x;
}

// Runs the f32 forward + backward and checks every gradient against FD of the reference.
void check_moe_gradients(const MoeCase& c, double alpha, double bw, bool zero_R) {
  SCOPED_TRACE(std::string(c.name) + (zero_R ? " (balance loss only)" : ""));
  TestMoe m = make_moe(c, 12);
  const DeepSeekConfig& cfg = m.cfg;
  const int64_t N = kB * kT, D = kD, K = c.K;
  std::vector<float> x = make_x(N, D, 12);
  std::vector<float> R = zero_R ? std::vector<float>(size_t(N * D), 0.0f) : randn(size_t(N * D), 13);

  Arena keep, scratch;
  MoeTape tape;
  MoeStats stats;
  std::vector<float> y(static_cast<size_t>(N * D)), dx(size_t(N * D), -7.0f);
  MoeParams p = m.params();
  moe_train_forward(cfg, p, x.data(), kB, kT, alpha, keep, tape, y.data(), &stats);
  moe_train_backward(cfg, p, x.data(), kB, kT, alpha, bw, tape, R.data(), dx.data(), scratch);
  std::vector<int32_t> chosen(tape.expert, tape.expert + N * K);
  ASSERT_EQ(stats.load[kDeadExpert], 0) << "the test needs an expert without tokens";
  int64_t used = 0;
  for (int64_t l : stats.load) used += l > 0;
  ASSERT_GE(used, 4) << "routing too concentrated to exercise grouping";

  std::vector<std::vector<double>> P;
  for (Mat* mat : m.mats()) P.push_back(to_double(mat->w));
  std::vector<double> xd = to_double(x), Rd = to_double(R), yd(size_t(N * D));
  const bool has_shared = m.shared != nullptr;
  auto loss = [&] { return moe_loss_ref(cfg, has_shared, P, xd, kB, kT, chosen, Rd, alpha, bw); };

  // The f32 forward is the function whose gradient is checked: it matches the reference (f32 sums
  // of ≤ 16 O(1) terms per stage: ~1e-6 relative), and so does the balance loss.
  moe_loss_ref(cfg, has_shared, P, xd, kB, kT, chosen, Rd, alpha, bw, &yd);
  for (int64_t i = 0; i < N * D; ++i) ASSERT_NEAR(y[size_t(i)], yd[size_t(i)], 1e-5 * (1 + std::fabs(yd[size_t(i)])));
  const double bal_ref = moe_loss_ref(cfg, has_shared, P, xd, kB, kT, chosen,
                                      std::vector<double>(size_t(N * D), 0.0), alpha, 1.0);
  EXPECT_NEAR(stats.balance_loss, bal_ref, 1e-6 * bal_ref);

  const std::vector<Mat*> mats = m.mats();
  for (size_t j = 0; j < mats.size(); ++j) {
    const std::string what = "mat " + std::to_string(j) + " (0 router, 1+3e.. experts, then shared)";
    const bool dead = j >= 1 && j < 1 + 3 * size_t(kE) && int32_t((j - 1) / 3) == kDeadExpert;
    if (j > 0 && (dead || zero_R)) {  // the router (j = 0) always gets a gradient
      // No token (or no output gradient): exactly zero, not merely small.
      for (float g : mats[j]->g) ASSERT_EQ(g, 0.0f) << what;
      continue;
    }
    expect_grad_near(mats[j]->g.data(), fd_grad(&P[j], loss), what);
  }
  expect_grad_near(dx.data(), fd_grad(&xd, loss), "x");
}

// ---------------- tests ----------------

TEST(MoeGrad, MatchesFiniteDifferences) {
  for (const MoeCase& c : kCases) check_moe_gradients(c, 0.1, 0.5, false);
}

TEST(MoeGrad, BalanceLossGradientAlone) {
  // R = 0: the objective is the balance loss alone, so its gradient (router and x only) is checked
  // at full relative precision, not hidden under Σ R ⊙ y.
  for (const MoeCase& c : kCases) check_moe_gradients(c, 1.0, 1.0, true);
}

TEST(MoeTrain, ForwardEqualsInferenceOnFixture) {
  auto lm = load_model(kFixtureDir + "/micro_f32");
  const DeepSeekConfig& cfg = lm->config;
  const int64_t D = cfg.hidden_size, B = 2, T = 12, N = B * T;
  std::vector<float> x = randn(size_t(N * D), 21);
  Arena arena, keep;
  std::vector<float> want(static_cast<size_t>(N * D)), got(static_cast<size_t>(N * D));

  // MoE layers (same routing code, the same math; the GEMMs may sum in another order).
  for (int64_t l : {1, 2}) {
    TestMoe moe = moe_from_weights(cfg, lm->weights.layers[size_t(l)].moe);
    Routing r;
    moe_forward(cfg, lm->weights.layers[size_t(l)].moe, x.data(), N, arena, want.data(), &r);
    MoeTape tape;
    moe_train_forward(cfg, moe.params(), x.data(), B, T, 1e-4, keep, tape, got.data(), nullptr);
    for (int64_t i = 0; i < N * D; ++i)
      EXPECT_NEAR(got[size_t(i)], want[size_t(i)], 1e-5f) << "layer " << l << " " << i;
    for (int64_t s = 0; s < N * cfg.num_experts_per_tok; ++s) {
      EXPECT_EQ(tape.expert[s], r.expert[size_t(s)]);
      EXPECT_NEAR(tape.weight[s], r.weight[size_t(s)], 1e-6f);  // router GEMMs may sum in another order
    }
  }
}

// The MoE layers' inputs of the fixture batch, rebuilt from the inference forward's dumps:
// xn = RMSNorm(layer_out[l−1] + attn_out[l]) with post_attention_layernorm (the same f32 add and
// norm as Transformer::decoder_layer), both sequences stacked [2·12, D]; also the ffn outputs.
struct LayerInputs {
  std::vector<std::vector<float>> xn, ffn_out;  // per layer
};

LayerInputs fixture_layer_inputs(const LoadedModel& lm) {
  const DeepSeekConfig& cfg = lm.config;
  const int64_t D = cfg.hidden_size, L = cfg.num_hidden_layers;
  Tensor ids = npy_read(kFixtureDir + "/oracles/input_ids.npy");  // int32 [2, 12]
  const int64_t B = ids.size(0), T = ids.size(1);
  Transformer model(cfg, lm.weights);
  LayerInputs in;
  in.xn.assign(size_t(L), {});
  in.ffn_out.assign(size_t(L), {});
  for (int64_t b = 0; b < B; ++b) {
    std::vector<std::vector<float>> attn(static_cast<size_t>(L)), out(attn), ffn(attn);
    ForwardOptions fo;
    fo.dump = [&](std::string_view name, int64_t layer, const float* data, int64_t rows, int64_t cols) {
      std::vector<float> v(data, data + rows * cols);
      if (name == "attn_out") attn[size_t(layer)] = v;
      if (name == "layer_out") out[size_t(layer)] = v;
      if (name == "ffn_out") ffn[size_t(layer)] = v;
    };
    std::vector<float> logits(static_cast<size_t>(T * cfg.vocab_size));
    LatentKvCache cache = model.make_cache(T);
    model.forward(ids.data_as<int32_t>() + b * T, T, cache, logits.data(), fo);
    for (int64_t l = 1; l < L; ++l) {
      std::vector<float> h = out[size_t(l - 1)];
      add_inplace(h.data(), attn[size_t(l)].data(), T * D);
      std::vector<float> xn(static_cast<size_t>(T * D));
      rmsnorm_forward(h.data(), D, lm.weights.layers[size_t(l)].post_attention_layernorm.data(), T, D,
                      float(cfg.rms_norm_eps), xn.data(), D);
      in.xn[size_t(l)].insert(in.xn[size_t(l)].end(), xn.begin(), xn.end());
      in.ffn_out[size_t(l)].insert(in.ffn_out[size_t(l)].end(), ffn[size_t(l)].begin(), ffn[size_t(l)].end());
    }
  }
  return in;
}

TEST(MoeTrain, LoadsBalanceLossAndBiasUpdateMatchFixture) {
  auto lm = load_model(kFixtureDir + "/micro_f32");
  const DeepSeekConfig& cfg = lm->config;
  const int64_t D = cfg.hidden_size, B = 2, T = 12, E = cfg.n_routed_experts;
  nlohmann::json js = nlohmann::json::parse(std::ifstream(kFixtureDir + "/oracles/train_micro_f32.json"));
  const nlohmann::json& bl = js["balance_loss"];
  const double alpha = bl["alpha"].get<double>();
  LayerInputs in = fixture_layer_inputs(*lm);
  double total = 0;
  for (int64_t l : {1, 2}) {
    SCOPED_TRACE("layer " + std::to_string(l));
    const nlohmann::json& want = bl["per_layer"]["model.layers." + std::to_string(l)];
    TestMoe moe = moe_from_weights(cfg, lm->weights.layers[size_t(l)].moe);
    Arena keep;
    MoeTape tape;
    MoeStats stats;
    std::vector<float> y(static_cast<size_t>(B * T * D));
    moe_train_forward(cfg, moe.params(), in.xn[size_t(l)].data(), B, T, alpha, keep, tape, y.data(), &stats);
    // Same input as the inference layer: its output, up to f32 summation order.
    for (size_t i = 0; i < y.size(); ++i) ASSERT_NEAR(y[i], in.ffn_out[size_t(l)][i], 1e-5f) << i;

    EXPECT_EQ(stats.load, want["expert_load"].get<std::vector<int64_t>>());
    // The oracle's per-sequence losses differ from α Σ f_i P_i as the README defines it by up to
    // 1.7e-3 relative (layer 1, sequence 1), in its biased and unbiased-top-K variants alike, while
    // the loads and choices match exactly: its generator evaluated some undocumented variant. The
    // documented formula evaluated on the PyTorch reference's own routing (the lead's
    // tools/dsv3_ref.py with a hook on Router.forward, see test_transformer_train.cpp) gives the values
    // below (7 digits), which we must match to rounding; the oracle is held to 2.5e-3.
    const double kReference[3][2] = {{}, {1.002693e-4, 1.228433e-4}, {1.141192e-4, 1.042689e-4}};
    constexpr double kOracleTol = 2.5e-3;
    const auto seq = want["balance_loss_per_sequence"].get<std::vector<double>>();
    ASSERT_EQ(stats.balance_loss_seq.size(), seq.size());
    for (size_t b = 0; b < seq.size(); ++b) {
      EXPECT_NEAR(stats.balance_loss_seq[b], kReference[l][b], 6e-11) << b;  // half a unit of the 7th digit
      EXPECT_NEAR(stats.balance_loss_seq[b], seq[b], kOracleTol * seq[b]) << b;
    }
    const double mean = want["balance_loss_mean_over_sequences"].get<double>();
    EXPECT_NEAR(stats.balance_loss, mean, kOracleTol * mean);
    total += stats.balance_loss;

    // Aux-loss-free update with γ = 0.001: bit-exact in f32.
    std::vector<float> bias = want["e_score_correction_bias_before"].get<std::vector<float>>();
    EXPECT_EQ(bias, lm->weights.layers[size_t(l)].moe.e_score_correction_bias);
    update_routing_bias(bias.data(), stats.load.data(), E, 0.001);
    EXPECT_EQ(bias, want["e_score_correction_bias_after"].get<std::vector<float>>());
    const double mv = max_violation(stats.load.data(), E);
    const double mean_load = want["mean_load"].get<double>();
    EXPECT_DOUBLE_EQ(mv, (double(*std::max_element(stats.load.begin(), stats.load.end())) - mean_load) / mean_load);
  }
  EXPECT_NEAR(total, bl["total"].get<double>(), 5e-4 * bl["total"].get<double>());  // 4.2e-4 apart
}

TEST(MoeTrain, BiasUpdateAndMaxViolation) {
  std::vector<float> bias{0.5f, 0.5f, 0.5f, 0.5f};
  const int64_t load[] = {1, 3, 6, 2};  // mean 3
  update_routing_bias(bias.data(), load, 4, 0.25);
  EXPECT_EQ(bias, (std::vector<float>{0.75f, 0.5f, 0.25f, 0.75f}));
  EXPECT_DOUBLE_EQ(max_violation(load, 4), 1.0);
  const int64_t none[] = {0, 0};
  EXPECT_EQ(max_violation(none, 2), 0.0);
}

// Forward + backward of a larger MoE (enough tokens per expert for the GEMM paths, several
// experts per worker): every output and gradient bit-identical across runs and across thread counts (the reductions over experts run in slot order, not schedule order).
struct MoeRun {
  std::vector<float> y, dx;
  std::vector<std::vector<float>> grads;
  double balance = 0;
  size_t tape_bytes = 0;  // the keep arena's high water after the forward
  bool fp8_stored = false;
};

MoeRun run_moe_once(int threads, Precision prec = Precision::kF32) {
  const int saved = num_threads();
  set_num_threads(threads);
  const MoeCase c{"det", ScoringFunc::kSigmoid, TopkMethod::kNoauxTc, 4, 2, 4, 1, true, true, 2.5};
  Rng rng(5);
  TestMoe m;
  DeepSeekConfig& cfg = m.cfg;
  cfg.hidden_size = 64, cfg.n_routed_experts = 16, cfg.num_experts_per_tok = c.K, cfg.moe_intermediate_size = 32;
  cfg.n_shared_experts = 1, cfg.n_group = c.n_group, cfg.topk_group = c.topk_group, cfg.topk_method = c.method;
  cfg.scoring_func = c.scoring, cfg.norm_topk_prob = true, cfg.routed_scaling_factor = 2.5;
  const int64_t D = 64, B = 2, T = 96, N = B * T;
  m.router = Mat(16, D, rng, 0.125f);
  m.bias = randn(16, 6, 0.1f);
  for (int e = 0; e < 16; ++e) m.experts.emplace_back(D, 32, rng);
  m.shared = std::make_unique<TestMlp>(D, 32, rng);
  std::vector<float> x = randn(size_t(N * D), 7), R = randn(size_t(N * D), 8);

  MoeRun out;
  out.y.resize(size_t(N * D));
  out.dx.resize(size_t(N * D));
  Arena keep, scratch;
  MoeTape tape;
  MoeStats stats;
  MoeParams p = m.params();
  moe_train_forward(cfg, p, x.data(), B, T, 1e-3, keep, tape, out.y.data(), &stats, prec);
  out.tape_bytes = keep.high_water();
  out.fp8_stored = tape.fp8_stored;
  moe_train_backward(cfg, p, x.data(), B, T, 1e-3, 1.0, tape, R.data(), out.dx.data(), scratch, prec);
  out.balance = stats.balance_loss;
  for (Mat* mat : m.mats()) out.grads.push_back(mat->g);
  set_num_threads(saved);
  return out;
}

TEST(MoeTrain, DeterministicAcrossRunsAndThreadCounts) {
  const MoeRun a = run_moe_once(2);
  for (int threads : {2, 1, 3}) {
    const MoeRun b = run_moe_once(threads);
    SCOPED_TRACE("threads " + std::to_string(threads));
    EXPECT_EQ(std::memcmp(a.y.data(), b.y.data(), a.y.size() * sizeof(float)), 0);
    EXPECT_EQ(std::memcmp(a.dx.data(), b.dx.data(), a.dx.size() * sizeof(float)), 0);
    EXPECT_EQ(a.balance, b.balance);
    ASSERT_EQ(a.grads.size(), b.grads.size());
    for (size_t j = 0; j < a.grads.size(); ++j)
      EXPECT_EQ(std::memcmp(a.grads[j].data(), b.grads[j].data(), a.grads[j].size() * sizeof(float)), 0) << j;
  }
}

// Under the FP8 precisions the experts' SwiGLU inputs g, u are kept in FP8 and h is not kept (V3's
// activation caching): the forward's tape shrinks by at least 9 bytes per [rows, F] element of the
// routed and shared experts (12 bytes of f32 g, u, h against 2 bytes plus one 4-byte scale per
// row per 128, here per 32-wide row: 2.25), and the backward stays bit-identical for every thread count.
TEST(MoeTrain, Fp8TapeIsSmallerAndDeterministic) {
  const MoeRun f32 = run_moe_once(2);
  const MoeRun a = run_moe_once(2, Precision::kFp8);
  EXPECT_FALSE(f32.fp8_stored);
  EXPECT_TRUE(a.fp8_stored);
  const size_t elems = size_t(2 * 96 * 4 * 32 + 2 * 96 * 32);  // routed N·K·F + shared N·Fs
  EXPECT_GE(f32.tape_bytes, a.tape_bytes + 9 * elems) << f32.tape_bytes << " vs " << a.tape_bytes;
  for (int threads : {1, 3}) {
    const MoeRun b = run_moe_once(threads, Precision::kFp8);
    SCOPED_TRACE("fp8, threads " + std::to_string(threads));
    EXPECT_EQ(std::memcmp(a.y.data(), b.y.data(), a.y.size() * sizeof(float)), 0);
    EXPECT_EQ(std::memcmp(a.dx.data(), b.dx.data(), a.dx.size() * sizeof(float)), 0);
    for (size_t j = 0; j < a.grads.size(); ++j)
      EXPECT_EQ(std::memcmp(a.grads[j].data(), b.grads[j].data(), a.grads[j].size() * sizeof(float)), 0) << j;
  }
}

}  // namespace
