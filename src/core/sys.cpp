#include "core/sys.h"

#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace frugal {

namespace {
size_t read_status_kb(const char* key) {
  FILE* f = std::fopen("/proc/self/status", "r");
  if (!f) return 0;
  char line[256];
  size_t kb = 0, klen = std::strlen(key);
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, key, klen) == 0) {
      std::sscanf(line + klen, " %zu", &kb);
      break;
    }
  }
  std::fclose(f);
  return kb * 1024;
}
}  // namespace

size_t current_rss_bytes() { return read_status_kb("VmRSS:"); }
size_t peak_rss_bytes() { return read_status_kb("VmHWM:"); }

double now_seconds() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

int num_threads() { return omp_get_max_threads(); }
void set_num_threads(int n) {
  if (n > 0) omp_set_num_threads(n);
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = [] {
    CpuFeatures c;
    __builtin_cpu_init();
    c.avx2 = __builtin_cpu_supports("avx2");
    c.fma = __builtin_cpu_supports("fma");
    c.avx512f = __builtin_cpu_supports("avx512f");
    c.avx512bf16 = __builtin_cpu_supports("avx512bf16");
    c.f16c = c.avx2;  // every AVX2 x86 CPU has F16C
    return c;
  }();
  return f;
}

std::string cpu_features_str() {
  const auto& c = cpu_features();
  std::string s;
  if (c.avx2) s += "avx2 ";
  if (c.fma) s += "fma ";
  if (c.avx512f) s += "avx512f ";
  if (c.avx512bf16) s += "avx512bf16 ";
  if (!s.empty()) s.pop_back();
  return s.empty() ? "scalar" : s;
}

std::string cpu_model_name() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);)
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
      const size_t v = line.find_first_not_of(" \t", line.find(':') + 1);
      return v == std::string::npos ? "?" : line.substr(v);
    }
  return "?";
}

std::string load_average() {
  std::ifstream loadavg("/proc/loadavg");
  std::string load;
  return std::getline(loadavg, load) ? load : "?";
}

}  // namespace frugal
