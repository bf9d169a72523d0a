// better_openblas_coretype: the OPENBLAS_CORETYPE choice as a pure function of CPU facts and the
// core OpenBLAS picked (kernels/blas_core.h).
#include <gtest/gtest.h>

#include "kernels/blas_core.h"

namespace frugal {
namespace {

CpuIdFacts amd(int family, bool avx512) {
  CpuIdFacts c;
  c.vendor = "AuthenticAMD";
  c.family = family;
  c.avx512f = c.avx512bw = c.avx512vl = c.avx512dq = avx512;
  return c;
}

TEST(BlasCore, Zen4And5WithAFallbackCoreGetSkylakeX) {
  EXPECT_EQ(better_openblas_coretype(amd(0x1A, true), "Haswell"), "SkylakeX");  // Zen 5, 0.3.21
  EXPECT_EQ(better_openblas_coretype(amd(0x19, true), "Zen"), "SkylakeX");      // Zen 4
  EXPECT_EQ(better_openblas_coretype(amd(0x19, true), "haswell"), "SkylakeX");  // case-insensitive
}

TEST(BlasCore, AnAvx512CoreIsKept) {
  for (const char* core : {"SkylakeX", "skylakex", "Cooperlake", "SapphireRapids"})
    EXPECT_EQ(better_openblas_coretype(amd(0x1A, true), core), "") << core;
}

TEST(BlasCore, OtherCpusAreLeftAlone) {
  EXPECT_EQ(better_openblas_coretype(amd(0x19, false), "Zen"), "");      // Zen 3: no AVX-512
  EXPECT_EQ(better_openblas_coretype(amd(0x17, true), "Zen"), "");      // not family 19h/1Ah
  CpuIdFacts partial = amd(0x1A, true);
  partial.avx512vl = false;  // SkylakeX's kernels need F, BW, VL and DQ
  EXPECT_EQ(better_openblas_coretype(partial, "Haswell"), "");
  CpuIdFacts intel = amd(0x6, true);
  intel.vendor = "GenuineIntel";
  EXPECT_EQ(better_openblas_coretype(intel, "Haswell"), "");  // OpenBLAS knows Intel's parts
  EXPECT_EQ(better_openblas_coretype(amd(0x1A, true), ""), "");  // no OpenBLAS core name
}

TEST(BlasCore, CpuidFactsAgreeWithTheCompilerBuiltins) {
  const CpuIdFacts f = read_cpuid_facts();
  EXPECT_FALSE(f.vendor.empty());
  __builtin_cpu_init();
  EXPECT_EQ(f.avx512f, bool(__builtin_cpu_supports("avx512f")));
  EXPECT_EQ(f.avx512bw, bool(__builtin_cpu_supports("avx512bw")));
  EXPECT_EQ(f.avx512vl, bool(__builtin_cpu_supports("avx512vl")));
  EXPECT_EQ(f.avx512dq, bool(__builtin_cpu_supports("avx512dq")));
}

}  // namespace
}  // namespace frugal
