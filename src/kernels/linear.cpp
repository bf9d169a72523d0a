// Linear layers: WeightView, the run-time ISA dispatch, the portable kernels, the small-M
// (GEMV, memory bound) and large-M (dequantised panel + OpenBLAS sgemm, compute bound) paths,
// and the double-accumulating references.
#include "kernels/linear.h"

#include <cblas.h>
#include <dlfcn.h>
#include <omp.h>

#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "core/arena.h"
#include "core/error.h"
#include "core/sys.h"
#include "kernels/linear_impl.h"
#include "kernels/quant_blocks.h"

// Weak: resolved only if the BLAS we run against really is OpenBLAS (checked in blas_state()).
#pragma weak openblas_get_config
#pragma weak openblas_get_corename
#pragma weak openblas_get_parallel

namespace frugal {

using namespace linear_detail;

namespace {

// M up to this uses the GEMV kernels (each weight streamed once from DRAM, widened in registers);
// above it the work is compute bound and OpenBLAS on f32 panels wins. Measured crossover on the
// dev VM (bench_kernels "xwt ... M=" lines): f32 goes straight to sgemm with no dequantisation, so
// it switches earlier; for bf16/fp8 the GEMV tiles stay ahead of dequantise + sgemm up to ~32.
int64_t small_m_limit(DType t) { return t == DType::kF32 ? 16 : 32; }
// Below this many weight bytes a GEMV runs on one thread: an OpenMP fork/join costs more.
constexpr int64_t kParallelMinBytes = 64 << 10;
// Target size of one dequantised f32 panel for the large-M path: big enough that sgemm's
// re-packing of x per panel is amortised, small enough to stay in the last-level cache.
constexpr int64_t kPanelBytes = 8 << 20;

bool is_supported(DType t) {
  return t == DType::kF32 || t == DType::kBF16 || t == DType::kF16 || t == DType::kF8E4M3 ||
         t == DType::kF8E5M2 || dtype_is_block(t);
}

// Bytes of a [rows, cols] weight in its storage type (threading and panel decisions).
int64_t weight_bytes(DType t, int64_t rows, int64_t cols) {
  return dtype_is_block(t) ? rows * (cols / 32) * int64_t(dtype_block_bytes(t)) : rows * cols * int64_t(dtype_size(t));
}

void check_view(const WeightView& w, const char* fn) {
  if (!is_supported(w.dtype))
    fail(ErrorKind::kUnsupported, "{}: weight dtype {} is not supported (F32, BF16, F16, F8_E4M3, F8_E5M2, Q8_0, Q4_0)",
         fn, dtype_name(w.dtype));
  FRUGAL_ASSERT(w.rows >= 0 && w.cols >= 0 && w.ld >= w.cols, "{}: view {}x{} ld {}", fn, w.rows, w.cols,
                w.ld);
  FRUGAL_ASSERT(w.data || w.rows * w.cols == 0, "{}: null weight data", fn);
  if (dtype_is_block(w.dtype))
    FRUGAL_ASSERT(w.cols % 32 == 0 && w.ld % 32 == 0 && w.col0 % 32 == 0 && !w.scale_inv,
                  "{}: {} view must be whole 32-value blocks (cols {}, ld {}, col0 {}) without scale_inv", fn,
                  dtype_name(w.dtype), w.cols, w.ld, w.col0);
  if (w.scale_inv)
    FRUGAL_ASSERT(w.block_rows > 0 && w.block_cols > 0 && w.row0 >= 0 && w.col0 >= 0 &&
                      w.scale_ld * w.block_cols >= w.col0 + w.cols,
                  "{}: bad block scales (block {}x{}, scale_ld {}, col0 {}, cols {})", fn, w.block_rows,
                  w.block_cols, w.scale_ld, w.col0, w.cols);
}

// ---- Portable kernels (any x86-64; also the reference layout for new ISAs) ----

template <DType T> float decode(const uint8_t* p) {
  if constexpr (T == DType::kF32) {
    float f;
    std::memcpy(&f, p, 4);  // unaligned-safe
    return f;
  } else if constexpr (T == DType::kBF16 || T == DType::kF16) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return T == DType::kBF16 ? bf16_to_f32(h) : f16_to_f32(h);
  } else if constexpr (T == DType::kF8E4M3) {
    return e4m3_table()[*p];
  } else {
    return e5m2_table()[*p];
  }
}

template <DType T>
void dequant_rows_portable_t(const WeightView& w, int64_t r0, int64_t r1, float* dst, int64_t ldd) {
  const size_t es = dtype_size(T);
  const auto* base = static_cast<const uint8_t*>(w.data);
  for (int64_t r = r0; r < r1; ++r) {
    const uint8_t* row = base + r * w.ld * es;
    const float* srow = scale_row(w, r);
    float* out = dst + (r - r0) * ldd;
    for_each_scale_segment(w, [&](int64_t c0, int64_t c1, int64_t block) {
      if (srow) {
        const float s = srow[block];
        for (int64_t c = c0; c < c1; ++c) out[c] = decode<T>(row + c * es) * s;
      } else {
        for (int64_t c = c0; c < c1; ++c) out[c] = decode<T>(row + c * es);
      }
    });
  }
}

void dequant_rows_portable(const WeightView& w, int64_t r0, int64_t r1, float* dst, int64_t ldd) {
  switch (w.dtype) {
    case DType::kF32: return dequant_rows_portable_t<DType::kF32>(w, r0, r1, dst, ldd);
    case DType::kBF16: return dequant_rows_portable_t<DType::kBF16>(w, r0, r1, dst, ldd);
    case DType::kF16: return dequant_rows_portable_t<DType::kF16>(w, r0, r1, dst, ldd);
    case DType::kF8E4M3: return dequant_rows_portable_t<DType::kF8E4M3>(w, r0, r1, dst, ldd);
    case DType::kF8E5M2: return dequant_rows_portable_t<DType::kF8E5M2>(w, r0, r1, dst, ldd);
    case DType::kQ8_0:
    case DType::kQ4_0: return dequant_rows_q(w, r0, r1, dst, ldd);
    default: break;
  }
}

// f32 dot product with 8 independent partial sums (the compiler vectorises it with SSE2).
float dot_f32(const float* a, const float* b, int64_t n) {
  float s[8] = {};
  int64_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int j = 0; j < 8; ++j) s[j] += a[k + j] * b[k + j];
  for (; k < n; ++k) s[0] += a[k] * b[k];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

// One weight row at a time: dequantise it to a thread-local f32 row, dot it with every x row.
void gemv_rows_portable(const float* x, int64_t M, int64_t ldx, const WeightView& w, int64_t n0, int64_t n1,
                        float* y, int64_t ldy) {
  thread_local std::vector<float> row;
  row.resize(size_t(w.cols));
  for (int64_t n = n0; n < n1; ++n) {
    dequant_rows_portable(w, n, n + 1, row.data(), w.cols);
    for (int64_t m = 0; m < M; ++m) y[m * ldy + n] = dot_f32(x + m * ldx, row.data(), w.cols);
  }
}

// ---- Dispatch ----

struct Kernels {
  GemvRowsFn gemv_rows;
  DequantRowsFn dequant_rows;  // any dtype (block types go to the scalar dequant_rows_q)
  QGemvRowsFn qgemv_rows;      // q8_0 / q4_0 only
};

const Kernels& kernels_for(KernelIsa isa) {
  static const Kernels kPortable{gemv_rows_portable, dequant_rows_portable, qgemv_rows_portable};
  static const Kernels kAvx2{gemv_rows_avx2, dequant_rows_avx2, qgemv_rows_avx2};
  static const Kernels kAvx512{gemv_rows_avx512, dequant_rows_avx2, qgemv_rows_avx2};
  static const Kernels kAvx512Vnni{gemv_rows_avx512, dequant_rows_avx2, qgemv_rows_avx512vnni};
  switch (isa) {
    case KernelIsa::kAvx512Vnni: return kAvx512Vnni;
    case KernelIsa::kAvx512: return kAvx512;
    case KernelIsa::kAvx2: return kAvx2;
    default: return kPortable;
  }
}

std::atomic<int> g_isa{-1};  // -1: not chosen yet (best_kernel_isa() at first use)

const Kernels& kernels() {
  int isa = g_isa.load(std::memory_order_relaxed);
  if (isa < 0) {
    isa = int(best_kernel_isa());
    g_isa.store(isa, std::memory_order_relaxed);
  }
  return kernels_for(KernelIsa(isa));
}

// ---- Scratch for dequantised weights ----

// f32 scratch of n floats: from the arena if given (released by ~ScratchF32), else a per-thread
// buffer that is kept for the next call.
class ScratchF32 {
 public:
  ScratchF32(Arena* arena, int64_t n) : arena_(arena) {
    if (arena_) {
      mark_ = arena_->mark();
      ptr_ = arena_->alloc<float>(size_t(n));
    } else {
      thread_local std::vector<float> buf;
      if (buf.size() < size_t(n)) buf.resize(size_t(n));
      ptr_ = buf.data();
    }
  }
  ~ScratchF32() {
    if (arena_) arena_->rewind(mark_);
  }
  ScratchF32(const ScratchF32&) = delete;
  ScratchF32& operator=(const ScratchF32&) = delete;
  float* get() const { return ptr_; }

 private:
  Arena* arena_;
  Arena::Mark mark_{};
  float* ptr_ = nullptr;
};

// Dequantises view rows [r0, r1) into dst (rows ldd apart), in parallel when it is worth it.
// Must be called outside any parallel region, like sgemm.
void dequant_rows_parallel(const Kernels& k, const WeightView& w, int64_t r0, int64_t r1, float* dst,
                           int64_t ldd) {
  const int64_t rows = r1 - r0, chunk = 4;
  const bool par = weight_bytes(w.dtype, rows, w.cols) >= kParallelMinBytes;
  const DequantRowsFn f = dtype_is_block(w.dtype) ? dequant_rows_q : k.dequant_rows;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t i = 0; i < rows; i += chunk) f(w, r0 + i, r0 + std::min(i + chunk, rows), dst + i * ldd, ldd);
}

// A plain f32 view with element alignment can go to BLAS as is.
bool is_direct_f32(const WeightView& w) {
  return w.dtype == DType::kF32 && !w.scale_inv && reinterpret_cast<uintptr_t>(w.data) % alignof(float) == 0;
}

void zero_rows(float* y, int64_t M, int64_t N, int64_t ldy) {
  for (int64_t m = 0; m < M; ++m) std::memset(y + m * ldy, 0, size_t(N) * sizeof(float));
}

// Small M on q8_0 / q4_0 weights: x quantized to q8 blocks once (serially: M·K values against
// N·K weights), then integer GEMV with the rows of W split across threads like the f32 GEMV.
void qgemv(const Kernels& k, const float* x, int64_t M, int64_t ldx, const WeightView& w, float* y, int64_t ldy) {
  const int64_t N = w.rows, K = w.cols, nb = K / 32;
  thread_local std::vector<int8_t> qs;
  thread_local std::vector<float> d;
  thread_local std::vector<int32_t> sum;
  qs.resize(size_t(M * K));
  d.resize(size_t(M * nb));
  sum.resize(size_t(M * nb));
  for (int64_t m = 0; m < M; ++m) quantize_act_q8(x + m * ldx, K, qs.data() + m * K, d.data() + m * nb, sum.data() + m * nb);
  QActs a;
  a.qs = qs.data();
  a.d = d.data();
  a.sum = sum.data();
  a.M = M;
  a.K = K;
  a.nb = nb;
  const int nt = weight_bytes(w.dtype, N, K) >= kParallelMinBytes ? num_threads() : 1;
  const int64_t chunk = 12;
  const int64_t nchunks = (N + chunk - 1) / chunk;
#pragma omp parallel num_threads(nt)
  {
    const int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
    const int64_t c0 = nchunks * t / T, c1 = nchunks * (t + 1) / T;
    if (c1 > c0) k.qgemv_rows(a, w, c0 * chunk, std::min(N, c1 * chunk), y, ldy);
  }
}

// ---- BLAS ----

struct BlasState {
  std::string info;
};

// At first use: make sure cblas_sgemm really is OpenBLAS's. Debian's reference BLAS (the
// libblas.so.3 alternative) is ~20x slower and would silently turn minutes into hours.
const BlasState& blas_state() {
  static const BlasState state = [] {
    if (!openblas_get_config)
      fail(ErrorKind::kUnsupported,
           "the linked BLAS is not OpenBLAS (no openblas_get_config); the reference BLAS is ~20x slower. "
           "Install libopenblas0-openmp and link it (see CMakeLists.txt FRUGAL_OPENBLAS_DIR)");
    Dl_info sgemm_lib{}, openblas_lib{};
    if (dladdr(reinterpret_cast<void*>(&cblas_sgemm), &sgemm_lib) &&
        dladdr(reinterpret_cast<void*>(&openblas_get_config), &openblas_lib) && sgemm_lib.dli_fname &&
        openblas_lib.dli_fname && std::strcmp(sgemm_lib.dli_fname, openblas_lib.dli_fname) != 0)
      fail(ErrorKind::kUnsupported,
           "cblas_sgemm comes from {} but OpenBLAS is {}: another BLAS (LD_PRELOAD? libblas.so "
           "alternative?) takes precedence, and the reference BLAS is ~20x slower",
           sgemm_lib.dli_fname, openblas_lib.dli_fname);
    BlasState s;
    s.info = openblas_get_config();
    if (openblas_get_corename) s.info += std::string(" core=") + openblas_get_corename();
    if (openblas_get_parallel)
      s.info += openblas_get_parallel() == OPENBLAS_OPENMP ? " threads=openmp" : " threads=NOT-openmp";
    return s;
  }();
  return state;
}

int blas_int(int64_t v, const char* what) {
  FRUGAL_ASSERT(v >= 0 && v <= INT32_MAX, "sgemm: {} = {} does not fit the BLAS integer", what, v);
  return int(v);
}

// BLAS rejects ld < max(1, stored row length) even where a single row makes ld meaningless
// (callers pass ld = 0 for one-row operands); a real multi-row ld that is too small is our bug.
int64_t blas_ld(int64_t ld, int64_t stored_rows, int64_t stored_cols, const char* what) {
  const int64_t need = std::max<int64_t>(1, stored_cols);
  if (stored_rows <= 1) return std::max(ld, need);
  FRUGAL_ASSERT(ld >= need, "sgemm: {} = {} < row length {}", what, ld, need);
  return ld;
}

}  // namespace

// ---- WeightView ----

WeightView WeightView::row_slice(int64_t r, int64_t n) const {
  FRUGAL_ASSERT(r >= 0 && n >= 0 && r + n <= rows, "row_slice [{}, {}) of {} rows", r, r + n, rows);
  WeightView v = *this;
  v.data = static_cast<const uint8_t*>(data) + r * dtype_row_bytes(dtype, ld);
  v.rows = n;
  v.row0 = row0 + r;
  return v;
}

WeightView WeightView::col_slice(int64_t c, int64_t n) const {
  FRUGAL_ASSERT(c >= 0 && n >= 0 && c + n <= cols, "col_slice [{}, {}) of {} cols", c, c + n, cols);
  FRUGAL_ASSERT(!dtype_is_block(dtype) || (c % 32 == 0 && n % 32 == 0), "col_slice [{}, {}) of a {} view: not whole blocks",
                c, c + n, dtype_name(dtype));
  WeightView v = *this;
  v.data = static_cast<const uint8_t*>(data) + dtype_row_bytes(dtype, c);
  v.cols = n;
  v.col0 = col0 + c;
  return v;
}

float WeightView::at(int64_t r, int64_t c) const {
  if (dtype_is_block(dtype)) return q_row_value(dtype, static_cast<const uint8_t*>(data) + dtype_row_bytes(dtype, r * ld), c);
  const size_t es = dtype_size(dtype);
  const auto* p = static_cast<const uint8_t*>(data) + (r * ld + c) * int64_t(es);
  float v;
  switch (dtype) {
    case DType::kF32: v = decode<DType::kF32>(p); break;
    case DType::kBF16: v = decode<DType::kBF16>(p); break;
    case DType::kF16: v = decode<DType::kF16>(p); break;
    case DType::kF8E4M3: v = decode<DType::kF8E4M3>(p); break;
    case DType::kF8E5M2: v = decode<DType::kF8E5M2>(p); break;
    default: fail(ErrorKind::kUnsupported, "WeightView::at: dtype {}", dtype_name(dtype));
  }
  if (scale_inv) v *= scale_inv[((r + row0) / block_rows) * scale_ld + (c + col0) / block_cols];
  return v;
}

int64_t WeightView::bytes() const {
  int64_t b = weight_bytes(dtype, rows, cols);
  if (scale_inv && rows > 0 && cols > 0) {
    const int64_t br = (row0 + rows - 1) / block_rows - row0 / block_rows + 1;
    const int64_t bc = (col0 + cols - 1) / block_cols - col0 / block_cols + 1;
    b += br * bc * int64_t(sizeof(float));
  }
  return b;
}

// ---- ISA selection ----

KernelIsa best_kernel_isa() {
  const CpuFeatures& f = cpu_features();
  if (!(f.avx2 && f.fma && f.f16c)) return KernelIsa::kPortable;
  // __builtin_cpu_supports also checks that the OS saves the zmm/opmask state (XCR0).
  static const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                             __builtin_cpu_supports("avx512vbmi");
  if (!avx512) return KernelIsa::kAvx2;
  static const bool vnni = __builtin_cpu_supports("avx512vnni");
  return vnni ? KernelIsa::kAvx512Vnni : KernelIsa::kAvx512;
}

KernelIsa kernel_isa() {
  kernels();
  return KernelIsa(g_isa.load(std::memory_order_relaxed));
}

void set_kernel_isa(KernelIsa isa) {
  if (int(isa) > int(best_kernel_isa()))
    fail(ErrorKind::kUnsupported, "kernel ISA {} is not supported by this CPU ({})", kernel_isa_name(isa),
         cpu_features_str());
  g_isa.store(int(isa), std::memory_order_relaxed);
}

const char* kernel_isa_name(KernelIsa isa) {
  switch (isa) {
    case KernelIsa::kPortable: return "portable";
    case KernelIsa::kAvx2: return "avx2";
    case KernelIsa::kAvx512: return "avx512";
    case KernelIsa::kAvx512Vnni: return "avx512vnni";
  }
  return "?";
}

// ---- Matmuls ----

void matmul_xwt(const float* x, int64_t M, int64_t ldx, const WeightView& w, float* y, int64_t ldy,
                Arena* scratch) {
  check_view(w, "matmul_xwt");
  const int64_t N = w.rows, K = w.cols;
  FRUGAL_ASSERT(M >= 0 && (M <= 1 || (ldx >= K && ldy >= N)), "matmul_xwt: ldx {} < K {} or ldy {} < N {}", ldx,
                K, ldy, N);
  if (M == 0 || N == 0) return;
  if (K == 0) return zero_rows(y, M, N, ldy);
  const Kernels& k = kernels();

  if (dtype_is_block(w.dtype) && M <= small_m_limit(w.dtype)) return qgemv(k, x, M, ldx, w, y, ldy);
  if (M <= small_m_limit(w.dtype)) {
    // Memory bound: split the rows of W across threads; each streams its rows once.
    const int nt = weight_bytes(w.dtype, N, K) >= kParallelMinBytes ? num_threads() : 1;
    const int64_t chunk = 12;  // a multiple of the kernels' 3- and 4-row groups
    const int64_t nchunks = (N + chunk - 1) / chunk;
#pragma omp parallel num_threads(nt)
    {
      // Contiguous ranges (schedule(static) by hand): each thread streams one long run of rows,
      // and the kernels' prefetch of the next row group stays inside the thread's own range.
      const int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
      const int64_t c0 = nchunks * t / T, c1 = nchunks * (t + 1) / T;
      if (c1 > c0) k.gemv_rows(x, M, ldx, w, c0 * chunk, std::min(N, c1 * chunk), y, ldy);
    }
    return;
  }
  if (is_direct_f32(w)) {
    sgemm(false, true, M, N, K, 1.0f, x, ldx, static_cast<const float*>(w.data), w.ld, 0.0f, y, ldy);
    return;
  }
  // Compute bound: dequantise a panel of W rows to f32, multiply it with sgemm, next panel.
  const int64_t P = std::min(N, std::max<int64_t>(64, kPanelBytes / (K * 4) / 16 * 16));
  ScratchF32 panel(scratch, P * K);
  for (int64_t n0 = 0; n0 < N; n0 += P) {
    const int64_t p = std::min(P, N - n0);
    dequant_rows_parallel(k, w, n0, n0 + p, panel.get(), K);
    sgemm(false, true, M, p, K, 1.0f, x, ldx, panel.get(), K, 0.0f, y + n0, ldy);
  }
}

void matmul_xw(const float* x, int64_t M, int64_t ldx, const WeightView& w, float* y, int64_t ldy,
               Arena* scratch) {
  check_view(w, "matmul_xw");
  const int64_t K = w.rows, N = w.cols;
  FRUGAL_ASSERT(M >= 0 && (M <= 1 || (ldx >= K && ldy >= N)), "matmul_xw: ldx {} < K {} or ldy {} < N {}", ldx,
                K, ldy, N);
  if (M == 0 || N == 0) return;
  if (K == 0) return zero_rows(y, M, N, ldy);
  if (is_direct_f32(w)) {
    sgemm(false, false, M, N, K, 1.0f, x, ldx, static_cast<const float*>(w.data), w.ld, 0.0f, y, ldy);
    return;
  }
  // The shapes here are small (one head's [128, 512] slice of kv_b_proj): dequantise it whole.
  ScratchF32 wf(scratch, K * N);
  dequant_rows_parallel(kernels(), w, 0, K, wf.get(), N);
  sgemm(false, false, M, N, K, 1.0f, x, ldx, wf.get(), N, 0.0f, y, ldy);
}

void matmul_xwt_ref(const float* x, int64_t M, int64_t ldx, const WeightView& w, float* y, int64_t ldy) {
  check_view(w, "matmul_xwt_ref");
  std::vector<float> row(size_t(w.cols));
  for (int64_t n = 0; n < w.rows; ++n) {
    for (int64_t k = 0; k < w.cols; ++k) row[k] = w.at(n, k);
    for (int64_t m = 0; m < M; ++m) {
      double s = 0.0;
      for (int64_t k = 0; k < w.cols; ++k) s += double(x[m * ldx + k]) * double(row[k]);
      y[m * ldy + n] = float(s);
    }
  }
}

void matmul_xw_ref(const float* x, int64_t M, int64_t ldx, const WeightView& w, float* y, int64_t ldy) {
  check_view(w, "matmul_xw_ref");
  std::vector<float> col(size_t(w.rows));
  for (int64_t n = 0; n < w.cols; ++n) {
    for (int64_t k = 0; k < w.rows; ++k) col[k] = w.at(k, n);
    for (int64_t m = 0; m < M; ++m) {
      double s = 0.0;
      for (int64_t k = 0; k < w.rows; ++k) s += double(x[m * ldx + k]) * double(col[k]);
      y[m * ldy + n] = float(s);
    }
  }
}

// ---- sgemm ----

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
           const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  blas_state();
  if (M == 0 || N == 0) return;
  lda = blas_ld(lda, trans_a ? K : M, trans_a ? M : K, "lda");
  ldb = blas_ld(ldb, trans_b ? N : K, trans_b ? K : N, "ldb");
  ldc = blas_ld(ldc, M, N, "ldc");
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
              blas_int(M, "M"), blas_int(N, "N"), blas_int(K, "K"), alpha, A, blas_int(lda, "lda"), B,
              blas_int(ldb, "ldb"), beta, C, blas_int(ldc, "ldc"));
}

void sgemm_ref(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
               int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0.0;
      for (int64_t k = 0; k < K; ++k) {
        const double a = trans_a ? A[k * lda + i] : A[i * lda + k];
        const double b = trans_b ? B[j * ldb + k] : B[k * ldb + j];
        s += a * b;
      }
      // beta == 0 means C is write-only (BLAS semantics: NaN garbage in C does not propagate).
      const double c = beta == 0.0f ? 0.0 : double(beta) * double(C[i * ldc + j]);
      C[i * ldc + j] = float(double(alpha) * s + c);
    }
}

const char* blas_info() { return blas_state().info.c_str(); }

}  // namespace frugal
