// gemm_bf16's oneDNN path: bf16 x bf16 -> f32 matmul primitives, built once per tile shape.
#include "kernels/gemm_bf16_onednn.h"

#include <cpuid.h>
#include <omp.h>

#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

#include "core/error.h"
#include "core/sys.h"
#include "kernels/gemm_precision.h"

namespace frugal {

namespace {

using onednn_dt = dnnl::memory::data_type;
using onednn_dims = dnnl::memory::dims;

dnnl::engine& cpu_engine() {
  static dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

bool cpu_has_amx_bf16() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid_max(0, nullptr) < 7) return false;
  __cpuid_count(7, 0, a, b, c, d);
  return (d >> 22) & 1;  // CPUID.(EAX=7,ECX=0):EDX[22] AMX-BF16
}

// One matmul primitive per (tile shape, strides, alpha, beta).
using TileKey = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, float, float>;
struct TilePrimitive {
  dnnl::matmul prim;
  size_t scratch_bytes = 0;
};

// `user_scratchpad`: the caller passes the primitive's scratch memory (DNNL_ARG_SCRATCHPAD). The tiles
// need it: with the library's scratchpad (Debian builds oneDNN without DNNL_ENABLE_CONCURRENT_EXEC)
// two threads running primitives at once share one scratch buffer, where brgemm packs its B
// panels, and the results were wrong and varied from run to run.
dnnl::matmul::primitive_desc make_pd(int64_t m, int64_t n, int64_t K, int64_t lda, int64_t ldb, int64_t ldc,
                                     float alpha, float beta, bool user_scratchpad) {
  const dnnl::memory::desc a_md(onednn_dims{m, K}, onednn_dt::bf16, onednn_dims{lda, 1});
  const dnnl::memory::desc b_md(onednn_dims{K, n}, onednn_dt::bf16, onednn_dims{ldb, 1});
  const dnnl::memory::desc c_md(onednn_dims{m, n}, onednn_dt::f32, onednn_dims{ldc, 1});
  dnnl::primitive_attr attr;
  if (user_scratchpad) attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
  if (beta != 0.0f) {
    dnnl::post_ops po;
    po.append_sum(beta);
    attr.set_post_ops(po);
  }
  return dnnl::matmul::primitive_desc(dnnl::matmul::desc(a_md, b_md, c_md), attr, cpu_engine());
}

// The cache is bounded: gemm_bf16 quantises the shapes it asks for, but a long run with many layer
// shapes should still not collect kernels without end. When full it starts over; executions in
// flight hold their primitive through the shared_ptr.
constexpr size_t kMaxTilePrimitives = 4096;

std::shared_ptr<const TilePrimitive> tile_primitive(const TileKey& key) {
  static std::mutex mu;
  static std::map<TileKey, std::shared_ptr<const TilePrimitive>> cache;
  std::lock_guard<std::mutex> lock(mu);
  if (cache.size() >= kMaxTilePrimitives && !cache.count(key)) cache.clear();
  auto& slot = cache[key];
  if (!slot) {
    const auto [m, n, K, lda, ldb, ldc, alpha, beta] = key;
    // Built with one thread in view (omp_set_num_threads is per task here), so oneDNN plans a
    // single-threaded kernel whatever the caller's thread count.
    const auto pd = make_pd(m, n, K, lda, ldb, ldc, alpha, beta, true);
    slot = std::make_shared<const TilePrimitive>(TilePrimitive{dnnl::matmul(pd), pd.scratchpad_desc().get_size()});
  }
  return slot;
}

}  // namespace

bool onednn_bf16_available() {
  static const bool ok = [] {
    if (!cpu_features().avx512bf16 && !cpu_has_amx_bf16()) return false;
    try {
      const auto pd = make_pd(16, 16, 32, 32, 16, 16, 1.0f, 0.0f, true);
      return std::string(pd.impl_info_str()).find("ref") == std::string::npos;
    } catch (const dnnl::error&) {
      return false;
    }
  }();
  return ok;
}

void onednn_tile_bf16(int64_t m, int64_t n, int64_t K, const uint16_t* a, int64_t lda, const uint16_t* b,
                      int64_t ldb, float alpha, float beta, float* c, int64_t ldc) {
  // This task's thread count only (an OpenMP ICV of the current task): oneDNN then plans and runs
  // the tile on this thread alone, the same whether the caller has 1 thread or 16.
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  try {
    const std::shared_ptr<const TilePrimitive> held = tile_primitive(TileKey{m, n, K, lda, ldb, ldc, alpha, beta});
    const TilePrimitive& tp = *held;
    thread_local std::vector<uint8_t> scratch;  // this thread's scratchpad, grown to the largest
    if (scratch.size() < tp.scratch_bytes) scratch.resize(tp.scratch_bytes);
    thread_local dnnl::stream stream(cpu_engine());
    const dnnl::memory::desc a_md(onednn_dims{m, K}, onednn_dt::bf16, onednn_dims{lda, 1});
    const dnnl::memory::desc b_md(onednn_dims{K, n}, onednn_dt::bf16, onednn_dims{ldb, 1});
    const dnnl::memory::desc c_md(onednn_dims{m, n}, onednn_dt::f32, onednn_dims{ldc, 1});
    dnnl::memory am(a_md, cpu_engine(), const_cast<uint16_t*>(a));
    dnnl::memory bm(b_md, cpu_engine(), const_cast<uint16_t*>(b));
    dnnl::memory cm(c_md, cpu_engine(), c);
    std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}};
    if (tp.scratch_bytes > 0) {
      const dnnl::memory::desc s_md(onednn_dims{int64_t(tp.scratch_bytes)}, onednn_dt::u8, onednn_dims{1});
      args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(s_md, cpu_engine(), scratch.data()));
    }
    tp.prim.execute(stream, args);
    stream.wait();
  } catch (const dnnl::error& e) {
    omp_set_num_threads(saved);
    fail(ErrorKind::kInternal, "oneDNN bf16 matmul {}x{}x{}: {}", m, n, K, e.what());
  }
  omp_set_num_threads(saved);
}

const char* onednn_matmul_bf16(int64_t M, int64_t N, int64_t K, const uint16_t* A, const uint16_t* B, float* C) {
  struct Built {
    dnnl::matmul::primitive_desc pd;
    dnnl::matmul prim;
    std::string impl;
  };
  static thread_local std::map<std::tuple<int64_t, int64_t, int64_t>, std::unique_ptr<Built>> built;
  try {
    auto& b = built[{M, N, K}];
    if (!b) {
      auto pd = make_pd(M, N, K, K, N, N, 1.0f, 0.0f, false);  // one call at a time: library scratchpad
      b = std::make_unique<Built>(Built{pd, dnnl::matmul(pd), pd.impl_info_str()});
    }
    dnnl::stream stream(cpu_engine());
    dnnl::memory am(b->pd.src_desc(), cpu_engine(), const_cast<uint16_t*>(A));
    dnnl::memory bm(b->pd.weights_desc(), cpu_engine(), const_cast<uint16_t*>(B));
    dnnl::memory cm(b->pd.dst_desc(), cpu_engine(), C);
    b->prim.execute(stream, {{DNNL_ARG_SRC, am}, {DNNL_ARG_WEIGHTS, bm}, {DNNL_ARG_DST, cm}});
    stream.wait();
    return b->impl.c_str();
  } catch (const dnnl::error& e) {
    fail(ErrorKind::kUnsupported, "oneDNN has no bf16 matmul {}x{}x{} here: {}", M, N, K, e.what());
  }
}

}  // namespace frugal
