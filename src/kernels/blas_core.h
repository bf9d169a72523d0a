// Picking OpenBLAS's kernel set for CPUs newer than the library. Debian 12's OpenBLAS 0.3.21
// (DYNAMIC_ARCH) does not know AMD Zen 4/5: it falls back to its Haswell (AVX2) kernels, about half
// the sgemm speed of its SkylakeX (AVX-512) kernels on the same Zen 5 cores (docs/precision.md).
// OpenBLAS reads OPENBLAS_CORETYPE in its library constructor, before main(), so the only way to
// change the choice is to set the variable and re-execute the program; prepare_process_env() does
// that once, at the top of main(), for the frugal binary and the bench programs.
#pragma once
#include <string>
#include <string_view>

namespace frugal {

// The CPU facts the decision needs (cpuid leaves 0, 1 and 7).
struct CpuIdFacts {
  std::string vendor;  // "AuthenticAMD", "GenuineIntel", ...
  int family = 0;      // base + extended family: 0x19 Zen 3/4, 0x1A Zen 5
  int model = 0;       // base + extended model
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
};
CpuIdFacts read_cpuid_facts();

// The OPENBLAS_CORETYPE that serves this CPU better than the core OpenBLAS chose (`chosen_core`,
// openblas_get_corename(), case-insensitive), or "" to keep it. Pure function of its inputs:
// an AMD family 0x19/0x1A CPU with AVX-512 F+BW+VL+DQ whose chosen core is not an AVX-512 one
// (Haswell, Zen, ... are the fallbacks) gets "SkylakeX", whose kernels use exactly those subsets.
std::string better_openblas_coretype(const CpuIdFacts& cpu, std::string_view chosen_core);

// The core OpenBLAS chose in this process ("" when the linked BLAS cannot say).
std::string openblas_core_name();

struct ProcessEnvOptions {
  // Also ask libgomp for passive waits (OMP_WAIT_POLICY=passive) unless the user chose a policy
  // (OMP_WAIT_POLICY or GOMP_SPINCOUNT set): the frugal binary does (see cli/main.cpp).
  bool passive_omp_waits = false;
};

// Call first thing in main(). Sets what the process wants in its environment (OPENBLAS_CORETYPE
// when better_openblas_coretype() says so and the user has not set it; the passive wait policy
// when asked) and, if anything changed, re-executes /proc/self/exe once with the same argv.
// Never loops: the re-executed process finds FRUGAL_REEXEC=1 and changes nothing (the marker is
// then removed, so programs it starts decide for themselves). FRUGAL_KEEP_BLAS_CORE=1 turns the
// core choice off. With FRUGAL_VERBOSE set, one line on stderr says what was done. A failed exec
// continues with the current environment.
void prepare_process_env(char** argv, const ProcessEnvOptions& opt = {});

}  // namespace frugal
