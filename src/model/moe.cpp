#include "model/moe.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include <omp.h>

#include "core/arena.h"
#include "core/sys.h"
#include "core/error.h"
#include "kernels/ops.h"

namespace frugal {

namespace {

// Indices of the k largest values (stable: ties go to the lower index, deterministic).
void topk_indices(const float* v, int64_t n, int64_t k, int32_t* out) {
  std::vector<int32_t> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int32_t a, int32_t b) {
    return v[a] > v[b] || (v[a] == v[b] && a < b);
  });
  std::copy(idx.begin(), idx.begin() + k, out);
}

}  // namespace

void route_token(const DeepSeekConfig& cfg, const float* logits, const float* bias, int32_t* expert_out,
                 float* weight_out, float* scores_out) {
  const int64_t E = cfg.n_routed_experts, K = cfg.num_experts_per_tok;
  const float ninf = -std::numeric_limits<float>::infinity();
  std::vector<float> s(static_cast<size_t>(E)), sel(static_cast<size_t>(E));
  if (cfg.scoring_func == ScoringFunc::kSigmoid) {
    for (int64_t i = 0; i < E; ++i) s[size_t(i)] = 1.0f / (1.0f + std::exp(-logits[i]));
  } else {
    float m = *std::max_element(logits, logits + E), z = 0;
    for (int64_t i = 0; i < E; ++i) z += (s[size_t(i)] = std::exp(logits[i] - m));
    for (auto& x : s) x /= z;
  }
  if (scores_out) std::copy(s.begin(), s.end(), scores_out);
  // Selection scores: V3 adds the balancing bias (selection only, never the gate weight).
  for (int64_t i = 0; i < E; ++i) sel[size_t(i)] = s[size_t(i)] + (bias ? bias[i] : 0.0f);

  const int64_t G = cfg.n_group, per_group = E / G;
  if (cfg.topk_method != TopkMethod::kGreedy && G > 1) {
    std::vector<float> group_score(static_cast<size_t>(G));
    for (int64_t g = 0; g < G; ++g) {
      const float* b = sel.data() + g * per_group;
      if (cfg.topk_method == TopkMethod::kNoauxTc) {  // sum of the top-2 biased scores in the group
        int64_t k2 = std::min<int64_t>(2, per_group);
        std::vector<float> tmp(b, b + per_group);
        std::partial_sort(tmp.begin(), tmp.begin() + k2, tmp.end(), std::greater<float>());
        group_score[size_t(g)] = std::accumulate(tmp.begin(), tmp.begin() + k2, 0.0f);
      } else {  // group_limited_greedy (V2): the group's best score
        group_score[size_t(g)] = *std::max_element(b, b + per_group);
      }
    }
    std::vector<int32_t> keep(static_cast<size_t>(cfg.topk_group));
    topk_indices(group_score.data(), G, cfg.topk_group, keep.data());
    std::vector<bool> kept(static_cast<size_t>(G), false);
    for (int32_t g : keep) kept[size_t(g)] = true;
    for (int64_t i = 0; i < E; ++i)
      if (!kept[size_t(i / per_group)]) sel[size_t(i)] = ninf;
  }
  topk_indices(sel.data(), E, K, expert_out);
  float sum = 0;
  for (int64_t k = 0; k < K; ++k) sum += (weight_out[k] = s[size_t(expert_out[k])]);
  const float denom = cfg.norm_topk_prob ? sum + 1e-20f : 1.0f;
  for (int64_t k = 0; k < K; ++k) weight_out[k] = weight_out[k] / denom * float(cfg.routed_scaling_factor);
}

Routing moe_route(const DeepSeekConfig& cfg, const MoeWeights& w, const float* x, int64_t T, Arena& arena) {
  const int64_t E = cfg.n_routed_experts, K = cfg.num_experts_per_tok;
  Routing r;
  r.expert.resize(size_t(T * K));
  r.weight.resize(size_t(T * K));
  r.scores.resize(size_t(T * E));
  const Arena::Mark mark = arena.mark();
  float* logits = arena.alloc<float>(size_t(T * E));  // [T, E]
  matmul_xwt(x, T, cfg.hidden_size, w.gate, logits, E, &arena);
  const float* bias = w.e_score_correction_bias.empty() ? nullptr : w.e_score_correction_bias.data();
  for (int64_t t = 0; t < T; ++t)
    route_token(cfg, logits + t * E, bias, r.expert.data() + t * K, r.weight.data() + t * K,
                r.scores.data() + t * E);
  arena.rewind(mark);
  return r;
}

void mlp_forward_buffers(const MlpWeights& w, const float* x, int64_t T, int64_t D, float* g, float* u, float* y,
                         Arena* scratch) {
  const int64_t F = w.gate_proj.rows;
  matmul_xwt(x, T, D, w.gate_proj, g, F, scratch);
  matmul_xwt(x, T, D, w.up_proj, u, F, scratch);
  swiglu_forward(g, u, T, F, g);
  matmul_xwt(g, T, F, w.down_proj, y, D, scratch);
}

void mlp_forward(const MlpWeights& w, const float* x, int64_t T, int64_t D, Arena& arena, float* y) {
  const int64_t F = w.gate_proj.rows;
  const Arena::Mark mark = arena.mark();
  float* g = arena.alloc<float>(size_t(T * F));  // [T, F]
  float* u = arena.alloc<float>(size_t(T * F));
  mlp_forward_buffers(w, x, T, D, g, u, y, &arena);
  arena.rewind(mark);
}

void moe_forward(const DeepSeekConfig& cfg, const MoeWeights& w, const float* x, int64_t T, Arena& arena,
                 float* y, Routing* routing_out) {
  const int64_t D = cfg.hidden_size, E = cfg.n_routed_experts, K = cfg.num_experts_per_tok;
  Routing r = moe_route(cfg, w, x, T, arena);
  const Arena::Mark mark = arena.mark();

  // Group (token, slot) pairs by expert: a counting sort gives each expert a contiguous list.
  std::vector<int64_t> count(static_cast<size_t>(E + 1), 0);
  for (int32_t e : r.expert) ++count[size_t(e) + 1];
  std::partial_sum(count.begin(), count.end(), count.begin());  // count[e] = start of expert e
  std::vector<int64_t> order(static_cast<size_t>(T * K)), fill(count.begin(), count.end() - 1);
  for (int64_t i = 0; i < T * K; ++i) order[size_t(fill[size_t(r.expert[size_t(i)])]++)] = i;

  // Experts (and the shared expert) run as independent jobs, in parallel with single-threaded
  // GEMMs/GEMVs: expert GEMMs are too small (tens of rows) for OpenBLAS to split well, and for
  // decode one parallel region per MoE layer replaces one per projection (~20), whose barriers
  // cost more than the uneven split of 6-8 experts over the threads. Gather and scatter
  // parallelise too.
  const int nt = num_threads();
  const bool parallel = nt > 1;
  int64_t max_n = 0;
  std::vector<int64_t> jobs;  // expert ids with tokens; -1 = the shared expert
  if (w.has_shared) jobs.push_back(-1);
  for (int64_t e = 0; e < E; ++e) {
    const int64_t n = count[size_t(e) + 1] - count[size_t(e)];
    max_n = std::max(max_n, n);
    if (n > 0) jobs.push_back(e);  // experts without tokens cost nothing (and are never read)
  }
  const int64_t F = w.experts.empty() ? 0 : w.experts[0].gate_proj.rows;
  const int64_t Fs = w.has_shared ? w.shared_experts.gate_proj.rows : 0;
  const int64_t per_worker = max_n * (2 * D + 2 * F);
  const int workers = parallel ? nt : 1;
  // Per worker: gathered tokens xe [n, D], expert output ye [n, D], gate/up activations [n, F].
  float* bufs = arena.alloc<float>(size_t(workers * per_worker));
  float* shared_gu = arena.alloc<float>(size_t(2 * T * Fs));  // the shared expert's gate/up [T, Fs]
  // Each (token, slot) pair has its own output row, so experts on different threads never write
  // the same memory, and the final sum runs in slot order whatever the schedule (deterministic).
  float* slot_out = arena.alloc<float>(size_t(T * K * D));  // [T·K, D]
  Arena* scratch = parallel ? nullptr : &arena;  // the arena is not thread-safe
  auto run_job = [&](int64_t e, int worker) {
    if (e < 0) {  // shared expert: every token, written straight to y
      mlp_forward_buffers(w.shared_experts, x, T, D, shared_gu, shared_gu + T * Fs, y, scratch);
      return;
    }
    const int64_t begin = count[size_t(e)], n = count[size_t(e) + 1] - begin;
    float* xe = bufs + worker * per_worker;
    float* ye = xe + n * D;
    float* g = ye + n * D;
    for (int64_t j = 0; j < n; ++j)
      std::memcpy(xe + j * D, x + (order[size_t(begin + j)] / K) * D, size_t(D) * sizeof(float));
    mlp_forward_buffers(w.experts[size_t(e)], xe, n, D, g, g + n * F, ye, scratch);
    for (int64_t j = 0; j < n; ++j) {
      const int64_t slot = order[size_t(begin + j)];
      const float gw = r.weight[size_t(slot)];
      for (int64_t i = 0; i < D; ++i) slot_out[slot * D + i] = gw * ye[j * D + i];
    }
  };
  if (!w.has_shared) std::memset(y, 0, size_t(T * D) * sizeof(float));
  // Not an `if` clause on the pragma: even a one-thread (inactive) region around the GEMVs would
  // make every nested parallel region inside them serial.
  if (parallel) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt)
    for (size_t j = 0; j < jobs.size(); ++j) run_job(jobs[j], omp_get_thread_num());
  } else {
    for (int64_t e : jobs) run_job(e, 0);
  }
#pragma omp parallel for schedule(static) if (T * K * D >= (1 << 16))
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < K; ++k) {
      const float* src = slot_out + (t * K + k) * D;
      float* dst = y + t * D;
      for (int64_t i = 0; i < D; ++i) dst[i] += src[i];
    }
  arena.rewind(mark);
  if (routing_out) *routing_out = std::move(r);
}

}  // namespace frugal
