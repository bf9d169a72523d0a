// OPENBLAS_CORETYPE selection and the one-time re-exec (blas_core.h).
#include "kernels/blas_core.h"

#include <cpuid.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>

extern "C" char* openblas_get_corename(void);
#pragma weak openblas_get_corename

namespace frugal {

CpuIdFacts read_cpuid_facts() {
  CpuIdFacts f;
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(0, &a, &b, &c, &d)) return f;
  const unsigned max_leaf = a;
  char vendor[13] = {};
  std::memcpy(vendor, &b, 4);
  std::memcpy(vendor + 4, &d, 4);
  std::memcpy(vendor + 8, &c, 4);
  f.vendor = vendor;
  if (__get_cpuid(1, &a, &b, &c, &d)) {
    const int base_family = int((a >> 8) & 0xF), ext_family = int((a >> 20) & 0xFF);
    const int base_model = int((a >> 4) & 0xF), ext_model = int((a >> 16) & 0xF);
    f.family = base_family == 0xF ? base_family + ext_family : base_family;
    f.model = (base_family == 0xF || base_family == 0x6) ? (ext_model << 4) + base_model : base_model;
  }
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    f.avx512f = (b >> 16) & 1;
    f.avx512dq = (b >> 17) & 1;
    f.avx512bw = (b >> 30) & 1;
    f.avx512vl = (b >> 31) & 1;
  }
  return f;
}

std::string better_openblas_coretype(const CpuIdFacts& cpu, std::string_view chosen_core) {
  if (cpu.vendor != "AuthenticAMD" || (cpu.family != 0x19 && cpu.family != 0x1A)) return "";
  if (!(cpu.avx512f && cpu.avx512bw && cpu.avx512vl && cpu.avx512dq)) return "";  // Zen 3: AVX2 only
  std::string core(chosen_core);
  std::transform(core.begin(), core.end(), core.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
  if (core.empty()) return "";  // not OpenBLAS, or it cannot say: nothing to fix
  // The AVX-512 kernel sets of 0.3.21 (newer releases add more; any of them is already right).
  for (const char* good : {"skylakex", "cooperlake", "sapphirerapids"})
    if (core == good) return "";
  return "SkylakeX";
}

std::string openblas_core_name() {
  if (!openblas_get_corename) return "";
  const char* name = openblas_get_corename();
  return name ? name : "";
}

void prepare_process_env(char** argv, const ProcessEnvOptions& opt) {
  if (const char* again = std::getenv("FRUGAL_REEXEC"); again && std::strcmp(again, "1") == 0) {
    unsetenv("FRUGAL_REEXEC");
    return;
  }
  const bool verbose = std::getenv("FRUGAL_VERBOSE") != nullptr;
  std::string done;
  if (opt.passive_omp_waits && !std::getenv("OMP_WAIT_POLICY") && !std::getenv("GOMP_SPINCOUNT")) {
    setenv("OMP_WAIT_POLICY", "passive", 1);
    done += "OMP_WAIT_POLICY=passive";
  }
  const char* keep = std::getenv("FRUGAL_KEEP_BLAS_CORE");
  if (!std::getenv("OPENBLAS_CORETYPE") && !(keep && *keep && std::strcmp(keep, "0") != 0)) {
    const std::string chosen = openblas_core_name();
    const std::string better = better_openblas_coretype(read_cpuid_facts(), chosen);
    if (!better.empty()) {
      setenv("OPENBLAS_CORETYPE", better.c_str(), 1);
      if (!done.empty()) done += ", ";
      done += "OPENBLAS_CORETYPE=" + better + " (OpenBLAS chose " + chosen + " for this AVX-512 AMD CPU)";
    }
  }
  if (done.empty()) return;
  if (verbose) std::fprintf(stderr, "frugal: re-executing with %s\n", done.c_str());
  setenv("FRUGAL_REEXEC", "1", 1);
  execv("/proc/self/exe", argv);
  unsetenv("FRUGAL_REEXEC");  // exec failed: carry on as we are
}

}  // namespace frugal
