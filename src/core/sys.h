// Process facts for telemetry: memory in use, wall clock, thread count, CPU features.
#pragma once
#include <cstddef>
#include <string>

namespace frugal {

size_t current_rss_bytes();  // resident set size now
size_t peak_rss_bytes();     // VmHWM: the most resident memory so far
double now_seconds();        // monotonic clock
int num_threads();           // OpenMP threads that parallel regions will use
void set_num_threads(int n); // also sets OpenBLAS's count (both share the OpenMP pool)

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false, avx512f = false, avx512bf16 = false, amx = false;
};
const CpuFeatures& cpu_features();
std::string cpu_features_str();
// What a speed number ran on: /proc/cpuinfo's first "model name" and /proc/loadavg's line ("?"
// where either cannot be read).
std::string cpu_model_name();
std::string load_average();

}  // namespace frugal
