// Training throughput: forward + backward + AdamW on a random DeepSeek-V3-shaped model (the
// "small" preset of the reference tools by default, batch 4 x 256, the shape of
// tools/train_bench.py), in tokens/s and as fractions of the best f32 GEMM (OpenBLAS sgemm) and
// the best bf16 GEMM (oneDNN matmul) measured in the same run (bench/peaks.h). FLOPs are counted exactly as train_bench.py counts them (6·N_act + 6·L·H·(dqk+dv)·T:
// the full T×T attention square, no MTP, no balance loss), so its GFLOP/s and ours compare
// directly. Also reports activation memory per recompute mode and how step time grows with
// sequence length, experts and layers (--sweep).
//
//   bench_train [--preset small] [--batch 4] [--seq 256] [--steps 5] [--recompute none|attn|full|all]
//               [--precision f32|bf16|fp8|fp8-tensor|all] [--mtp] [--sweep] [--peaks (only the GEMM peaks)]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/args.h"
#include "bench/peaks.h"
#include "core/rng.h"
#include "core/sys.h"
#include "io/random_model.h"
#include "kernels/blas_core.h"
#include "kernels/gemm_precision.h"
#include "model/param_store.h"
#include "model/params.h"
#include "model/transformer_train.h"
#include "train/optimizer.h"

using namespace frugal;

namespace {

struct Result {
  double tokens_per_s = 0, gflops = 0;
  size_t tape_bytes = 0, scratch_bytes = 0, rss = 0;
  double loss_first = 0, loss_last = 0;
};

// N_act as tools/make_random_model.py counts it: attention + active FFN + router + final norm +
// lm_head, the embedding lookup excluded.
double n_active(const DeepSeekConfig& c) {
  const ParamCounts p = count_params(c);
  return double(p.active_main - p.embedding);
}

Result run(const DeepSeekConfig& cfg, int64_t B, int64_t T, int steps, Recompute rc, bool mtp,
           Precision prec = Precision::kF32) {
  ParamStore store(cfg, mtp);
  Rng rng(1);
  store.init_random(rng, 0.02);
  std::vector<AdamWParam> aps;
  for (const ParamStore::Entry& e : store.entries())
    if (e.trainable) aps.push_back({e.name, store.value(e), store.grad(e), e.numel, e.decay, e.shape});
  AdamW opt(std::move(aps), AdamWConfig{});
  TrainModel model(cfg, store.params());
  TrainOptions to;
  to.recompute = rc;
  to.precision = prec;
  to.mtp_weight = mtp ? 0.3 : 0.0;
  to.aux_alpha = mtp ? 1e-4 : 0.0;
  std::vector<int32_t> in(size_t(B * T)), tg(size_t(B * T));
  Result r;
  auto step = [&] {
    for (size_t i = 0; i < in.size(); ++i) {
      in[i] = int32_t(rng.below(uint64_t(cfg.vocab_size)));
      tg[i] = int32_t(rng.below(uint64_t(cfg.vocab_size)));
    }
    store.zero_grad();
    StepLosses l = model.forward_backward(in.data(), tg.data(), B, T, to);
    opt.step(1e-4);
    return l.main;
  };
  step();  // warm-up: arenas grow, pages fault in
  const double t0 = now_seconds();
  for (int s = 0; s < steps; ++s) {
    const double l = step();
    if (s == 0) r.loss_first = l;
    r.loss_last = l;
  }
  const double dt = now_seconds() - t0;
  const double tokens = double(B * T) * steps;
  const double flops_per_token = 6 * n_active(cfg) +
      6.0 * double(cfg.num_hidden_layers * cfg.num_attention_heads * (cfg.qk_head_dim() + cfg.v_head_dim) * T);
  r.tokens_per_s = tokens / dt;
  r.gflops = flops_per_token * r.tokens_per_s / 1e9;
  r.tape_bytes = model.tape_high_water();
  r.scratch_bytes = model.scratch_high_water();
  r.rss = peak_rss_bytes();
  return r;
}

}  // namespace

int main(int argc, char** argv) try {
  frugal::prepare_process_env(argv);  // OpenBLAS's AVX-512 kernels on Zen 4/5 (kernels/blas_core.h)
  std::string preset = "small", recompute = "none";
  int64_t B = 4, T = 256;
  int steps = 5;
  std::string precision = "f32";
  bool mtp = false, sweep = false, peaks_only = false;
  for (bench::Args args(argc, argv); args.next();) {
    if (args.is("--preset")) preset = args.value();
    else if (args.is("--batch")) B = args.integer();
    else if (args.is("--seq")) T = args.integer();
    else if (args.is("--steps")) steps = int(args.integer());
    else if (args.is("--recompute")) recompute = args.value();
    else if (args.is("--mtp")) mtp = true;
    else if (args.is("--sweep")) sweep = true;
    else if (args.is("--precision")) precision = args.value();
    else if (args.is("--peaks")) peaks_only = true;
    else args.unknown();
  }
  tune_malloc_for_reuse();
  DeepSeekConfig cfg = random_model_preset(preset);
  cfg.num_nextn_predict_layers = mtp ? 1 : 0;
  bench::print_machine();
  // The VM is shared: take the best of a measurement before and after the runs.
  bench::GemmPeaks peak = bench::measure_gemm_peaks(10);
  // The GEMM shapes of this preset's training (tokens x hidden x ffn), f32 through OpenBLAS.
  const int64_t F = cfg.intermediate_size > 0 ? cfg.intermediate_size : cfg.moe_intermediate_size;
  const double f32_here = bench::sgemm_gflops(B * T, F, cfg.hidden_size, 10);
  std::printf("GEMM peaks: f32 %.0f GFLOP/s (OpenBLAS sgemm), bf16 %.0f GFLOP/s (oneDNN %s); "
              "sgemm at this preset's [%lld x %lld x %lld]: %.0f GFLOP/s\n",
              peak.f32, peak.bf16, peak.bf16_impl.c_str(), (long long)(B * T), (long long)F,
              (long long)cfg.hidden_size, f32_here);
  std::printf("the training GEMMs at [%lld x %lld x %lld] (y = x·Wᵀ, fixed tiles, rounding included): f32 %.0f "
              "GFLOP/s, bf16 %.0f GFLOP/s, fp8 %.0f GFLOP/s, fp8-tensor %.0f GFLOP/s\n", (long long)(B * T),
              (long long)F, (long long)cfg.hidden_size,
              bench::linear_gemm_gflops(Precision::kF32, B * T, F, cfg.hidden_size, 10),
              bench::linear_gemm_gflops(Precision::kBf16, B * T, F, cfg.hidden_size, 10),
              bench::linear_gemm_gflops(Precision::kFp8, B * T, F, cfg.hidden_size, 10),
              bench::linear_gemm_gflops(Precision::kFp8Tensor, B * T, F, cfg.hidden_size, 10));
  if (peaks_only) return 0;
  std::printf("bench_train: preset %s (%.1fM params, %.1fM active), B=%lld T=%lld, %d threads, %s\n",
              preset.c_str(), double(count_params(cfg).total_main) / 1e6, n_active(cfg) / 1e6, (long long)B,
              (long long)T, num_threads(), mtp ? "MTP + balance loss on" : "no MTP, no balance loss (as train_bench.py)");
  std::vector<std::string> modes = recompute == "all" ? std::vector<std::string>{"none", "attn", "full"}
                                                      : std::vector<std::string>{recompute};
  std::vector<std::string> precs = precision == "all" ? std::vector<std::string>{"f32", "bf16", "fp8", "fp8-tensor"}
                                                      : std::vector<std::string>{precision};
  struct Row {
    std::string mode, prec;
    Result r;
  };
  std::vector<Row> rows;
  for (const std::string& pr : precs)
    for (const std::string& m : modes)
      rows.push_back({m, pr, run(cfg, B, T, steps, parse_recompute(m), mtp, parse_precision(pr))});
  const bench::GemmPeaks after = bench::measure_gemm_peaks(10);
  peak.f32 = std::max(peak.f32, after.f32);
  peak.bf16 = std::max(peak.bf16, after.bf16);
  std::printf("GEMM peaks, best before/after the runs: f32 %.0f GFLOP/s, bf16 %.0f GFLOP/s\n", peak.f32, peak.bf16);
  for (const Row& row : rows) {
    const Result& r = row.r;
    std::printf("%-10s recompute %-4s: %7.0f tok/s  %6.1f GFLOP/s = %.2f of f32 peak, %.2f of bf16 peak | tape %6.1f MB, "
                "scratch %6.1f MB, peak RSS %6.1f MB | loss %.3f -> %.3f\n",
                row.prec.c_str(), row.mode.c_str(), r.tokens_per_s, r.gflops, r.gflops / peak.f32,
                peak.bf16 > 0 ? r.gflops / peak.bf16 : 0.0, r.tape_bytes / 1e6, r.scratch_bytes / 1e6, r.rss / 1e6,
                r.loss_first, r.loss_last);
  }
  bench::print_machine();  // the load again, after the runs
  if (!sweep) return 0;
  std::printf("\nscaling (recompute none, step time in ms):\n");
  for (int64_t t : {64, 128, 256, 512}) {
    Result r = run(cfg, B, t, 2, Recompute::kNone, mtp);
    std::printf("  seq %4lld: %8.1f ms/step, %6.1f GFLOP/s, tape %6.1f MB\n", (long long)t,
                double(B * t) / r.tokens_per_s * 1e3, r.gflops, r.tape_bytes / 1e6);
  }
  for (int64_t e : {8, 16, 32, 64}) {
    DeepSeekConfig c = cfg;
    c.n_routed_experts = e;
    c.n_group = std::min<int64_t>(c.n_group, e / c.num_experts_per_tok);
    c.topk_group = std::min(c.topk_group, c.n_group);
    Result r = run(c, B, T, 2, Recompute::kNone, mtp);
    std::printf("  experts %3lld: %8.1f ms/step, %6.1f GFLOP/s, tape %6.1f MB, params %.1fM\n", (long long)e,
                double(B * T) / r.tokens_per_s * 1e3, r.gflops, r.tape_bytes / 1e6,
                double(count_params(c).total_main) / 1e6);
  }
  for (int64_t l : {2, 4, 6, 8}) {
    DeepSeekConfig c = cfg;
    c.num_hidden_layers = l;
    Result r = run(c, B, T, 2, Recompute::kNone, mtp);
    std::printf("  layers %2lld: %8.1f ms/step, %6.1f GFLOP/s, tape %6.1f MB\n", (long long)l,
                double(B * T) / r.tokens_per_s * 1e3, r.gflops, r.tape_bytes / 1e6);
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_train: %s\n", e.what());
  return 2;
}
