// Training MLA (model/mla_train.h): forward == inference forward, backward == finite differences
// of a double-precision scalar reference (reference.h, rope_ref, softmax_ref), recompute == saved internals bit for bit, determinism.
//
// Tolerances.
//  * Forward vs inference mla_forward: the same f32 formulas in a different summation order
//    (whole-batch GEMMs vs GEMV for short chunks, causal query blocks vs full masked rows). Each
//    output is a chain of 6 dot products of length <= 64 over O(1) values, so reordering moves it
//    by ~(#terms · 2^-24) relative to Σ|terms| ≈ 1e-6·max|out|; we allow 1e-5·max|out| (10x).
//  * Backward vs finite differences: the FD value is central differences of a double forward
//    with h = 1e-6: truncation h²·|L'''| ≈ 1e-12 and rounding 1e-16·|L|/h ≈ 1e-9 (|L| ≲ 10),
//    so it is the exact gradient to ~1e-8 absolute. The f32 backward computes the gradient of
//    the f32 forward with f32 arithmetic: ~10 chained GEMMs / norms / softmaxes, each adding
//    ≲ (reduction length ≤ 150) · 6e-8 ≈ 1e-5 relative to the magnitude of its terms, and the
//    largest gradient entry of a tensor bounds those terms. So every entry must be within
//    1e-4 · max|∂L/∂θ| of the FD value (max normalised error; a real mistake — a missing term,
//    a wrong RoPE sign, an off-by-one mask — is O(1e-1..1) on that scale). The errors seen are
//    printed: 1e-7 .. 6e-7 here, so the bound has >100x headroom.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "core/arena.h"
#include "core/error.h"
#include "core/rng.h"
#include "grad_check.h"
#include "io/hf_config.h"
#include "kernels/rope.h"
#include "kernels/softmax.h"
#include "model/kv_cache.h"
#include "model/mla.h"
#include "model/mla_train.h"
#include "model/rope_yarn.h"
#include "reference.h"
#include "test_util.h"

using namespace frugal;

namespace {

// Owns the parameter memory behind an MlaParams.
struct MlaModel {
  DeepSeekConfig cfg;
  RopeTables rope;
  MlaParams p;
  std::deque<std::vector<float>> mem;

  Param make(int64_t rows, int64_t cols, Rng& rng, bool norm) {
    mem.emplace_back(size_t(rows * cols));
    std::vector<float>& w = mem.back();
    const float sd = norm ? 0.1f : 1.0f / std::sqrt(float(cols));
    for (float& v : w) v = (norm ? 1.0f : 0.0f) + sd * rng.normal();
    mem.emplace_back(size_t(rows * cols), 0.0f);
    return Param{w.data(), mem.back().data(), rows, cols};
  }

  MlaModel(const DeepSeekConfig& c, uint64_t seed) : cfg(c) {
    Rng rng(seed);
    const int64_t D = c.hidden_size, H = c.num_attention_heads, dq = c.qk_head_dim(),
                  dkv = c.qk_nope_head_dim + c.v_head_dim;
    if (c.q_lora_rank > 0) {
      p.q_a_proj = make(c.q_lora_rank, D, rng, false);
      p.q_a_layernorm = make(1, c.q_lora_rank, rng, true);
      p.q_b_proj = make(H * dq, c.q_lora_rank, rng, false);
    } else {
      p.q_proj = make(H * dq, D, rng, false);
    }
    p.kv_a_proj_with_mqa = make(c.kv_cache_dim(), D, rng, false);
    p.kv_a_layernorm = make(1, c.kv_lora_rank, rng, true);
    p.kv_b_proj = make(H * dkv, c.kv_lora_rank, rng, false);
    p.o_proj = make(D, H * c.v_head_dim, rng, false);
    rope.inv_freq = rope_inv_freq(c);
    rope.mscale = yarn_cos_sin_mscale(c);
    rope.softmax_scale = float(softmax_scale(c));
  }

  // Every trainable tensor with its name (q_proj or the q_a/q_b pair).
  std::vector<std::pair<std::string, Param*>> named() {
    std::vector<std::pair<std::string, Param*>> v;
    if (cfg.q_lora_rank > 0) {
      v = {{"q_a_proj", &p.q_a_proj}, {"q_a_layernorm", &p.q_a_layernorm}, {"q_b_proj", &p.q_b_proj}};
    } else {
      v = {{"q_proj", &p.q_proj}};
    }
    v.insert(v.end(), {{"kv_a_proj_with_mqa", &p.kv_a_proj_with_mqa},
                       {"kv_a_layernorm", &p.kv_a_layernorm},
                       {"kv_b_proj", &p.kv_b_proj},
                       {"o_proj", &p.o_proj}});
    return v;
  }
  void zero_grad() {
    for (auto& [name, q] : named()) std::fill(q->g, q->g + q->numel(), 0.0f);
  }
  std::vector<float> grads() {  // all gradients, concatenated
    std::vector<float> g;
    for (auto& [name, q] : named()) g.insert(g.end(), q->g, q->g + q->numel());
    return g;
  }
};

using test::randn;

// A small config with YaRN on (factor 4 over an original context of 4 tokens, so positions 0..T-1
// already use interpolated frequencies) and mscale != mscale_all_dim (cos/sin scale != 1, and the
// softmax scale carries m²): every RoPE/YaRN factor of the formulas is exercised.
DeepSeekConfig small_config(int64_t q_lora_rank) {
  DeepSeekConfig c;
  c.model_type = "deepseek_v3";
  c.hidden_size = 24;
  c.num_attention_heads = 2;
  c.q_lora_rank = q_lora_rank;
  c.kv_lora_rank = 8;
  c.qk_nope_head_dim = 4;
  c.qk_rope_head_dim = 4;
  c.v_head_dim = 6;
  c.rms_norm_eps = 1e-6;
  c.rope_theta = 10000.0;
  c.rope_scaling.yarn = true;
  c.rope_scaling.factor = 4.0;
  c.rope_scaling.original_max_position_embeddings = 4;
  c.rope_scaling.beta_fast = 32;
  c.rope_scaling.beta_slow = 1;
  c.rope_scaling.mscale = 0.707;
  c.rope_scaling.mscale_all_dim = 1.0;
  c.max_position_embeddings = 1024;
  return c;
}

DeepSeekConfig micro_config(bool q_lora) {
  DeepSeekConfig c = load_hf_config(FRUGAL_TEST_DATA "/fixtures/micro_f32/config.json");
  if (!q_lora) c.q_lora_rank = 0;
  return c;
}

// ---------------- Double-precision scalar reference (docs/model.md, MLA naive form) ----------------

struct RefParams {  // same layouts as MlaParams, in double
  std::vector<double> q_a, q_a_ln, q_b, q_proj, kv_a, kv_a_ln, kv_b, o;
};

std::vector<double> to_d(const Param& p) {
  return p.w ? std::vector<double>(p.w, p.w + p.numel()) : std::vector<double>{};
}

// Interleaved RoPE on dr values at column off of x, position t.
void rope(std::vector<double>& x, size_t off, int64_t t, int64_t dr, const RopeTables& rt) {
  rope_ref(x.data() + off, dr, t, rt.inv_freq.data(), rt.mscale);
}

// out [B·T, D] of the naive MLA for B sequences of T tokens (positions 0..T-1, causal per sequence).
std::vector<double> ref_forward(const DeepSeekConfig& c, const RopeTables& rt, const RefParams& P,
                                const std::vector<double>& x, int64_t B, int64_t T) {
  const int64_t N = B * T, D = c.hidden_size, H = c.num_attention_heads, Qr = c.q_lora_rank, C = c.kv_lora_rank,
                dn = c.qk_nope_head_dim, dr = c.qk_rope_head_dim, dv = c.v_head_dim, dq = dn + dr, dkv = dn + dv;
  std::vector<double> q;
  if (Qr > 0) {
    std::vector<double> cq = test::linear_ref(x, P.q_a, N, D, Qr);
    test::rmsnorm_ref(cq.data(), P.q_a_ln.data(), N, Qr, Qr, c.rms_norm_eps);
    q = test::linear_ref(cq, P.q_b, N, Qr, H * dq);
  } else {
    q = test::linear_ref(x, P.q_proj, N, D, H * dq);
  }
  std::vector<double> ckv = test::linear_ref(x, P.kv_a, N, D, C + dr);
  test::rmsnorm_ref(ckv.data(), P.kv_a_ln.data(), N, C, C + dr, c.rms_norm_eps);
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t h = 0; h < H; ++h) rope(q, size_t(n * H * dq + h * dq + dn), n % T, dr, rt);
    rope(ckv, size_t(n * (C + dr) + C), n % T, dr, rt);
  }
  std::vector<double> latent(size_t(N * C));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < C; ++i) latent[size_t(n * C + i)] = ckv[size_t(n * (C + dr) + i)];
  const std::vector<double> kv = test::linear_ref(latent, P.kv_b, N, C, H * dkv);
  std::vector<double> o(size_t(N * H * dv), 0.0), s(static_cast<size_t>(T));
  const double scale = double(rt.softmax_scale);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t t = 0; t < T; ++t) {
        const int64_t nt = b * T + t;
        for (int64_t j = 0; j <= t; ++j) {
          const int64_t nj = b * T + j;
          double dot = 0;
          for (int64_t i = 0; i < dn; ++i)
            dot += q[size_t(nt * H * dq + h * dq + i)] * kv[size_t(nj * H * dkv + h * dkv + i)];
          for (int64_t i = 0; i < dr; ++i)
            dot += q[size_t(nt * H * dq + h * dq + dn + i)] * ckv[size_t(nj * (C + dr) + C + i)];
          s[size_t(j)] = scale * dot;
        }
        softmax_ref(s.data(), t + 1);
        for (int64_t j = 0; j <= t; ++j)
          for (int64_t i = 0; i < dv; ++i)
            o[size_t(nt * H * dv + h * dv + i)] += s[size_t(j)] * kv[size_t((b * T + j) * H * dkv + h * dkv + dn + i)];
      }
  return test::linear_ref(o, P.o, N, H * dv, D);
}

// ---------------- Helpers around the f32 code ----------------

struct TrainRun {
  std::vector<float> out, dx;
  std::vector<float> grads;
};

// Forward + backward of the f32 training MLA with upstream gradient R; grads start from zero.
TrainRun run_train(MlaModel& m, const std::vector<float>& x, const std::vector<float>& R, int64_t B, int64_t T,
                   bool save_internals) {
  const int64_t D = m.cfg.hidden_size;
  TrainRun r;
  r.out.resize(size_t(B * T * D));
  r.dx.assign(size_t(B * T * D), -7.0f);  // garbage: the backward must overwrite it
  Arena keep, scratch;
  MlaTape tape;
  m.zero_grad();
  mla_train_forward(m.cfg, m.p, m.rope, x.data(), B, T, save_internals, keep, tape, r.out.data());
  mla_train_backward(m.cfg, m.p, m.rope, x.data(), B, T, tape, R.data(), r.dx.data(), scratch);
  r.grads = m.grads();
  return r;
}

float max_abs(const std::vector<float>& v) {
  float m = 0;
  for (float x : v) m = std::max(m, std::fabs(x));
  return m;
}

// ---------------- (a) forward == inference forward ----------------

TEST(MlaTrain, ForwardMatchesInference) {
  for (bool q_lora : {true, false})
    for (int64_t T : {int64_t(5), 2 * kMlaQueryBlock + 6}) {  // one block; three, the last partial
      MlaModel m(micro_config(q_lora), 11);
      const int64_t B = 2, D = m.cfg.hidden_size;
      const std::vector<float> x = randn(size_t(B * T * D), 12);

      MlaWeights w;
      w.q_a_proj = m.p.q_a_proj.view();
      w.q_b_proj = m.p.q_b_proj.view();
      w.q_proj = m.p.q_proj.view();
      if (q_lora) w.q_a_layernorm.assign(m.p.q_a_layernorm.w, m.p.q_a_layernorm.w + m.cfg.q_lora_rank);
      w.kv_a_proj_with_mqa = m.p.kv_a_proj_with_mqa.view();
      w.kv_a_layernorm.assign(m.p.kv_a_layernorm.w, m.p.kv_a_layernorm.w + m.cfg.kv_lora_rank);
      w.kv_b_proj = m.p.kv_b_proj.view();
      w.o_proj = m.p.o_proj.view();
      std::vector<float> want(size_t(B * T * D));
      Arena arena;
      for (int64_t b = 0; b < B; ++b) {  // one fresh cache per sequence: no attention across them
        LatentKvCache cache(m.cfg, 1, T);
        mla_forward(m.cfg, w, m.rope, x.data() + b * T * D, T, 0, cache.layer(0), cache.width(), AttnImpl::kNaive,
                    arena, want.data() + b * T * D);
      }
      const float tol = 1e-5f * max_abs(want);
      std::vector<float> first;
      for (bool save : {true, false}) {
        std::vector<float> out(size_t(B * T * D));
        Arena keep;
        MlaTape tape;
        mla_train_forward(m.cfg, m.p, m.rope, x.data(), B, T, save, keep, tape, out.data());
        float err = 0;
        for (size_t i = 0; i < out.size(); ++i) err = std::max(err, std::fabs(out[i] - want[i]));
        std::printf("forward q_lora %d T %ld save %d: max|out - inference| %.3g (max|out| %.3g)\n", int(q_lora),
                    long(T), int(save), double(err), double(max_abs(want)));
        EXPECT_LE(err, tol) << "q_lora " << q_lora << " T " << T << " save " << save;
        if (first.empty()) first = out;
        else EXPECT_EQ(0, std::memcmp(first.data(), out.data(), out.size() * sizeof(float))) << "save modes differ";
        if (!save) {  // recompute mode keeps only the down-projection outputs
          const size_t want_bytes = size_t(B * T) * size_t(m.cfg.q_lora_rank + m.cfg.kv_cache_dim()) * 4;
          EXPECT_LE(keep.used(), want_bytes + 128);
          EXPECT_EQ(tape.q, nullptr);
          EXPECT_EQ(tape.p, nullptr);
        }
      }
    }
}

// ---------------- (b) backward == finite differences of the double reference ----------------

// Checks every parameter gradient and ∂x of the f32 backward against central differences of
// ref_forward; `samples` > 0 checks only that many random entries of each tensor (long T).
void check_gradients(int64_t q_lora_rank, int64_t B, int64_t T, int samples) {
  MlaModel m(small_config(q_lora_rank), 21);
  const int64_t N = B * T, D = m.cfg.hidden_size;
  const std::vector<float> x = randn(size_t(N * D), 22), R = randn(size_t(N * D), 23);
  const TrainRun got = run_train(m, x, R, B, T, /*save_internals=*/false);
  const TrainRun saved = run_train(m, x, R, B, T, /*save_internals=*/true);
  EXPECT_EQ(0, std::memcmp(got.grads.data(), saved.grads.data(), got.grads.size() * sizeof(float)))
      << "recompute and saved-internals gradients differ";
  EXPECT_EQ(0, std::memcmp(got.dx.data(), saved.dx.data(), got.dx.size() * sizeof(float)));

  RefParams P{to_d(m.p.q_a_proj), to_d(m.p.q_a_layernorm), to_d(m.p.q_b_proj),          to_d(m.p.q_proj),
              to_d(m.p.kv_a_proj_with_mqa), to_d(m.p.kv_a_layernorm), to_d(m.p.kv_b_proj), to_d(m.p.o_proj)};
  std::vector<double> xd(x.begin(), x.end());
  const std::vector<double> Rd(R.begin(), R.end());
  auto loss = [&] {
    const std::vector<double> out = ref_forward(m.cfg, m.rope, P, xd, B, T);
    double L = 0;
    for (size_t i = 0; i < out.size(); ++i) L += out[i] * Rd[i];
    return L;
  };
  {  // the f32 forward computes the function being differentiated
    const std::vector<double> out = ref_forward(m.cfg, m.rope, P, xd, B, T);
    double err = 0, mx = 0;
    for (size_t i = 0; i < out.size(); ++i) {
      err = std::max(err, std::fabs(double(got.out[i]) - out[i]));
      mx = std::max(mx, std::fabs(out[i]));
    }
    EXPECT_LE(err, 1e-5 * mx) << "f32 forward vs double reference";
  }

  // (name, double values perturbed, f32 gradient)
  std::vector<std::tuple<std::string, std::vector<double>*, const float*>> tensors;
  for (auto& [name, q] : m.named()) {
    std::vector<double>* v = name == "q_a_proj" ? &P.q_a : name == "q_a_layernorm" ? &P.q_a_ln
                           : name == "q_b_proj" ? &P.q_b : name == "q_proj" ? &P.q_proj
                           : name == "kv_a_proj_with_mqa" ? &P.kv_a : name == "kv_a_layernorm" ? &P.kv_a_ln
                           : name == "kv_b_proj" ? &P.kv_b : &P.o;
    tensors.emplace_back(name, v, q->g);
  }
  tensors.emplace_back("x_norm", &xd, got.dx.data());
  Rng pick(31);
  for (auto& [name, v, g32] : tensors) {
    std::vector<size_t> idx;
    if (samples > 0) {
      for (int s = 0; s < samples; ++s) idx.push_back(size_t(pick.below(v->size())));
    } else {
      for (size_t i = 0; i < v->size(); ++i) idx.push_back(i);
    }
    double err = 0, gmax = 0;
    for (size_t i : idx) {
      const double fd = test::fd_grad_at(v, i, loss);
      err = std::max(err, std::fabs(double(g32[i]) - fd));
      gmax = std::max(gmax, std::fabs(fd));
    }
    const double rel = err / std::max(gmax, 1e-30);
    std::printf("grad q_lora %ld B %ld T %ld %-20s max|g| %.3g  max err / max|g| %.2e\n", long(q_lora_rank),
                long(B), long(T), name.c_str(), gmax, rel);
    EXPECT_GT(gmax, 1e-3) << name << ": gradient vanishes, the check would be vacuous";
    EXPECT_LE(rel, 1e-4) << name << " q_lora " << q_lora_rank << " T " << T;
  }
}

TEST(MlaTrain, GradientsMatchFiniteDifferences) {
  for (int64_t q_lora : {int64_t(8), int64_t(0)}) check_gradients(q_lora, 2, 5, 0);
}

// T > 2 blocks: blocks whose keys stop short of T, accumulation of ∂K/∂V over blocks. Sampled
// entries, one q variant (the query path does not depend on T): the double reference costs
// O(T²) per evaluation and the suite also runs under ASan.
TEST(MlaTrain, GradientsMatchFiniteDifferencesLongSequence) { check_gradients(8, 1, 2 * kMlaQueryBlock + 3, 16); }

// ---------------- (c) determinism, accumulation, frozen params ----------------

TEST(MlaTrain, BackwardIsDeterministicAndAccumulates) {
  MlaModel m(micro_config(true), 41);
  const int64_t B = 2, T = kMlaQueryBlock + 9, D = m.cfg.hidden_size;
  const std::vector<float> x = randn(size_t(B * T * D), 42), R = randn(size_t(B * T * D), 43);
  const TrainRun a = run_train(m, x, R, B, T, false), b = run_train(m, x, R, B, T, false);
  EXPECT_EQ(0, std::memcmp(a.grads.data(), b.grads.data(), a.grads.size() * sizeof(float)));
  EXPECT_EQ(0, std::memcmp(a.dx.data(), b.dx.data(), a.dx.size() * sizeof(float)));

  // A second backward on the same tape adds the same gradients again (+=), and a null g is skipped.
  Arena keep, scratch;
  MlaTape tape;
  std::vector<float> out(size_t(B * T * D)), dx(size_t(B * T * D));
  m.zero_grad();
  float* o_grad = m.p.o_proj.g;
  m.p.o_proj.g = nullptr;  // frozen
  mla_train_forward(m.cfg, m.p, m.rope, x.data(), B, T, true, keep, tape, out.data());
  mla_train_backward(m.cfg, m.p, m.rope, x.data(), B, T, tape, R.data(), dx.data(), scratch);
  mla_train_backward(m.cfg, m.p, m.rope, x.data(), B, T, tape, R.data(), dx.data(), scratch);
  m.p.o_proj.g = o_grad;
  const std::vector<float> twice = m.grads();
  size_t off = 0;
  for (auto& [name, q] : m.named()) {
    for (int64_t i = 0; i < q->numel(); ++i) {
      const float want = name == "o_proj" ? 0.0f : 2.0f * a.grads[off + size_t(i)];
      ASSERT_NEAR(twice[off + size_t(i)], want, 1e-6f * std::fabs(want) + 1e-30f) << name << " " << i;
    }
    off += size_t(q->numel());
  }
  EXPECT_EQ(0, std::memcmp(a.dx.data(), dx.data(), dx.size() * sizeof(float)));
  EXPECT_EQ(scratch.used(), 0u) << "backward must rewind its scratch";
}

TEST(MlaTrain, WrongParamShapeIsAnInternalError) {
  MlaModel m(small_config(8), 51);
  m.p.kv_b_proj.rows -= 1;
  std::vector<float> x(size_t(2 * m.cfg.hidden_size)), out(x.size());
  Arena keep;
  MlaTape tape;
  test::expect_error([&] { mla_train_forward(m.cfg, m.p, m.rope, x.data(), 1, 2, false, keep, tape, out.data()); },
               ErrorKind::kInternal, {"kv_b_proj"});
}

}  // namespace
