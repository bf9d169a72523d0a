// bench_model: prefill and decode throughput of a random DeepSeek-V3-shaped model per weight dtype,
// as ratios to the machine's sgemm peak and read bandwidth measured in the same run.
//
//   bench_model [--preset small|medium] [--dtypes f32,bf16,fp8,q8_0,q4_0] [--prompt 512] [--decode 64]
//               [--threads 2] [--dir /tmp/frugal_bench] [--gemv 16384x4096]
//
// q8_0 / q4_0 (and fp8-block) models are `frugal quantize` of the same random f32 model (the other
// dtypes are random models of their own with the same seed). Before the models, one GEMV per dtype
// (M = 1, N x K weights larger than the caches) gives the kernel's GB/s against the same roof.
//
// Prefill: one 512-token chunk; model FLOPs = 2·(active matmul params)·T + causal attention.
// Decode: absorbed attention, one token at a time after a short prompt; weight bytes touched per
// token (attention, dense or shared MLP, the k chosen experts, router, lm_head, one embedding row)
// divided by the time per token, as a fraction of the measured read bandwidth (the roofline).
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "bench/args.h"
#include "bench/peaks.h"
#include "core/arena.h"
#include "core/error.h"
#include "core/file.h"
#include "core/sys.h"
#include "infer/sampler.h"
#include "io/hf_loader.h"
#include "io/quantize.h"
#include "io/random_model.h"
#include "kernels/blas_core.h"
#include "kernels/quant_blocks.h"
#include "model/params.h"
#include "model/transformer.h"

using namespace frugal;

namespace {

int64_t decode_bytes_per_token(const DeepSeekConfig& c, const ModelWeights& w) {
  auto mlp = [](const MlpWeights& m) { return m.gate_proj.bytes() + m.up_proj.bytes() + m.down_proj.bytes(); };
  int64_t b = w.lm_head.bytes() + w.embed_tokens.bytes() / c.vocab_size;
  for (const auto& l : w.layers) {
    const MlaWeights& a = l.self_attn;
    b += a.q_a_proj.bytes() + a.q_b_proj.bytes() + a.q_proj.bytes() + a.kv_a_proj_with_mqa.bytes() +
         a.kv_b_proj.bytes() + a.o_proj.bytes();
    if (!l.is_moe) {
      b += mlp(l.mlp);
      continue;
    }
    b += l.moe.gate.bytes() + c.num_experts_per_tok * mlp(l.moe.experts[0]);
    if (l.moe.has_shared) b += mlp(l.moe.shared_experts);
  }
  return b;
}

// Model FLOPs of a T-token prefill from position 0 (causal attention counted at half the square).
double prefill_flops(const DeepSeekConfig& c, int64_t T) {
  ParamCounts pc = count_params(c);
  const double matmul = 2.0 * double(pc.active_main - pc.embedding) * double(T);
  const double attn_per_layer = 2.0 * double(c.num_attention_heads) * double(c.qk_head_dim() + c.v_head_dim) *
                                double(T) * double(T) / 2.0;
  // Naive MLA also decompresses K/V for the T tokens: kv_b_proj applied to every cached row, which
  // active_main already counts once per token.
  return matmul + attn_per_layer * double(c.num_hidden_layers);
}

struct Args {
  std::string preset = "small", dtypes = "f32,bf16,fp8", dir = "/tmp/frugal_bench";
  int64_t prompt = 512, decode = 64, gemv_n = 16384, gemv_k = 4096;
  int threads = 2;
};

Args parse(int argc, char** argv) {
  Args a;
  for (bench::Args args(argc, argv); args.next();) {
    if (args.is("--preset")) a.preset = args.value();
    else if (args.is("--dtypes")) a.dtypes = args.value();
    else if (args.is("--dir")) a.dir = args.value();
    else if (args.is("--prompt")) a.prompt = args.integer();
    else if (args.is("--decode")) a.decode = args.integer();
    else if (args.is("--threads")) a.threads = int(args.integer());
    else if (args.is("--gemv")) {
      const std::string v = args.value();
      if (std::sscanf(v.c_str(), "%ldx%ld", &a.gemv_n, &a.gemv_k) != 2 || a.gemv_n < 1 || a.gemv_k < 32 || a.gemv_k % 32)
        fail(ErrorKind::kInvalidArgument, "--gemv {}: expected NxK with K a multiple of 32", v);
    }
    else args.unknown();
  }
  return a;
}

// "0.52 0.60 0.71": /proc/loadavg's 1, 5 and 15 minute loads (the machine is shared).
std::string load_average_str() {
  std::ifstream f("/proc/loadavg");  // a 0-byte file to stat(): read it as a stream
  std::string s;
  std::getline(f, s);
  size_t cut = 0;
  for (int i = 0; i < 3 && cut != std::string::npos; ++i) cut = s.find(' ', cut + 1);
  return s.substr(0, cut);
}

// Best-of-reps GB/s of y = x · Wᵀ at M = 1 on an [N, K] weight in dtype `dt` (random values).
double gemv_gbs(const std::string& dt, int64_t N, int64_t K) {
  Rng rng(3);
  std::vector<float> row(static_cast<size_t>(K)), x(static_cast<size_t>(K)), y(static_cast<size_t>(N));
  for (float& v : x) v = rng.normal();
  WeightView w;
  w.rows = N;
  w.cols = K;
  w.ld = K;
  std::vector<uint8_t> store;
  const std::optional<DType> block = dt == "q8_0" ? DType::kQ8_0 : dt == "q4_0" ? std::optional(DType::kQ4_0) : std::nullopt;
  w.dtype = block ? *block : dt == "f32" ? DType::kF32 : dt == "bf16" ? DType::kBF16 : DType::kF8E4M3;
  const int64_t rb = dtype_row_bytes(w.dtype, K);
  store.resize(size_t(N * rb));
  for (int64_t r = 0; r < N; ++r) {
    for (float& v : row) v = 0.02f * rng.normal();
    uint8_t* dst = store.data() + r * rb;
    if (block) quantize_row_q(*block, row.data(), dst, K);
    else if (w.dtype == DType::kF32) std::memcpy(dst, row.data(), size_t(rb));
    else
      for (int64_t k = 0; k < K; ++k) {
        if (w.dtype == DType::kBF16) {
          const uint16_t h = f32_to_bf16(row[size_t(k)]);
          std::memcpy(dst + 2 * k, &h, 2);
        } else {
          dst[k] = f32_to_e4m3(row[size_t(k)] * 1000.0f);
        }
      }
  }
  w.data = store.data();
  double best = 1e30;
  // Best of many: on a shared VM most repetitions lose their core for a while (measured spread 3x).
  for (int r = 0; r < 42; ++r) {
    const double t0 = now_seconds();
    matmul_xwt(x.data(), 1, K, w, y.data(), N);
    if (r > 1) best = std::min(best, now_seconds() - t0);
  }
  return double(w.bytes()) / best / 1e9;
}

// The model directory for `dt`: a random model, or (q8_0, q4_0, fp8-block) a quantized copy of
// the f32 one.
std::string model_dir(const Args& a, const std::string& dt) {
  const std::string dir = a.dir + "/" + a.preset + "_" + dt;
  if (file_exists(dir + "/model.safetensors")) return dir;
  if (dt == "q8_0" || dt == "q4_0" || dt == "fp8-block") {
    QuantizeOptions qo;
    qo.type = dt;
    quantize_model(model_dir(a, "f32"), dir, qo);
    return dir;
  }
  RandomModelOptions ro;
  ro.dtype = dt == "f32" ? DType::kF32 : dt == "bf16" ? DType::kBF16 : DType::kF8E4M3;
  write_random_model(dir, random_model_preset(a.preset), ro);
  return dir;
}

}  // namespace

int main(int argc, char** argv) try {
  frugal::prepare_process_env(argv);  // OpenBLAS's AVX-512 kernels on Zen 4/5 (kernels/blas_core.h)
  tune_malloc_for_reuse();
  Args a = parse(argc, argv);
  set_num_threads(a.threads);
  std::printf("bench_model: preset %s, %d threads, %s, cpu %s, GEMV kernels %s\n", a.preset.c_str(), a.threads,
              blas_info(), cpu_features_str().c_str(), kernel_isa_name(kernel_isa()));
  const double bw = bench::measure_read_bandwidth(size_t(1) << 30, 5);
  bench::print_machine();
  bench::GemmPeaks gp = bench::measure_gemm_peaks(3);
  const double peak = std::max(gp.f32, bench::sgemm_gflops(512, 2048, 2048, 3));
  std::printf("machine: read bandwidth %.1f GB/s, f32 GEMM peak %.1f GFLOP/s (OpenBLAS), bf16 GEMM peak %.1f "
              "GFLOP/s (oneDNN %s) (load: %s)\n", bw, peak, gp.bf16, gp.bf16_impl.c_str(), load_average_str().c_str());
  {
    std::string gl = a.dtypes + ",";
    for (size_t p = 0; (p = gl.find(',')) != std::string::npos; gl.erase(0, p + 1)) {
      const std::string dt = gl.substr(0, p);
      if (dt.empty() || dt == "fp8-block") continue;
      const double g = gemv_gbs(dt, a.gemv_n, a.gemv_k);
      std::printf("gemv  %-5s %ldx%ld M=1: %.1f GB/s = %.2f of read bandwidth\n", dt.c_str(), long(a.gemv_n),
                  long(a.gemv_k), g, g / bw);
    }
  }

  std::string list = a.dtypes + ",";
  for (size_t p = 0; (p = list.find(',')) != std::string::npos; list.erase(0, p + 1)) {
    const std::string dt = list.substr(0, p);
    if (dt.empty()) continue;
    const std::string dir = model_dir(a, dt);
    const size_t rss0 = current_rss_bytes();
    auto m = load_model(dir);
    const DeepSeekConfig& c = m->config;
    Transformer model(c, m->weights);
    Rng rng(5);
    std::vector<int32_t> ids(static_cast<size_t>(a.prompt));
    for (auto& id : ids) id = int32_t(rng.below(uint64_t(c.vocab_size)));
    std::vector<float> logits(static_cast<size_t>(c.vocab_size));
    ForwardOptions fo;
    fo.all_logits = false;

    // Prefill: warm-up pass (touches the mmapped weights), then the best of 3.
    double best_prefill = 1e30;
    for (int r = 0; r < 4; ++r) {
      LatentKvCache cache = model.make_cache(a.prompt);
      const double t0 = now_seconds();
      model.forward(ids.data(), a.prompt, cache, logits.data(), fo);
      if (r > 0) best_prefill = std::min(best_prefill, now_seconds() - t0);
    }
    const double pf_tps = double(a.prompt) / best_prefill;
    const double pf_gflops = prefill_flops(c, a.prompt) / best_prefill / 1e9;

    // Decode after a 16-token prompt.
    LatentKvCache cache = model.make_cache(16 + a.decode + 1);
    model.forward(ids.data(), 16, cache, logits.data(), fo);
    int32_t tok = argmax(logits.data(), c.vocab_size);
    fo.attn = AttnImpl::kAbsorb;
    for (int w = 0; w < 4; ++w) {  // warm-up
      model.forward(&tok, 1, cache, logits.data(), fo);
      tok = argmax(logits.data(), c.vocab_size);
    }
    const double t0 = now_seconds();
    for (int64_t i = 0; i < a.decode - 4; ++i) {
      model.forward(&tok, 1, cache, logits.data(), fo);
      tok = argmax(logits.data(), c.vocab_size);
    }
    const double dec_s = (now_seconds() - t0) / double(a.decode - 4);
    const double bytes = double(decode_bytes_per_token(c, m->weights));
    const double dec_gbs = bytes / dec_s / 1e9;
    ParamCounts pc = count_params(c);
    std::printf(
        "%-5s %s: %.2fB params (%.1fM active) | prefill %d tok: %.1f tok/s, %.1f GFLOP/s = %.2f of f32, %.2f of bf16 GEMM peak | "
        "decode: %.1f tok/s, %.1f MB/token -> %.1f GB/s = %.2f of read bandwidth | rss %.0f MB (weights file "
        "%.0f MB, arena high water %.1f MB)\n",
        dt.c_str(), a.preset.c_str(), double(pc.total_main) / 1e9, double(pc.active_main) / 1e6, int(a.prompt),
        pf_tps, pf_gflops, pf_gflops / peak, gp.bf16 > 0 ? pf_gflops / gp.bf16 : 0.0, 1.0 / dec_s, bytes / 1e6, dec_gbs, dec_gbs / bw,
        double(current_rss_bytes() - rss0) / 1e6, double(m->store->total_bytes()) / 1e6,
        double(model.arena().high_water()) / 1e6);
    std::fflush(stdout);
  }
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "bench_model: error: %s\n", e.what());
  return 1;
}
