// Training FFN layers (model/moe_train.h, model/mlp_train.h) forward and backward time at a
// preset's shape: the DeepSeekMoE layer (router, routed experts, shared expert) and the dense MLP
// of the first layers, as GFLOP/s and as a fraction of the OpenBLAS sgemm peak measured in the same
// run (the VM is shared and noisy: only ratios measured together mean anything). Random weights and
// a small random routing bias: the expert loads come out roughly even (MaxVio is printed).
//
// FLOPs (forward): router 2·N·D·E, routed experts 2·N·K·3·D·F, shared 2·N·3·D·Fs, dense MLP
// 2·N·3·D·I; the backward is twice the forward.
//
// Usage: bench_moe_train [--preset small] [--batch 4] [--seq 256] [--reps 5] [--threads N]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <string>
#include <vector>

#include "bench/args.h"
#include "bench/peaks.h"
#include "core/arena.h"
#include "core/rng.h"
#include "core/sys.h"
#include "io/random_model.h"
#include "kernels/blas_core.h"
#include "kernels/linear.h"
#include "model/mlp_train.h"
#include "model/moe_train.h"

using namespace frugal;

namespace {

std::deque<std::vector<float>> g_mem;

// A [rows, cols] parameter of N(0, 1/cols) values with a zeroed gradient buffer.
Param make(int64_t rows, int64_t cols, Rng& rng) {
  g_mem.emplace_back(size_t(rows * cols));
  for (float& v : g_mem.back()) v = rng.normal() / std::sqrt(float(cols));
  float* w = g_mem.back().data();
  g_mem.emplace_back(size_t(rows * cols), 0.0f);
  return Param{w, g_mem.back().data(), rows, cols};
}

MlpParams make_mlp(int64_t D, int64_t F, Rng& rng) {
  MlpParams p;
  p.gate_proj = make(F, D, rng);
  p.up_proj = make(F, D, rng);
  p.down_proj = make(D, F, rng);
  return p;
}

std::vector<float> randn(size_t n, Rng& rng) {
  std::vector<float> v(n);
  for (float& x : v) x = rng.normal();
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  frugal::prepare_process_env(argv);  // OpenBLAS's AVX-512 kernels on Zen 4/5 (kernels/blas_core.h)
  std::string preset = "small";
  int64_t B = 4, T = 256;
  int reps = 5, threads = num_threads();
  try {
    for (bench::Args args(argc, argv); args.next();) {
      if (args.is("--preset")) preset = args.value();
      else if (args.is("--batch")) B = args.integer();
      else if (args.is("--seq")) T = args.integer();
      else if (args.is("--reps")) reps = int(args.integer());
      else if (args.is("--threads")) threads = int(args.integer());
      else args.unknown();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_moe_train: %s\nusage: %s [--preset P] [--batch B] [--seq T] [--reps R] [--threads N]\n",
                 e.what(), argv[0]);
    return 2;
  }
  set_num_threads(threads);
  const DeepSeekConfig cfg = random_model_preset(preset);
  const int64_t D = cfg.hidden_size, E = cfg.n_routed_experts, F = cfg.moe_intermediate_size, N = B * T;
  const int64_t K = cfg.num_experts_per_tok, Fs = F * cfg.n_shared_experts, I = cfg.intermediate_size;

  Rng rng(1);
  MoeParams p;
  p.gate = make(E, D, rng);
  std::vector<float> bias(static_cast<size_t>(E));
  for (float& b : bias) b = 0.01f * rng.normal();
  p.e_score_correction_bias = bias.data();
  for (int64_t e = 0; e < E; ++e) p.experts.push_back(make_mlp(D, F, rng));
  p.has_shared = Fs > 0;
  if (p.has_shared) p.shared_experts = make_mlp(D, Fs, rng);
  const MlpParams dense = make_mlp(D, I, rng);
  const std::vector<float> x = randn(size_t(N * D), rng), dy = randn(size_t(N * D), rng);
  std::vector<float> y(size_t(N * D)), dx(size_t(N * D));

  const double peak = std::max(bench::sgemm_gflops(512, 2048, 2048, 3), bench::sgemm_gflops(1024, 1024, 1024, 3));
  Arena keep, scratch;
  double fwd = 1e9, bwd = 1e9, dfwd = 1e9, dbwd = 1e9;
  MoeStats stats;
  for (int r = 0; r < reps; ++r) {
    keep.reset();
    MoeTape tape;
    double t0 = now_seconds();
    moe_train_forward(cfg, p, x.data(), B, T, 1e-4, keep, tape, y.data(), &stats);
    double t1 = now_seconds();
    moe_train_backward(cfg, p, x.data(), B, T, 1e-4, 1.0, tape, dy.data(), dx.data(), scratch);
    double t2 = now_seconds();
    fwd = std::min(fwd, t1 - t0);
    bwd = std::min(bwd, t2 - t1);
    MlpTape mt;
    t0 = now_seconds();
    mlp_train_forward(dense, x.data(), N, D, keep, mt, y.data());
    t1 = now_seconds();
    mlp_train_backward(dense, x.data(), N, D, mt, dy.data(), dx.data(), scratch);
    t2 = now_seconds();
    dfwd = std::min(dfwd, t1 - t0);
    dbwd = std::min(dbwd, t2 - t1);
  }
  const double moe_flops = 2.0 * N * D * E + 2.0 * N * K * 3 * D * F + 2.0 * N * 3 * D * Fs;
  const double mlp_flops = 2.0 * N * 3 * D * I;
  std::printf("bench_moe_train: preset %s, B %lld T %lld, best of %d, threads %d, cpu %s, kernels %s\n",
              preset.c_str(), (long long)B, (long long)T, reps, num_threads(), cpu_features_str().c_str(),
              kernel_isa_name(kernel_isa()));
  std::printf("blas: %s\n", blas_info());
  std::printf("sgemm peak %.1f GFLOP/s (best of 512x2048x2048 and 1024³), MaxVio %.2f\n", peak,
              max_violation(stats.load.data(), E));
  std::printf("MoE  (N %lld, D %lld, E %lld, K %lld, F %lld, shared %lld): fwd %.2f ms = %.1f GFLOP/s (%.2f of peak), "
              "bwd %.2f ms = %.1f GFLOP/s (%.2f of peak)\n",
              (long long)N, (long long)D, (long long)E, (long long)K, (long long)F, (long long)Fs, fwd * 1e3,
              moe_flops / fwd / 1e9, moe_flops / fwd / 1e9 / peak, bwd * 1e3, 2 * moe_flops / bwd / 1e9,
              2 * moe_flops / bwd / 1e9 / peak);
  std::printf("MLP  (N %lld, D %lld, I %lld): fwd %.2f ms = %.1f GFLOP/s (%.2f of peak), bwd %.2f ms = %.1f GFLOP/s "
              "(%.2f of peak)\n",
              (long long)N, (long long)D, (long long)I, dfwd * 1e3, mlp_flops / dfwd / 1e9,
              mlp_flops / dfwd / 1e9 / peak, dbwd * 1e3, 2 * mlp_flops / dbwd / 1e9, 2 * mlp_flops / dbwd / 1e9 / peak);
  return 0;
}
