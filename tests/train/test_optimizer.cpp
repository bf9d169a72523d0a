// AdamW: the fixture's step 1 (clipping + decoupled decay, tests/data/fixtures/README.md "AdamW step"),
// steps 2-3 against the double-precision reference, determinism across thread counts, NaN skips
// and a bit-exact resume through a checkpoint.
#include <cmath>
#include <cstring>
#include <map>

#include "core/dtype.h"
#include "core/rng.h"
#include "core/sys.h"
#include "io/safetensors.h"
#include "test_util.h"
#include "train/checkpoint.h"
#include "train/optimizer.h"

namespace frugal {
namespace {

using test::expect_error;
using test::TempDir;

const std::string kFixtures = std::string(FRUGAL_TEST_DATA) + "/fixtures";

struct HostTensor {
  Shape shape;
  std::vector<float> data;
};

// Every F32 tensor of a safetensors file, in file order (names) and copied.
std::vector<std::pair<std::string, HostTensor>> load_all(const std::string& path) {
  SafetensorsFile f(path);
  std::vector<std::pair<std::string, HostTensor>> out;
  for (const SafetensorsEntry& e : f.entries()) {
    const Tensor t = f.tensor(e.name).to_f32();
    HostTensor h{e.shape, std::vector<float>(size_t(t.numel()))};
    std::memcpy(h.data.data(), t.data(), t.nbytes());
    out.emplace_back(e.name, std::move(h));
  }
  return out;
}

// The main-model parameters: the fixture's trainable set (no MTP module, no routing biases).
bool is_main_param(const std::string& name) {
  return !name.starts_with("model.layers.3.") && name.find("e_score_correction_bias") == std::string::npos;
}

struct Model {
  std::map<std::string, HostTensor> w, g;
  std::vector<std::string> order;  // gradient file order
};

Model load_fixture_model() {
  Model m;
  for (auto& [name, t] : load_all(kFixtures + "/micro_f32/model.safetensors"))
    if (is_main_param(name)) m.w.emplace(name, std::move(t));
  for (auto& [name, t] : load_all(kFixtures + "/oracles/train_micro_f32_grads.safetensors")) {
    m.order.push_back(name);
    m.g.emplace(name, std::move(t));
  }
  return m;
}

std::vector<AdamWParam> params_of(Model& m) {
  std::vector<AdamWParam> ps;
  for (const std::string& name : m.order) {
    HostTensor& w = m.w.at(name);
    const HostTensor& g = m.g.at(name);
    ps.push_back({name, w.data.data(), g.data.data(), int64_t(w.data.size()), w.shape.size() == 2, w.shape});
  }
  return ps;
}

AdamWConfig fixture_config() {
  AdamWConfig c;
  c.beta1 = 0.9, c.beta2 = 0.95, c.eps = 1e-8, c.weight_decay = 0.1, c.grad_clip = 1.0;
  return c;
}

TEST(AdamW, FixtureStepOne) {
  Model m = load_fixture_model();
  ASSERT_EQ(m.w.size(), 89u);  // the gradient file's set, exactly
  for (const std::string& name : m.order) ASSERT_TRUE(m.w.count(name)) << name;
  std::vector<AdamWParam> ps = params_of(m);
  int decay = 0;
  for (const AdamWParam& p : ps) decay += p.decay;
  EXPECT_EQ(decay, 76);
  EXPECT_EQ(int(ps.size()) - decay, 13);

  AdamW opt(ps, fixture_config());
  const AdamWStepResult r = opt.step(1e-3);
  ASSERT_TRUE(r.applied);
  EXPECT_NEAR(r.grad_norm, 5.510951229540128, 1e-9);  // our norm is the f64 one
  EXPECT_NEAR(r.clip_scale, 0.18145685034945036, 1e-7);
  EXPECT_EQ(opt.step_count(), 1);

  // Elements whose clipped gradient is tiny but not zero get the README's tolerance lr (the Adam
  // direction g/(|g|+eps) is ill-conditioned there); everything else must agree to ~1e-6.
  const auto after = load_all(kFixtures + "/oracles/train_micro_f32_after_adamw.safetensors");
  ASSERT_EQ(after.size(), 89u);
  int64_t sensitive = 0, checked = 0;
  double worst = 0, worst_tiny = 0;
  for (const auto& [name, want] : after) {
    const HostTensor& got = m.w.at(name);
    const HostTensor& g = m.g.at(name);
    ASSERT_EQ(got.shape, want.shape) << name;
    for (size_t i = 0; i < want.data.size(); ++i) {
      const double gc = std::fabs(double(g.data[i]) * r.clip_scale);
      const bool tiny = gc > 0 && gc < 1e-6;
      sensitive += tiny;
      const double err = std::fabs(double(got.data[i]) - double(want.data[i]));
      if (tiny) {
        worst_tiny = std::max(worst_tiny, err);
      } else {
        worst = std::max(worst, err), ++checked;
      }
      ASSERT_LE(err, tiny ? 1e-3 : 1e-6) << name << "[" << i << "]";
    }
  }
  EXPECT_EQ(sensitive, 437);  // the README's count: proves we looked at the same elements
  EXPECT_GT(checked, 100000);
  RecordProperty("max_abs_err", fmt::format("{:.3g}", worst));
  RecordProperty("max_abs_err_tiny_g", fmt::format("{:.3g}", worst_tiny));
}

// Steps 1-3 (different gradients each step) against adamw_update_ref in double, including the
// clipping computed in double; decay and no-decay tensors both.
TEST(AdamW, ThreeStepsMatchDoubleReference) {
  Model m = load_fixture_model();
  std::vector<AdamWParam> ps = params_of(m);
  std::vector<std::vector<float>> grads;  // the gradients the optimizer reads, refilled per step
  for (AdamWParam& p : ps) {
    grads.emplace_back(size_t(p.n));
    p.g = grads.back().data();
  }
  AdamWConfig cfg = fixture_config();
  cfg.grad_clip = 2.0;  // step 1 clips (norm ~5.5·1.0), step 3 does not (norm ~5.5·0.3)
  AdamW opt(ps, cfg);

  std::vector<std::vector<double>> w, mo, v, gabs, gsq;  // gabs, gsq: Σ over steps of |g|, g² (error scales)
  for (const AdamWParam& p : ps) {
    w.emplace_back(p.w, p.w + p.n);
    mo.emplace_back(size_t(p.n), 0.0);
    v.emplace_back(size_t(p.n), 0.0);
    gabs.emplace_back(size_t(p.n), 0.0);
    gsq.emplace_back(size_t(p.n), 0.0);
  }
  Rng rng(7);
  const double lrs[3] = {1e-3, 8e-4, 5e-4};
  const double gscale[3] = {1.0, 0.7, 0.3};
  for (int s = 0; s < 3; ++s) {
    double sumsq = 0;
    for (size_t i = 0; i < ps.size(); ++i) {
      const std::vector<float>& g0 = m.g.at(ps[i].name).data;
      for (size_t j = 0; j < g0.size(); ++j) {
        grads[i][j] = float(gscale[s] * (g0[j] + 1e-3 * rng.normal()));
        sumsq += double(grads[i][j]) * grads[i][j];
      }
    }
    const double norm = std::sqrt(sumsq);
    const double scale = std::min(1.0, cfg.grad_clip / (norm + 1e-6));
    const AdamWStepResult r = opt.step(lrs[s]);
    ASSERT_TRUE(r.applied);
    EXPECT_NEAR(r.grad_norm, norm, 1e-12 * norm);
    EXPECT_NEAR(r.clip_scale, scale, 1e-7 * scale);
    if (s == 0) {
      EXPECT_LT(scale, 1.0);
    }
    if (s == 2) {
      EXPECT_EQ(r.clip_scale, 1.0);
    }
    for (size_t i = 0; i < ps.size(); ++i) {
      std::vector<double> gd(grads[i].begin(), grads[i].end());
      for (size_t j = 0; j < gd.size(); ++j) {
        gd[j] *= double(float(scale));  // the f32 scale the optimizer applied
        gabs[i][j] += std::fabs(gd[j]);
        gsq[i][j] += gd[j] * gd[j];
      }
      adamw_update_ref(w[i].data(), mo[i].data(), v[i].data(), gd.data(), ps[i].n, s + 1, lrs[s], cfg, ps[i].decay);
    }
  }
  EXPECT_EQ(opt.step_count(), 3);
  // f32 arithmetic vs double: each update is lr·O(1) computed to a few f32 ulps, plus the
  // rounding of w itself (|w| ≲ 5): 3 steps · (5·6e-8 + lr·1e-6) < 2e-6. The moments are sums
  // that can cancel, so their error scales with Σ|g| (Σg²), not with the result: a few f32 ulps
  // of that per step, bounded by 1e-6 · Σ|g|.
  for (size_t i = 0; i < ps.size(); ++i)
    for (int64_t j = 0; j < ps[i].n; ++j) {
      ASSERT_NEAR(ps[i].w[j], w[i][size_t(j)], 2e-6) << ps[i].name << "[" << j << "]";
      ASSERT_NEAR(opt.exp_avg(i)[size_t(j)], mo[i][size_t(j)], 1e-6 * gabs[i][size_t(j)] + 1e-30) << ps[i].name;
      ASSERT_NEAR(opt.exp_avg_sq(i)[size_t(j)], v[i][size_t(j)], 1e-6 * gsq[i][size_t(j)] + 1e-30) << ps[i].name;
    }
}

// A few tensors big enough to span many chunks, with odd sizes (tails).
struct Synthetic {
  std::vector<std::vector<float>> w, g;
  std::vector<AdamWParam> params;
  explicit Synthetic(uint64_t seed) {
    const int64_t sizes[] = {100003, 7, 65536, 40000};
    Rng rng(seed);
    for (int64_t n : sizes) {
      w.emplace_back(size_t(n));
      g.emplace_back(size_t(n));
      for (auto& x : w.back()) x = rng.normal();
      for (auto& x : g.back()) x = 0.01f * rng.normal();
    }
    for (size_t i = 0; i < w.size(); ++i)
      params.push_back({fmt::format("t{}", i), w[i].data(), g[i].data(), int64_t(w[i].size()), i % 2 == 0, {}});
  }
};

TEST(AdamW, BitIdenticalForAnyThreadCount) {
  const int saved = num_threads();
  std::vector<std::vector<float>> ref;
  uint64_t ref_norm_bits = 0;
  for (int threads : {1, 2, 3, 7}) {
    set_num_threads(threads);
    Synthetic s(3);
    const double norm = global_grad_norm(s.params);
    uint64_t bits;
    std::memcpy(&bits, &norm, 8);
    AdamW opt(s.params, AdamWConfig{});
    for (int k = 0; k < 3; ++k) ASSERT_TRUE(opt.step(1e-3).applied);
    if (threads == 1) {
      ref = s.w;
      ref_norm_bits = bits;
      continue;
    }
    EXPECT_EQ(bits, ref_norm_bits) << threads << " threads";
    for (size_t i = 0; i < ref.size(); ++i)
      EXPECT_EQ(std::memcmp(ref[i].data(), s.w[i].data(), ref[i].size() * 4), 0) << threads << " threads, t" << i;
  }
  set_num_threads(saved);
}

TEST(AdamW, NonFiniteGradientSkipsTheStep) {
  for (float bad : {NAN, INFINITY}) {
    Synthetic s(5);
    AdamW opt(s.params, AdamWConfig{});
    ASSERT_TRUE(opt.step(1e-3).applied);
    const std::vector<std::vector<float>> w_before = s.w;
    const std::vector<float> m_before = opt.exp_avg(2);
    s.g[2][123] = bad;
    const AdamWStepResult r = opt.step(1e-3);
    EXPECT_FALSE(r.applied);
    EXPECT_FALSE(std::isfinite(r.grad_norm));
    EXPECT_EQ(opt.step_count(), 1);
    EXPECT_EQ(s.w, w_before);
    EXPECT_EQ(opt.exp_avg(2), m_before);
    s.g[2][123] = 0;
    EXPECT_TRUE(opt.step(1e-3).applied);
    EXPECT_EQ(opt.step_count(), 2);
  }
}

TEST(AdamW, ClipDisabledAndNoDecay) {
  // One element, g = 10: unclipped, step 1 direction is g/(|g|+eps) ≈ 1; no decay on this tensor.
  float w = 2.0f, g = 10.0f;
  AdamWConfig cfg;
  cfg.grad_clip = 0;
  AdamW opt({{"x", &w, &g, 1, false, {}}}, cfg);
  const AdamWStepResult r = opt.step(0.1);
  EXPECT_EQ(r.clip_scale, 1.0);
  EXPECT_NEAR(w, 2.0 - 0.1, 1e-6);
  // With decay: w·(1 − lr·wd) − lr.
  float w2 = 2.0f;
  cfg.weight_decay = 0.5;
  AdamW opt2({{"y", &w2, &g, 1, true, {}}}, cfg);
  opt2.step(0.1);
  EXPECT_NEAR(w2, 2.0 * (1 - 0.05) - 0.1, 1e-6);
}

TEST(AdamW, RejectsBadConfigAndParams) {
  float w = 0, g = 0;
  AdamWConfig cfg;
  cfg.beta2 = 1.5;
  expect_error([&] { AdamW({{"x", &w, &g, 1, false, {}}}, cfg); }, ErrorKind::kConfig, {"optim.beta2", "1.5"});
  cfg = AdamWConfig{};
  cfg.eps = 0;
  expect_error([&] { AdamW({}, cfg); }, ErrorKind::kConfig, {"optim.eps"});
  expect_error([&] { AdamW({{"x", &w, &g, 1, false, {}}, {"x", &w, &g, 1, false, {}}}, AdamWConfig{}); },
               ErrorKind::kInvalidArgument, {"duplicate", "'x'"});
  expect_error([&] { AdamW({{"x", nullptr, &g, 1, false, {}}}, AdamWConfig{}); }, ErrorKind::kInvalidArgument,
               {"'x'", "null"});
  expect_error([&] { AdamW({{"x", &w, &g, 1, false, {2, 3}}}, AdamWConfig{}); }, ErrorKind::kInvalidArgument,
               {"'x'", "[2, 3]"});
  AdamW opt({{"x", &w, &g, 1, false, {}}}, AdamWConfig{});
  expect_error([&] { opt.step(-1); }, ErrorKind::kInvalidArgument, {"learning rate"});
}

// The point of the whole checkpoint design: 2 steps + save + load into a fresh optimizer + 1 step
// equals 3 uninterrupted steps, bit for bit.
TEST(AdamW, ResumeThroughCheckpointIsBitExact) {
  TempDir dir;
  Synthetic a(11), b(11);
  AdamW opt_a(a.params, AdamWConfig{});
  for (int k = 0; k < 2; ++k) ASSERT_TRUE(opt_a.step(1e-3).applied);

  std::vector<CheckpointTensor> ts;
  for (const AdamWParam& p : a.params) ts.push_back({p.name, {p.n}, p.w});
  for (const CheckpointTensor& t : opt_a.state_tensors()) ts.push_back(t);
  save_checkpoint(dir.str(), 2, ts, {{"optimizer", opt_a.state_json()}}, 0);
  ASSERT_TRUE(opt_a.step(1e-3).applied);  // the uninterrupted run's step 3

  const std::optional<LoadedCheckpoint> ck = load_latest_checkpoint(dir.str());
  ASSERT_TRUE(ck.has_value());
  ASSERT_TRUE(ck->has("t0.exp_avg") && ck->has("t3.exp_avg_sq"));
  for (const AdamWParam& p : b.params) ck->copy_to(p.name, p.w, p.n);
  AdamW opt_b(b.params, AdamWConfig{});
  opt_b.import_state(ck->meta.at("optimizer"), *ck);
  EXPECT_EQ(opt_b.step_count(), 2);
  ASSERT_TRUE(opt_b.step(1e-3).applied);
  for (size_t i = 0; i < a.w.size(); ++i) {
    EXPECT_EQ(std::memcmp(a.w[i].data(), b.w[i].data(), a.w[i].size() * 4), 0) << "weights t" << i;
    EXPECT_EQ(opt_a.exp_avg(i), opt_b.exp_avg(i));
    EXPECT_EQ(opt_a.exp_avg_sq(i), opt_b.exp_avg_sq(i));
  }
}

TEST(AdamW, ImportStateRejectsMismatches) {
  TempDir dir;
  Synthetic a(1);
  AdamW opt(a.params, AdamWConfig{});
  std::vector<CheckpointTensor> ts = opt.state_tensors();
  ts.erase(ts.begin() + 1);  // drop t0.exp_avg_sq
  save_checkpoint(dir.str(), 1, ts, nullptr, 0);
  const LoadedCheckpoint ck = *load_latest_checkpoint(dir.str());
  expect_error([&] { opt.import_state({{"step", 1}}, ck); }, ErrorKind::kFormat, {"t0.exp_avg_sq", ck.dir});
  expect_error([&] { opt.import_state({{"step", -1}}, ck); }, ErrorKind::kFormat, {"step"});
  expect_error([&] { opt.import_state(nlohmann::json::object(), ck); }, ErrorKind::kFormat, {"step"});

  Synthetic other(1);
  other.params[0].n = 5;  // same names, wrong size
  AdamW small(other.params, AdamWConfig{});
  save_checkpoint(dir.str(), 2, opt.state_tensors(), nullptr, 0);
  const LoadedCheckpoint ck2 = *load_latest_checkpoint(dir.str());
  expect_error([&] { small.import_state({{"step", 1}}, ck2); }, ErrorKind::kFormat, {"t0.exp_avg", "expected 5"});
  EXPECT_EQ(small.step_count(), 0);  // untouched
}

// bf16 moments (V3): the stored m and v are the f32 recurrence rounded to bf16 after every step
// (replicated here with the same f32 operations, so bit for bit), every stored value is a bf16, and
// the weights stay within the rounding's effect of the f32-moment run: with a constant gradient
// m̂/√v̂ is ±1 in exact arithmetic, and m and v each carry a relative rounding of at most 2^-9 into
// the next step, so each step's update moves by at most lr·(2^-9 + 2^-10)·(1 + small): over 3
// steps |Δw| ≤ 3·lr·2^-8.
TEST(AdamW, Bf16MomentsFollowTheRoundedRecurrence) {
  Synthetic a(5), b(5);
  AdamWConfig cfg;
  cfg.bf16_moments = true;
  AdamW opt(a.params, cfg), ref_opt(b.params, AdamWConfig{});
  const float scale = grad_clip_scale(global_grad_norm(a.params), cfg.grad_clip);
  const float b1 = float(cfg.beta1), b2 = float(cfg.beta2), omb1 = float(1 - cfg.beta1), omb2 = float(1 - cfg.beta2);
  std::vector<std::vector<float>> m(a.w.size()), v(a.w.size());
  for (size_t i = 0; i < a.w.size(); ++i) m[i].assign(a.w[i].size(), 0.0f), v[i].assign(a.w[i].size(), 0.0f);
  const double lr = 1e-3;
  for (int step = 0; step < 3; ++step) {
    ASSERT_TRUE(opt.step(lr).applied);
    ASSERT_TRUE(ref_opt.step(lr).applied);
    for (size_t i = 0; i < a.w.size(); ++i) {
      const std::vector<float> got_m = opt.exp_avg(i), got_v = opt.exp_avg_sq(i);
      for (size_t j = 0; j < m[i].size(); ++j) {
        const float gc = a.g[i][j] * scale;
        m[i][j] = bf16_to_f32(f32_to_bf16(b1 * m[i][j] + omb1 * gc));
        v[i][j] = bf16_to_f32(f32_to_bf16(b2 * v[i][j] + omb2 * (gc * gc)));
        ASSERT_EQ(got_m[j], m[i][j]) << "t" << i << "[" << j << "] step " << step;
        ASSERT_EQ(got_v[j], v[i][j]) << "t" << i << "[" << j << "] step " << step;
        ASSERT_EQ(f32_to_bits(got_m[j]) & 0xffffu, 0u);
      }
    }
  }
  for (size_t i = 0; i < a.w.size(); ++i)
    for (size_t j = 0; j < a.w[i].size(); ++j)
      ASSERT_NEAR(a.w[i][j], b.w[i][j], 3 * lr * std::ldexp(1.0, -8)) << "t" << i << "[" << j << "]";
  EXPECT_NE(a.w, b.w);  // the rounding is really applied
  EXPECT_EQ(opt.state_bytes() * 2, ref_opt.state_bytes());
  EXPECT_EQ(opt.state_json().at("moments"), "bf16");
  EXPECT_EQ(ref_opt.state_json().at("moments"), "f32");
}

// bf16 moments through a checkpoint (written as f32, exact): 2 steps + save + load + 1 step equals
// 3 uninterrupted steps bit for bit; an f32-moment optimizer refuses the checkpoint and vice versa.
TEST(AdamW, Bf16MomentsResumeBitExactlyAndRefuseAChange) {
  TempDir dir;
  Synthetic a(12), b(12);
  AdamWConfig cfg;
  cfg.bf16_moments = true;
  AdamW opt_a(a.params, cfg);
  for (int k = 0; k < 2; ++k) ASSERT_TRUE(opt_a.step(1e-3).applied);
  std::vector<CheckpointTensor> ts;
  for (const AdamWParam& p : a.params) ts.push_back({p.name, {p.n}, p.w});
  for (const CheckpointTensor& t : opt_a.state_tensors()) ts.push_back(t);
  save_checkpoint(dir.str(), 2, ts, {{"optimizer", opt_a.state_json()}}, 0);
  ASSERT_TRUE(opt_a.step(1e-3).applied);
  const std::optional<LoadedCheckpoint> ck = load_latest_checkpoint(dir.str());
  ASSERT_TRUE(ck.has_value());
  for (const AdamWParam& p : b.params) ck->copy_to(p.name, p.w, p.n);
  AdamW opt_b(b.params, cfg);
  opt_b.import_state(ck->meta.at("optimizer"), *ck);
  ASSERT_TRUE(opt_b.step(1e-3).applied);
  for (size_t i = 0; i < a.w.size(); ++i) {
    EXPECT_EQ(std::memcmp(a.w[i].data(), b.w[i].data(), a.w[i].size() * 4), 0) << "weights t" << i;
    EXPECT_EQ(opt_a.exp_avg(i), opt_b.exp_avg(i));
    EXPECT_EQ(opt_a.exp_avg_sq(i), opt_b.exp_avg_sq(i));
  }
  Synthetic c(12);
  AdamW f32_opt(c.params, AdamWConfig{});
  expect_error([&] { f32_opt.import_state(ck->meta.at("optimizer"), *ck); }, ErrorKind::kConfig,
               {ck->dir, "bf16", "f32", "--optim-moments"});
  AdamW bf16_opt(c.params, cfg);
  expect_error([&] { bf16_opt.import_state({{"step", 2}}, *ck); }, ErrorKind::kConfig, {"f32", "bf16"});
}

}  // namespace
}  // namespace frugal
