// DeepSeekMoE training forward/backward. Parallel structure (both passes): the routed experts with
// tokens, and the shared expert, are independent jobs of one `omp parallel for schedule(dynamic, 1)`
// with single-threaded OpenBLAS inside (expert GEMMs have tens to hundreds of rows: too small for
// OpenBLAS to split well, and one fork/join per layer replaces one per GEMM). Each job writes only
// its own rows of tape/scratch buffers and its own expert's gradients; everything that sums over
// experts (y, dx) is reduced afterwards in slot order, so results do not depend on the schedule or
// the thread count. The GEMMs outside the jobs (router) use sgemm_fixed_tiles for the same reason.
#include "model/moe_train.h"

#include <vector>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include <omp.h>

#include "core/arena.h"
#include "core/error.h"
#include "core/sys.h"
#include "kernels/sgemm_fixed_tiles.h"
#include "model/moe.h"

namespace frugal {

namespace {

// Σ a_i b_i with double partial sums: the gate-weight gradient ∂L/∂g = dy_t · expert_out feeds the
// router, whose gradient is a difference of such terms (c/S·(dg_k − Σ dg_j s_j/S)).
double dot_d(const float* a, const float* b, int64_t n) {
  double s[4] = {};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int j = 0; j < 4; ++j) s[j] += double(a[i + j]) * double(b[i + j]);
  for (; i < n; ++i) s[0] += double(a[i]) * double(b[i]);
  return (s[0] + s[1]) + (s[2] + s[3]);
}

void check_moe(const DeepSeekConfig& cfg, const MoeParams& p, int64_t B, int64_t T) {
  const int64_t D = cfg.hidden_size, E = cfg.n_routed_experts, K = cfg.num_experts_per_tok;
  FRUGAL_ASSERT(B > 0 && T > 0, "MoE batch {} x {}", B, T);
  FRUGAL_ASSERT(E > 0 && K > 0 && K <= E, "MoE E = {}, K = {}", E, K);
  FRUGAL_ASSERT(p.gate.rows == E && p.gate.cols == D && p.gate.w, "router {}x{} for E = {}, D = {}", p.gate.rows,
                p.gate.cols, E, D);
  FRUGAL_ASSERT(int64_t(p.experts.size()) == E, "{} experts for E = {}", p.experts.size(), E);
  for (const MlpParams& e : p.experts)
    FRUGAL_ASSERT(e.gate_proj.rows == p.experts[0].gate_proj.rows, "experts of unequal width {} vs {}",
                  e.gate_proj.rows, p.experts[0].gate_proj.rows);
}

// The jobs of one pass: -1 = the shared expert (first: it is the biggest), then the experts with
// tokens, most tokens first (longest-processing-time order keeps the dynamic schedule's tail short).
std::vector<int64_t> make_jobs(const MoeTape& tape, bool has_shared) {
  std::vector<int64_t> jobs;
  if (has_shared) jobs.push_back(-1);
  const size_t first = jobs.size();
  for (int64_t e = 0; e < tape.E; ++e)
    if (tape.offset[e + 1] > tape.offset[e]) jobs.push_back(e);
  std::stable_sort(jobs.begin() + std::ptrdiff_t(first), jobs.end(), [&](int64_t a, int64_t b) {
    return tape.offset[a + 1] - tape.offset[a] > tape.offset[b + 1] - tape.offset[b];
  });
  return jobs;
}

// Runs job(j, worker) for every job: in parallel when there are threads, else in order. Each job's
// GEMMs (sgemm_fixed_tiles) then run their tiles in order on the job's thread.
template <typename Fn>
void run_jobs(const std::vector<int64_t>& jobs, int workers, Fn&& job) {
  if (workers > 1) {
#pragma omp parallel for schedule(dynamic, 1) num_threads(workers)
    for (size_t j = 0; j < jobs.size(); ++j) job(jobs[j], omp_get_thread_num());
  } else {
    for (int64_t e : jobs) job(e, 0);
  }
}

int64_t max_rows(const MoeTape& tape) {
  int64_t m = 0;
  for (int64_t e = 0; e < tape.E; ++e) m = std::max(m, tape.offset[e + 1] - tape.offset[e]);
  return m;
}

MlpTape rows_of(const MlpTape& all, int64_t begin, int64_t n) {
  return MlpTape{all.g + begin * all.F, all.u + begin * all.F, all.h + begin * all.F, n, all.F};
}

}  // namespace

double sequence_balance_loss(const int64_t* count, const float* scores, int64_t T, int64_t E, int64_t K,
                             double aux_alpha) {
  std::vector<double> P(static_cast<size_t>(E), 0.0);  // P_i = (1/T) Σ_t s_ti / Σ_j s_tj
  for (int64_t t = 0; t < T; ++t) {
    const float* s = scores + t * E;
    double Z = 0;
    for (int64_t j = 0; j < E; ++j) Z += s[j];
    for (int64_t i = 0; i < E; ++i) P[size_t(i)] += double(s[i]) / Z;
  }
  double loss = 0;
  for (int64_t i = 0; i < E; ++i) {
    const double f = double(E) / double(K * T) * double(count[i]);
    loss += f * P[size_t(i)] / double(T);
  }
  return aux_alpha * loss;
}

void moe_train_forward(const DeepSeekConfig& cfg, const MoeParams& p, const float* x, int64_t B, int64_t T,
                       double aux_alpha, Arena& keep, MoeTape& tape, float* y, MoeStats* stats, Precision prec) {
  check_moe(cfg, p, B, T);
  const int64_t N = B * T, D = cfg.hidden_size, E = cfg.n_routed_experts, K = cfg.num_experts_per_tok;
  const int64_t F = p.experts[0].gate_proj.rows, NK = N * K;
  tape = MoeTape{};
  tape.B = B, tape.T = T, tape.N = N, tape.D = D, tape.E = E, tape.K = K, tape.F = F;
  tape.scores = keep.alloc<float>(size_t(N * E));
  tape.expert = keep.alloc<int32_t>(size_t(NK));
  tape.weight = keep.alloc<float>(size_t(NK));
  tape.offset = keep.zeros<int64_t>(size_t(E + 1));
  tape.slot_of_row = keep.alloc<int64_t>(size_t(NK));
  tape.row_of_slot = keep.alloc<int64_t>(size_t(NK));
  tape.seq_count = keep.zeros<int64_t>(size_t(B * E));
  // Under the FP8 precisions the experts' g, u, h [rows, F] live in a per-thread f32 buffer reused by
  // every layer's forward (not on the tape) and only g, u are kept, in FP8, at the end.
  const bool fp8_store = prec == Precision::kFp8 || prec == Precision::kFp8Tensor;
  const int64_t Fs = p.has_shared ? p.shared_experts.gate_proj.rows : 0;
  thread_local std::vector<float> f32_tape;
  if (fp8_store) f32_tape.resize(size_t(3 * (NK * F + N * Fs)));
  float* ft = f32_tape.data();
  auto tape_buf = [&](int64_t n) {
    if (!fp8_store) return keep.alloc<float>(size_t(n));
    float* b = ft;
    ft += n;
    return b;
  };
  tape.routed = MlpTape{tape_buf(NK * F), tape_buf(NK * F), tape_buf(NK * F), NK, F};
  tape.expert_out = keep.alloc<float>(size_t(NK * D));
  if (p.has_shared) tape.shared = MlpTape{tape_buf(N * Fs), tape_buf(N * Fs), tape_buf(N * Fs), N, Fs};
  const Arena::Mark mark = keep.mark();  // temporaries after this point are released at the end

  // Router: logits [N, E] = x · gateᵀ in f32 (a fixed order of sums: the choice must not depend
  // on the thread count), then the inference's per-token routing.
  float* logits = keep.alloc<float>(size_t(N * E));
  sgemm_fixed_tiles(false, true, N, E, D, 1.0f, x, D, p.gate.w, D, 0.0f, logits, E);
#pragma omp parallel for schedule(static) if (N * E >= (1 << 14))
  for (int64_t t = 0; t < N; ++t)
    route_token(cfg, logits + t * E, p.e_score_correction_bias, tape.expert + t * K, tape.weight + t * K,
                tape.scores + t * E);

  // Counting sort of the slots by expert; per-sequence counts for the balance loss's f_i.
  for (int64_t s = 0; s < NK; ++s) {
    const int32_t e = tape.expert[s];
    FRUGAL_ASSERT(e >= 0 && e < E, "route_token chose expert {} of {}", e, E);
    ++tape.offset[e + 1];
    ++tape.seq_count[(s / K / T) * E + e];
  }
  std::partial_sum(tape.offset, tape.offset + E + 1, tape.offset);
  std::vector<int64_t> fill(tape.offset, tape.offset + E);
  for (int64_t s = 0; s < NK; ++s) {
    const int64_t r = fill[size_t(tape.expert[s])]++;
    tape.slot_of_row[r] = s;
    tape.row_of_slot[s] = r;
  }

  // Experts: gather each expert's tokens (xe [n, D], per worker), run its MLP, keep its output.
  const int workers = num_threads();
  const int64_t maxn = max_rows(tape);
  const std::vector<int64_t> jobs = make_jobs(tape, p.has_shared);
  float* gather = keep.alloc<float>(size_t(workers * maxn * D));
  run_jobs(jobs, workers, [&](int64_t e, int worker) {
    if (e < 0) return mlp_train_forward_buffers(p.shared_experts, x, N, D, tape.shared, y, prec);  // y = shared(x)
    const int64_t begin = tape.offset[e], n = tape.offset[e + 1] - begin;
    float* xe = gather + worker * maxn * D;
    for (int64_t j = 0; j < n; ++j)
      std::memcpy(xe + j * D, x + (tape.slot_of_row[begin + j] / K) * D, size_t(D) * sizeof(float));
    mlp_train_forward_buffers(p.experts[size_t(e)], xe, n, D, rows_of(tape.routed, begin, n),
                              tape.expert_out + begin * D, prec);
  });

  // y_t (+)= Σ_k g_tk · expert_out, in slot order (the inference's arithmetic: product, then add).
  if (!p.has_shared) std::memset(y, 0, size_t(N * D) * sizeof(float));
#pragma omp parallel for schedule(static) if (NK * D >= (1 << 16))
  for (int64_t t = 0; t < N; ++t)
    for (int64_t k = 0; k < K; ++k) {
      const float gw = tape.weight[t * K + k];
      const float* src = tape.expert_out + tape.row_of_slot[t * K + k] * D;
      float* dst = y + t * D;
      for (int64_t i = 0; i < D; ++i) dst[i] += gw * src[i];
    }
  keep.rewind(mark);
  if (fp8_store) {
    mlp_tape_store_fp8(tape.routed, keep, tape.routed8);
    if (p.has_shared) mlp_tape_store_fp8(tape.shared, keep, tape.shared8);
    tape.routed = MlpTape{nullptr, nullptr, nullptr, NK, F};
    tape.shared = MlpTape{nullptr, nullptr, nullptr, p.has_shared ? N : 0, Fs};
    tape.fp8_stored = true;
  }

  if (stats) {
    stats->load.assign(size_t(E), 0);
    for (int64_t e = 0; e < E; ++e) stats->load[size_t(e)] = tape.offset[e + 1] - tape.offset[e];
    stats->balance_loss_seq.assign(size_t(B), 0.0);
    stats->balance_loss = 0;
    for (int64_t b = 0; b < B; ++b) {
      const double l = sequence_balance_loss(tape.seq_count + b * E, tape.scores + b * T * E, T, E, K, aux_alpha);
      stats->balance_loss_seq[size_t(b)] = l;
      stats->balance_loss += l / double(B);
    }
  }
}

void router_backward(const DeepSeekConfig& cfg, const MoeTape& tape, const float* dweight, double coef,
                     float* dlogits) {
  const int64_t E = tape.E, K = tape.K, T = tape.T, B = tape.B;
  const double c = cfg.routed_scaling_factor;
  // ∂(coef · mean_b Σ_i f_bi P_bi)/∂s̃_ti = coef/B · f_bi / T =: a_bi (f is a count: constant).
  std::vector<double> a(static_cast<size_t>(B * E), 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < E; ++i)
      a[size_t(b * E + i)] =
          coef / double(B) * double(E) / double(K * T) * double(tape.seq_count[b * E + i]) / double(T);

#pragma omp parallel for schedule(static) if (tape.N * E >= (1 << 14))
  for (int64_t t = 0; t < tape.N; ++t) {
    const float* s = tape.scores + t * E;
    const int32_t* ex = tape.expert + t * K;
    const float* dg = dweight + t * K;
    std::vector<double> ds(static_cast<size_t>(E), 0.0);  // ∂/∂s_t
    // Gate weights g_k = c·s_k / S (S = Σ_sel s + 1e-20, summed in f32 like route_token) or c·s_k:
    // ∂g_j/∂s_k = c·(δ_jk/S − s_j/S²)  ->  ds_k = c/S · (dg_k − Σ_j dg_j s_j / S).
    if (cfg.norm_topk_prob) {
      float S = 0;
      for (int64_t k = 0; k < K; ++k) S += s[ex[k]];
      const double Sd = double(S + 1e-20f);
      double m = 0;
      for (int64_t k = 0; k < K; ++k) m += double(dg[k]) * double(s[ex[k]]);
      for (int64_t k = 0; k < K; ++k) ds[size_t(ex[k])] += c / Sd * (double(dg[k]) - m / Sd);
    } else {
      for (int64_t k = 0; k < K; ++k) ds[size_t(ex[k])] += c * double(dg[k]);
    }
    // Balance loss through s̃_i = s_i / Z: ∂/∂s_j Σ_i a_i s_i/Z = (a_j − Σ_i a_i s̃_i) / Z.
    if (coef != 0) {
      const double* at = a.data() + (t / T) * E;
      double Z = 0, m = 0;
      for (int64_t j = 0; j < E; ++j) Z += s[j];
      for (int64_t i = 0; i < E; ++i) m += at[i] * double(s[i]) / Z;
      for (int64_t j = 0; j < E; ++j) ds[size_t(j)] += (at[j] - m) / Z;
    }
    // Score function: sigmoid' = s(1 − s); softmax: s ⊙ (ds − Σ s·ds).
    float* dl = dlogits + t * E;
    if (cfg.scoring_func == ScoringFunc::kSigmoid) {
      for (int64_t j = 0; j < E; ++j) dl[j] = float(ds[size_t(j)] * double(s[j]) * (1.0 - double(s[j])));
    } else {
      double m = 0;
      for (int64_t j = 0; j < E; ++j) m += double(s[j]) * ds[size_t(j)];
      for (int64_t j = 0; j < E; ++j) dl[j] = float(double(s[j]) * (ds[size_t(j)] - m));
    }
  }
}

void moe_train_backward(const DeepSeekConfig& cfg, const MoeParams& p, const float* x, int64_t B, int64_t T,
                        double aux_alpha, double balance_weight, const MoeTape& kept, const float* dy, float* dx,
                        Arena& scratch, Precision prec) {
  // An FP8-stored tape: g and u widened back to f32 (h recomputed) in scratch, released at the end.
  const Arena::Mark fp8_mark = scratch.mark();
  MoeTape loaded;
  if (kept.fp8_stored) {
    loaded = kept;
    auto load = [&](const MlpTapeFp8& in, MlpTape& out) {
      const size_t n = size_t(in.N * in.F);
      out = MlpTape{scratch.alloc<float>(n), scratch.alloc<float>(n), scratch.alloc<float>(n), in.N, in.F};
      mlp_tape_load_fp8(in, out);
    };
    load(kept.routed8, loaded.routed);
    if (p.has_shared) load(kept.shared8, loaded.shared);
  }
  const MoeTape& tape = kept.fp8_stored ? loaded : kept;
  check_moe(cfg, p, B, T);
  const int64_t N = B * T, D = cfg.hidden_size, E = cfg.n_routed_experts, K = cfg.num_experts_per_tok;
  FRUGAL_ASSERT(tape.B == B && tape.T == T && tape.D == D && tape.E == E && tape.K == K && tape.scores,
                "MoE tape of {}x{} tokens (D {}, E {}, K {}) for {}x{}", tape.B, tape.T, tape.D, tape.E, tape.K, B,
                T);
  const int64_t F = tape.F, NK = N * K, maxn = max_rows(tape);
  const int workers = num_threads();
  const Arena::Mark mark = scratch.mark();
  float* dweight = scratch.alloc<float>(size_t(NK));    // ∂/∂g per slot
  float* dslot = scratch.alloc<float>(size_t(NK * D));  // ∂/∂x from each slot's expert, by row
  const int64_t per_worker = maxn * (2 * D + 2 * F);    // xe, dye [n, D]; dg, du [n, F]
  float* work = scratch.alloc<float>(size_t(workers * per_worker));
  float *sdg = nullptr, *sdu = nullptr;                 // shared expert's dg, du [N, Fs]
  if (p.has_shared) {
    sdg = scratch.alloc<float>(size_t(N * tape.shared.F));
    sdu = scratch.alloc<float>(size_t(N * tape.shared.F));
  }

  const std::vector<int64_t> jobs = make_jobs(tape, p.has_shared);
  run_jobs(jobs, workers, [&](int64_t e, int worker) {
    if (e < 0) return mlp_train_backward_buffers(p.shared_experts, x, N, D, tape.shared, dy, dx, sdg, sdu, prec);
    const int64_t begin = tape.offset[e], n = tape.offset[e + 1] - begin;
    float* xe = work + worker * per_worker;  // [n, D] the expert's input rows
    float* dye = xe + n * D;                 // [n, D] g · dy: the gradient of the expert's output
    float* dg = dye + n * D;                 // [n, F]
    float* du = dg + n * F;                  // [n, F]
    for (int64_t j = 0; j < n; ++j) {
      const int64_t slot = tape.slot_of_row[begin + j], t = slot / K;
      const float gw = tape.weight[slot];
      std::memcpy(xe + j * D, x + t * D, size_t(D) * sizeof(float));
      for (int64_t i = 0; i < D; ++i) dye[j * D + i] = gw * dy[t * D + i];
      dweight[slot] = float(dot_d(dy + t * D, tape.expert_out + (begin + j) * D, D));
    }
    mlp_train_backward_buffers(p.experts[size_t(e)], xe, n, D, rows_of(tape.routed, begin, n), dye,
                               dslot + begin * D, dg, du, prec);
  });

  // dx (+)= Σ_k dslot, in slot order.
  if (!p.has_shared) std::memset(dx, 0, size_t(N * D) * sizeof(float));
#pragma omp parallel for schedule(static) if (NK * D >= (1 << 16))
  for (int64_t t = 0; t < N; ++t)
    for (int64_t k = 0; k < K; ++k) {
      const float* src = dslot + tape.row_of_slot[t * K + k] * D;
      float* dst = dx + t * D;
      for (int64_t i = 0; i < D; ++i) dst[i] += src[i];
    }

  // Router: dlogits [N, E]; dgate += dlogitsᵀ · x, dx += dlogits · gate.
  float* dlogits = scratch.alloc<float>(size_t(N * E));
  router_backward(cfg, tape, dweight, balance_weight * aux_alpha, dlogits);
  if (p.gate.g) sgemm_fixed_tiles(true, false, E, D, N, 1.0f, dlogits, E, x, D, 1.0f, p.gate.g, D);
  sgemm_fixed_tiles(false, false, N, D, E, 1.0f, dlogits, E, p.gate.w, D, 1.0f, dx, D);
  scratch.rewind(mark);
  scratch.rewind(fp8_mark);
}

void update_routing_bias(float* bias, const int64_t* load, int64_t E, double gamma) {
  if (E <= 0) return;
  int64_t total = 0;
  for (int64_t i = 0; i < E; ++i) total += load[i];
  const double mean = double(total) / double(E);
  // In f32 like the reference (bias += γ · sign(...) on an f32 tensor): γ is rounded to f32 once.
  const float g = float(gamma);
  for (int64_t i = 0; i < E; ++i) {
    const double d = mean - double(load[i]);
    bias[i] += d > 0 ? g : d < 0 ? -g : 0.0f;
  }
}

double max_violation(const int64_t* load, int64_t E) {
  if (E <= 0) return 0;
  int64_t total = 0, mx = 0;
  for (int64_t i = 0; i < E; ++i) {
    total += load[i];
    mx = std::max(mx, load[i]);
  }
  if (total == 0) return 0;
  const double mean = double(total) / double(E);
  return (double(mx) - mean) / mean;
}

}  // namespace frugal
