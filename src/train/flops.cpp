// Model FLOPs per training token (docs/training.md, FLOPs and MFU) and the measured sgemm peak for MFU.
#include "train/flops.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "core/sys.h"
#include "kernels/linear.h"
#include "model/params.h"

namespace frugal {

TrainingFlops training_flops_per_token(const DeepSeekConfig& c, int64_t seq_len, bool include_mtp) {
  if (seq_len < 1) fail(ErrorKind::kInvalidArgument, "FLOP count needs seq_len >= 1, got {}", seq_len);
  const ParamCounts p = count_params(c);
  const bool mtp = include_mtp && c.num_nextn_predict_layers > 0;
  // active_main counts the embedding table once (a lookup) and the head once (a matmul).
  int64_t n = p.active_main - p.embedding;
  // mtp_active counts the shared embedding + head once for all modules; the head runs once per
  // module, the embedding lookup is free.
  if (mtp) n += p.mtp_active - p.embedding - p.head + c.num_nextn_predict_layers * p.head;

  const int64_t layers = c.num_hidden_layers + (mtp ? c.num_nextn_predict_layers : 0);
  // Forward per token per layer: 2·H·(dqk + dv) per key, T/2 keys (causal).
  const double attn_fwd =
      2.0 * double(c.num_attention_heads) * double(c.qk_head_dim() + c.v_head_dim) * (double(seq_len) / 2.0);
  TrainingFlops f;
  f.n_params = n;
  f.params_flops = 6.0 * double(n);
  f.attention_flops = 3.0 * attn_fwd * double(layers);
  f.total = f.params_flops + f.attention_flops;
  return f;
}

double model_flops_utilization(double flops_per_token, double tokens_per_s, double peak_gflops) {
  if (!(peak_gflops > 0)) return 0;
  return flops_per_token * tokens_per_s / (peak_gflops * 1e9);
}

double measure_sgemm_peak_gflops(double seconds) {
  // 1024³ is big enough for OpenBLAS to reach its steady state (blocking, threading) and small
  // enough (12 MiB, ~2 GFLOP) that even a slow machine times several calls in half a second.
  constexpr int64_t n = 1024;
  std::vector<float> a(size_t(n * n)), b(size_t(n * n)), c(size_t(n * n));
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = float(int(i % 13) - 6) * 0.1f;
    b[i] = float(int(i % 7) - 3) * 0.1f;
  }
  const double flops = 2.0 * double(n) * double(n) * double(n);
  sgemm(false, true, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);  // warm-up
  double best = 0;
  const double deadline = now_seconds() + seconds;
  do {
    const double t0 = now_seconds();
    sgemm(false, true, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    const double dt = now_seconds() - t0;
    if (dt > 0) best = std::max(best, flops / dt / 1e9);
  } while (now_seconds() < deadline);
  return best;
}

}  // namespace frugal
