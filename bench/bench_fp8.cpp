// FP8 numerics (kernels/gemm_fp8.h), printed: (1) the error a limited-precision accumulator adds
// as K grows, with and without promotion to f32 every 128 (the V3 report's §3.3.2 argument; 14
// mantissa bits is its H800 figure); (2) the error of the fp8 GEMM against f32 with fine-grained
// (1x128 tiles, 128x128 blocks) and per-tensor scaling, on Gaussian inputs, on tokens of very
// different magnitudes and on inputs with a few outlier channels; (3) the training GEMM's speed per precision.
//
//   build/bench/bench_fp8 [--bits 14] [--rows 16]
#include <cmath>
#include <cstdio>
#include <vector>

#include "bench/args.h"
#include "bench/peaks.h"
#include "core/rng.h"
#include "kernels/blas_core.h"
#include "kernels/gemm_bf16_onednn.h"
#include "kernels/gemm_fp8.h"
#include "kernels/gemm_precision.h"

using namespace frugal;

namespace {

// Mean relative error over `rows` dot products of length K (same-sign values, so the running sum
// grows with K, the case that exposes the accumulator) of the accumulator `acc` against the exact
// sum of the same quantized products.
double accumulator_error(int64_t K, int rows, Fp8Accumulator acc) {
  Rng rng(static_cast<uint64_t>(K));
  std::vector<float> a(static_cast<size_t>(rows * K)), b(static_cast<size_t>(K));
  for (float& v : a) v = 0.5f + float(rng.uniform());
  for (float& v : b) v = 0.5f + float(rng.uniform());
  std::vector<float> exact(static_cast<size_t>(rows)), got(static_cast<size_t>(rows));
  const Fp8Scaling t = Fp8Scaling::kTensor;
  gemm_fp8_ref(false, true, rows, 1, K, 1.0f, a.data(), K, b.data(), K, 0.0f, exact.data(), 1, t, t, {0, true});
  gemm_fp8_ref(false, true, rows, 1, K, 1.0f, a.data(), K, b.data(), K, 0.0f, got.data(), 1, t, t, acc);
  double e = 0;
  for (int r = 0; r < rows; ++r) e += std::fabs(double(got[size_t(r)]) - exact[size_t(r)]) / exact[size_t(r)];
  return e / rows;
}

// Mean over the rows of ‖y_p − y_exact‖ / ‖y_exact‖ (per token, so small rows count as much as
// large ones) for y = x·Wᵀ at precision p. x: Gaussian (kind 0); its rows (tokens) scaled over six
// decades, 10^(-6·m/M), as per-token gradient magnitudes spread (kind 1); or 8 outlier input
// channels scaled by 10^4 (kind 2). One scale per tensor pushes the small values into E4M3's
// subnormals or to zero; 1x128 tiles give every token its own scale.
double gemm_error(Precision p, int64_t M, int64_t N, int64_t K, int kind) {
  Rng rng(5);
  std::vector<float> x(static_cast<size_t>(M * K)), w(static_cast<size_t>(N * K)), y(static_cast<size_t>(M * N));
  for (float& v : x) v = rng.normal();
  for (float& v : w) v = 0.02f * rng.normal();
  for (int64_t m = 0; m < M; ++m)
    for (int64_t k = 0; k < K; ++k) {
      if (kind == 1) x[size_t(m * K + k)] *= float(std::pow(10.0, -6.0 * double(m) / double(M)));
      if (kind == 2 && k < 8) x[size_t(m * K + k)] *= 1e4f;
    }
  linear_gemm(p, sgemm_fixed_tiles, false, true, M, N, K, 1.0f, x.data(), K, w.data(), K, 0.0f, y.data(), N);
  double total = 0;
  for (int64_t m = 0; m < M; ++m) {
    double num = 0, den = 0;
    for (int64_t n = 0; n < N; ++n) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += double(x[size_t(m * K + k)]) * double(w[size_t(n * K + k)]);
      num += (y[size_t(m * N + n)] - s) * (y[size_t(m * N + n)] - s);
      den += s * s;
    }
    total += std::sqrt(num / den);
  }
  return total / double(M);
}

}  // namespace

int main(int argc, char** argv) try {
  frugal::prepare_process_env(argv);
  int bits = 14, rows = 16;
  for (bench::Args args(argc, argv); args.next();) {
    if (args.is("--bits")) bits = int(args.integer());
    else if (args.is("--rows")) rows = int(args.integer());
    else args.unknown();
  }
  bench::print_machine();
  std::printf("\n(1) accumulator error vs K: mean relative error of %d dot products of E4M3 values (same sign, per-tensor "
              "scales) against the exact sum; a %d-bit accumulator rounding to nearest or truncating, with and without promotion "
              "to f32 every 128, and plain f32\n", rows, bits);
  std::printf("%8s %14s %14s %16s %16s %12s\n", "K", "no promotion", "promote /128", "trunc, no prom.",
              "trunc, /128", "f32, none");
  for (int64_t K : {128, 512, 1024, 2048, 4096, 8192, 16384}) {
    std::printf("%8lld %14.2e %14.2e %16.2e %16.2e %12.2e\n", (long long)K, accumulator_error(K, rows, {bits, false}),
                accumulator_error(K, rows, {bits, true}), accumulator_error(K, rows, {bits, false, true}),
                accumulator_error(K, rows, {bits, true, true}), accumulator_error(K, rows, {23, false}));
  }
  std::printf("\n(2) GEMM error, mean over tokens of ||y - y_exact|| / ||y_exact||, y = x·Wᵀ [256 x 256 x 1024]\n");
  std::printf("%-12s %12s %26s %26s\n", "precision", "gaussian x", "tokens over 6 decades", "8 channels x 1e4");
  for (Precision p : {Precision::kF32, Precision::kBf16, Precision::kFp8, Precision::kFp8Tensor})
    std::printf("%-12s %12.2e %26.2e %26.2e\n", precision_name(p), gemm_error(p, 256, 256, 1024, 0),
                gemm_error(p, 256, 256, 1024, 1), gemm_error(p, 256, 256, 1024, 2));
  std::printf("\n(3) training GEMM speed, y = x·Wᵀ [1024 x 1536 x 512] (quantization included), GFLOP/s:");
  for (Precision p : {Precision::kF32, Precision::kBf16, Precision::kFp8, Precision::kFp8Tensor})
    std::printf(" %s %.0f", precision_name(p), bench::linear_gemm_gflops(p, 1024, 1536, 512, 5));
  std::printf("\n");
  bench::print_machine();
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_fp8: %s\n", e.what());
  return 1;
}
