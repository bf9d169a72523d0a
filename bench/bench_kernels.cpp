// bench_kernels: the linear kernels against this machine's own roofs, all measured in one run
// (the VM is shared and noisy, so only ratios within a run mean anything):
//   1. read bandwidth: sum a 1 GiB f32 array on N threads (STREAM-like), GB/s
//   2. sgemm peak: OpenBLAS on square-ish f32 shapes, GFLOP/s
//   3. decode GEMV (M=1) per weight dtype on weights cycled through a pool larger than the cache:
//      GB/s of weight streamed, as a fraction of (1), for each SIMD kernel ISA the CPU runs
//      (avx2, avx512; the selected one is the best), then small-M scaling per ISA
//   4. prefill GEMM (M=512) per dtype, GFLOP/s as a fraction of (2)
//   5. decode attention over a latent cache (one token, H heads, S cached rows, one thread): the
//      in-place kernel against the BLAS formulation (two sgemm for the scores, softmax, one sgemm
//      for P·c_kv), as the continuous-batching step runs it per sequence
// Usage: bench_kernels [--threads N] [--quick] [--attention-only]
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bench/args.h"
#include "bench/peaks.h"
#include "core/arena.h"
#include "core/dtype.h"
#include "core/rng.h"
#include "core/sys.h"
#include "kernels/blas_core.h"
#include "kernels/latent_attention.h"
#include "kernels/linear.h"
#include "kernels/softmax.h"

using namespace frugal;
using frugal::bench::read_bandwidth_gbs;
using frugal::bench::sgemm_gflops;

namespace {

struct Options {
  int threads = 2;
  bool quick = false;
  bool attention_only = false;  // section 5 alone
};

// `copies` identical weights of one dtype, so cycling through them streams from DRAM, not cache.
struct WeightPool {
  std::vector<std::vector<uint8_t>> data;
  std::vector<float> scales;
  std::vector<WeightView> views;
};

WeightPool make_pool(DType t, int64_t N, int64_t K, int64_t block, size_t pool_bytes) {
  WeightPool p;
  const size_t es = dtype_size(t), bytes = size_t(N * K) * es;
  const size_t copies = std::max<size_t>(2, pool_bytes / bytes);
  Rng rng(7);
  std::vector<uint8_t> first(bytes);
  for (int64_t i = 0; i < N * K; ++i) {
    uint8_t* q = first.data() + size_t(i) * es;
    const float v = rng.normal();
    if (t == DType::kF32) {
      std::memcpy(q, &v, 4);
    } else if (t == DType::kBF16) {
      const uint16_t h = f32_to_bf16(v);
      std::memcpy(q, &h, 2);
    } else {
      *q = f32_to_e4m3(v * 64.0f);
    }
  }
  p.data.assign(copies, first);
  if (block > 0) {
    const int64_t gr = (N + block - 1) / block, gc = (K + block - 1) / block;
    p.scales.assign(size_t(gr * gc), 1.0f / 64.0f);
  }
  for (auto& d : p.data) {
    WeightView w;
    w.dtype = t;
    w.rows = N;
    w.cols = K;
    w.ld = K;
    w.data = d.data();
    if (block > 0) {
      w.scale_inv = p.scales.data();
      w.scale_ld = (K + block - 1) / block;
      w.block_rows = w.block_cols = block;
    }
    p.views.push_back(w);
  }
  return p;
}

// Best seconds per matmul_xwt call, timing whole passes over (at most max_copies of) the pool.
double time_xwt(const WeightPool& p, int64_t M, int passes, Arena& arena, size_t max_copies = SIZE_MAX) {
  const WeightView& w0 = p.views[0];
  const size_t copies = std::min(max_copies, p.views.size());
  Rng rng(3);
  std::vector<float> x(size_t(M * w0.cols)), y(size_t(M * w0.rows));
  for (float& v : x) v = rng.normal();
  double best = 1e30;
  for (int r = 0; r < passes; ++r) {
    const double t0 = now_seconds();
    for (size_t i = 0; i < copies; ++i) {
      const WeightView& w = p.views[i];
      matmul_xwt(x.data(), M, w.cols, w, y.data(), w.rows, &arena);
      arena.reset();
    }
    best = std::min(best, (now_seconds() - t0) / double(copies));
  }
  return best;
}

struct DtypeCase {
  const char* name;
  DType dtype;
  int64_t block;
};

// 5. Decode attention, single-threaded (the batched step runs one sequence per thread).
void bench_latent_attention(int reps) {
  set_num_threads(1);
  struct AttnShape { const char* name; int64_t H, C, dr, S; };
  for (const AttnShape& a : {AttnShape{"small preset", 8, 128, 32, 128}, AttnShape{"small preset", 8, 128, 32, 1024},
                             AttnShape{"V2-Lite", 16, 512, 64, 1024}, AttnShape{"DeepSeek-V3", 128, 512, 64, 128},
                             AttnShape{"DeepSeek-V3", 128, 512, 64, 1024}}) {
    const int64_t cw = a.C + a.dr;
    Rng rng(5);
    std::vector<float> ql(size_t(a.H * a.C)), qp(size_t(a.H * a.dr)), cache(size_t(a.S * cw)),
        scores(size_t(a.H * a.S)), out(size_t(a.H * a.C));
    for (auto* v : {&ql, &qp, &cache})
      for (float& x : *v) x = rng.normal();
    const float scale = 1.0f / std::sqrt(float(a.C + a.dr));
    auto best_of = [&](auto&& f) {
      const int n = std::max<int>(3, int(2e8 / double(a.H * a.S * (2 * a.C + a.dr))));
      double best = 1e30;
      for (int r = 0; r < reps; ++r) {
        const double t0 = now_seconds();
        for (int i = 0; i < n; ++i) f();
        best = std::min(best, (now_seconds() - t0) / n);
      }
      return best;
    };
    const double t_kernel = best_of([&] {
      latent_attention(ql.data(), qp.data(), a.H, a.C, a.dr, cache.data(), cw, a.S, scale, scores.data(), out.data());
    });
    const double t_blas = best_of([&] {
      sgemm(false, true, a.H, a.S, a.C, scale, ql.data(), a.C, cache.data(), cw, 0.0f, scores.data(), a.S);
      sgemm(false, true, a.H, a.S, a.dr, scale, qp.data(), a.dr, cache.data() + a.C, cw, 1.0f, scores.data(), a.S);
      softmax_rows(scores.data(), a.H, a.S, a.S);
      sgemm(false, false, a.H, a.C, a.S, 1.0f, scores.data(), a.S, cache.data(), cw, 0.0f, out.data(), a.C);
    });
    const double flops = 2.0 * double(a.H * a.S) * double(2 * a.C + a.dr);
    std::printf("latent attention %s H=%lld C=%lld dr=%lld S=%lld (1 thread): kernel %.1f us (%.1f GFLOP/s), "
                "BLAS %.1f us (%.1f GFLOP/s): %.2fx\n",
                a.name, (long long)a.H, (long long)a.C, (long long)a.dr, (long long)a.S, t_kernel * 1e6,
                flops / t_kernel / 1e9, t_blas * 1e6, flops / t_blas / 1e9, t_blas / t_kernel);
  }
  set_num_threads(2);
}

}  // namespace

int main(int argc, char** argv) {
  frugal::prepare_process_env(argv);  // OpenBLAS's AVX-512 kernels on Zen 4/5 (kernels/blas_core.h)
  Options opt;
  try {
    for (bench::Args args(argc, argv); args.next();) {
      if (args.is("--threads")) opt.threads = int(args.integer());
      else if (args.is("--quick")) opt.quick = true;
      else if (args.is("--attention-only")) opt.attention_only = true;
      else args.unknown();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_kernels: %s\nusage: %s [--threads N] [--quick] [--attention-only]\n", e.what(), argv[0]);
    return 2;
  }
  set_num_threads(opt.threads);
  tune_malloc_for_reuse();
  const int reps = opt.quick ? 3 : 8;
  const size_t pool_bytes = opt.quick ? (size_t(256) << 20) : (size_t(1) << 30);
  std::printf("threads %d, cpu %s, kernels %s\n", num_threads(), cpu_features_str().c_str(),
              kernel_isa_name(kernel_isa()));
  std::printf("blas: %s\n", blas_info());

  if (opt.attention_only) return bench_latent_attention(reps), 0;

  double bw = 0;
  {
    const size_t bytes = opt.quick ? (size_t(256) << 20) : (size_t(1) << 30);
    const int64_t n = int64_t(bytes / sizeof(float));
    float* a = static_cast<float*>(std::aligned_alloc(64, bytes));
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) a[i] = float(i & 1023);  // first touch by the reading thread
    auto report = [&](int streams, bool prefetch, double g) {
      std::printf("read bandwidth (%s f32 sum, %d threads, %d stream%s/thread%s): %.1f GB/s\n",
                  opt.quick ? "256 MiB" : "1 GiB", opt.threads, streams, streams > 1 ? "s" : "",
                  prefetch ? ", sw prefetch" : "", g);
      bw = std::max(bw, g);
    };
    report(1, false, read_bandwidth_gbs<1, false>(a, n, reps));
    report(1, true, read_bandwidth_gbs<1, true>(a, n, reps));
    report(4, false, read_bandwidth_gbs<4, false>(a, n, reps));
    report(4, true, read_bandwidth_gbs<4, true>(a, n, reps));
    std::free(a);
    std::printf("read bandwidth: %.1f GB/s (the best of these; the GEMV roof below)\n", bw);
  }

  double peak = 0;
  struct Shape { int64_t M, N, K; };
  for (Shape s : {Shape{2048, 2048, 2048}, Shape{512, 2048, 2048}}) {
    if (opt.quick && s.M == 2048) s = Shape{1024, 1024, 1024};
    const double g = sgemm_gflops(s.M, s.N, s.K, reps);
    peak = std::max(peak, g);
    std::printf("sgemm %lldx%lldx%lld: %.1f GFLOP/s\n", (long long)s.M, (long long)s.N, (long long)s.K, g);
  }
  std::printf("sgemm peak: %.1f GFLOP/s\n", peak);

  const DtypeCase cases[] = {{"f32", DType::kF32, 0}, {"bf16", DType::kBF16, 0}, {"fp8-e4m3/128", DType::kF8E4M3, 128}};
  // [N, K]: a square probe plus DeepSeek-V3 decode shapes (expert gate/up, expert down, q_b_proj).
  std::vector<Shape> gemv_shapes = {{1, 4096, 4096}, {1, 2048, 7168}, {1, 7168, 2048}, {1, 24576, 1536}};
  if (opt.quick) gemv_shapes.resize(2);
  Arena arena;
  // Every SIMD ISA this CPU runs, the selected (best) one last; the portable kernels get one line.
  std::vector<KernelIsa> isas;
  for (KernelIsa isa : {KernelIsa::kAvx2, KernelIsa::kAvx512})
    if (int(isa) <= int(best_kernel_isa())) isas.push_back(isa);
  for (const DtypeCase& c : cases)
    for (const Shape& s : gemv_shapes) {
      const WeightPool p = make_pool(c.dtype, s.N, s.K, c.block, pool_bytes);
      for (KernelIsa isa : isas) {
        set_kernel_isa(isa);
        const double t = time_xwt(p, 1, reps, arena);
        const double gbs = double(p.views[0].bytes()) / t / 1e9;
        std::printf("gemv %s %lldx%lld M=1 [%s]: %.1f GB/s = %.2f of read bandwidth (%.3f ms)\n", c.name,
                    (long long)s.N, (long long)s.K, kernel_isa_name(isa), gbs, gbs / bw, t * 1e3);
      }
      set_kernel_isa(best_kernel_isa());
    }

  // Small-M scaling and the GEMV -> panel GEMM switch (32 -> 33 for bf16): time per call, weight
  // GB/s, GFLOP/s. 8 copies (256 MiB) are enough to defeat the cache once M > 1.
  for (const DtypeCase& c : {cases[1], cases[2]}) {
    const WeightPool p = make_pool(c.dtype, 4096, 4096, c.block, pool_bytes);
    for (int64_t M : {1, 2, 4, 8, 16, 32, 33, 64}) {
      if (opt.quick && (M == 2 || M == 64)) continue;
      for (KernelIsa isa : isas) {
        if (M > 32 && isa != best_kernel_isa()) continue;  // the panel GEMM path: ISA-independent
        set_kernel_isa(isa);
        const double t = time_xwt(p, M, reps, arena, M == 1 ? SIZE_MAX : 8);
        std::printf("xwt %s 4096x4096 M=%lld [%s]: %.3f ms, %.1f GB/s, %.1f GFLOP/s\n", c.name, (long long)M,
                    kernel_isa_name(isa), t * 1e3, double(p.views[0].bytes()) / t / 1e9,
                    2.0 * double(M) * 4096 * 4096 / t / 1e9);
      }
      set_kernel_isa(best_kernel_isa());
    }
    if (c.dtype != DType::kBF16) continue;
    set_kernel_isa(KernelIsa::kPortable);
    const double t = time_xwt(p, 1, reps, arena);
    std::printf("gemv bf16 4096x4096 M=1 (portable kernels): %.1f GB/s = %.2f of read bandwidth\n",
                double(p.views[0].bytes()) / t / 1e9, double(p.views[0].bytes()) / t / 1e9 / bw);
    set_kernel_isa(best_kernel_isa());
  }

  const int64_t Mp = 512, Np = 4096, Kp = opt.quick ? 2048 : 4096;
  for (const DtypeCase& c : cases) {
    const WeightPool p = make_pool(c.dtype, Np, Kp, c.block, 0);
    const double t = time_xwt(p, Mp, std::max(2, reps / 2), arena);
    const double g = 2.0 * double(Mp) * double(Np) * double(Kp) / t / 1e9;
    std::printf("prefill %s %lldx%lld M=%lld: %.1f GFLOP/s = %.2f of sgemm peak\n", c.name, (long long)Np,
                (long long)Kp, (long long)Mp, g, g / peak);
  }

  bench_latent_attention(reps);
  return 0;
}
