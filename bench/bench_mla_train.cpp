// Training MLA (model/mla_train.h) forward and backward time at a preset's attention shape, as
// GFLOP/s and as a fraction of the OpenBLAS sgemm peak measured in the same run (the VM is shared
// and noisy: only ratios measured together mean anything).
//
// FLOPs are those of the GEMMs as computed (mla_train_forward_flops: the attention counts only the
// causal query blocks multiplied); backward = 2x forward, plus one forward when recomputing.
//
// Usage: bench_mla_train [preset=small] [B=4] [T=256] [reps=10]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "bench/peaks.h"
#include "core/arena.h"
#include "core/rng.h"
#include "core/sys.h"
#include "io/random_model.h"
#include "kernels/blas_core.h"
#include "model/mla_train.h"
#include "model/rope_yarn.h"

using namespace frugal;

namespace {

std::deque<std::vector<float>> g_mem;

Param make(int64_t rows, int64_t cols, Rng& rng, bool norm) {
  g_mem.emplace_back(size_t(rows * cols));
  for (float& v : g_mem.back()) v = norm ? 1.0f : rng.normal() / std::sqrt(float(cols));
  float* w = g_mem.back().data();
  g_mem.emplace_back(size_t(rows * cols), 0.0f);
  return Param{w, g_mem.back().data(), rows, cols};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
double best(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

}  // namespace

int main(int argc, char** argv) {
  frugal::prepare_process_env(argv);  // OpenBLAS's AVX-512 kernels on Zen 4/5 (kernels/blas_core.h)
  const std::string preset = argc > 1 ? argv[1] : "small";
  const int64_t B = argc > 2 ? std::atoll(argv[2]) : 4, T = argc > 3 ? std::atoll(argv[3]) : 256;
  const int reps = argc > 4 ? std::atoi(argv[4]) : 10;
  const DeepSeekConfig c = random_model_preset(preset);
  const int64_t D = c.hidden_size, H = c.num_attention_heads, N = B * T;

  Rng rng(1);
  MlaParams p;
  if (c.q_lora_rank > 0) {
    p.q_a_proj = make(c.q_lora_rank, D, rng, false);
    p.q_a_layernorm = make(1, c.q_lora_rank, rng, true);
    p.q_b_proj = make(H * c.qk_head_dim(), c.q_lora_rank, rng, false);
  } else {
    p.q_proj = make(H * c.qk_head_dim(), D, rng, false);
  }
  p.kv_a_proj_with_mqa = make(c.kv_cache_dim(), D, rng, false);
  p.kv_a_layernorm = make(1, c.kv_lora_rank, rng, true);
  p.kv_b_proj = make(H * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank, rng, false);
  p.o_proj = make(D, H * c.v_head_dim, rng, false);
  RopeTables rope;
  rope.inv_freq = rope_inv_freq(c);
  rope.mscale = yarn_cos_sin_mscale(c);
  rope.softmax_scale = float(softmax_scale(c));

  std::vector<float> x(size_t(N * D)), dout(size_t(N * D)), out(size_t(N * D)), dx(size_t(N * D));
  for (float& v : x) v = rng.normal();
  for (float& v : dout) v = rng.normal();

  // The peak is re-measured between the timed runs and the best kept, so "best" times and the
  // peak both come from the least-disturbed moments of a shared machine.
  double peak = 0;
  auto measure_peak = [&] {
    peak = std::max({peak, bench::sgemm_gflops(1024, 1024, 1024, 1), bench::sgemm_gflops(512, 2048, 2048, 1)});
  };
  measure_peak();
  const double fwd_flops = mla_train_forward_flops(c, B, T);
  std::printf("MLA train, preset %s (D %ld H %ld q_lora %ld C %ld dn %ld dr %ld dv %ld), B %ld T %ld, %d threads\n",
              preset.c_str(), long(D), long(H), long(c.q_lora_rank), long(c.kv_lora_rank), long(c.qk_nope_head_dim),
              long(c.qk_rope_head_dim), long(c.v_head_dim), long(B), long(T), num_threads());
  std::printf("forward %.3f GFLOP; %d timed runs\n", fwd_flops / 1e9, reps);

  Arena keep, scratch;
  struct Row {
    bool save;
    std::vector<double> tf, tb;
  };
  std::vector<Row> rows;
  for (bool save : {true, false}) {
    std::vector<double> tf, tb;
    for (int r = 0; r < reps + 2; ++r) {  // 2 warm-up runs fault the arenas' pages in
      keep.reset();
      MlaTape tape;
      const double t0 = now_seconds();
      mla_train_forward(c, p, rope, x.data(), B, T, save, keep, tape, out.data());
      const double t1 = now_seconds();
      mla_train_backward(c, p, rope, x.data(), B, T, tape, dout.data(), dx.data(), scratch);
      const double t2 = now_seconds();
      if (r >= 2) {
        tf.push_back(t1 - t0);
        tb.push_back(t2 - t1);
      }
      measure_peak();
    }
    rows.push_back({save, std::move(tf), std::move(tb)});
  }
  std::printf("sgemm peak %.1f GFLOP/s (best of 1024³ and 512x2048x2048 between the runs)\n", peak);
  for (const Row& row : rows) {
    const double bwd_flops = (row.save ? 2.0 : 3.0) * fwd_flops;
    for (bool use_best : {false, true}) {
      const double f = use_best ? best(row.tf) : median(row.tf), b = use_best ? best(row.tb) : median(row.tb);
      std::printf("%-17s %-6s forward %7.2f ms %6.1f GFLOP/s (%3.0f%% of sgemm) | backward %7.2f ms %6.1f GFLOP/s "
                  "(%3.0f%%) | step %6.1f GFLOP/s (%3.0f%%)\n",
                  row.save ? "save_internals" : "recompute (attn)", use_best ? "best" : "median", f * 1e3,
                  fwd_flops / f / 1e9, 100 * fwd_flops / f / 1e9 / peak, b * 1e3, bwd_flops / b / 1e9,
                  100 * bwd_flops / b / 1e9 / peak, (fwd_flops + bwd_flops) / (f + b) / 1e9,
                  100 * (fwd_flops + bwd_flops) / (f + b) / 1e9 / peak);
    }
  }
  std::printf("keep arena high water %.1f MiB, scratch %.1f MiB\n", keep.high_water() / 1048576.0,
              scratch.high_water() / 1048576.0);
  return 0;
}
