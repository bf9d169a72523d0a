// Forces one kernel ISA path for a scope, so every path is tested on any machine; the best path
// the CPU supports is restored afterwards.
#pragma once
#include "kernels/linear.h"  // KernelIsa, set_kernel_isa, best_kernel_isa

namespace frugal::test {

struct IsaGuard {
  explicit IsaGuard(KernelIsa isa) { set_kernel_isa(isa); }
  ~IsaGuard() { set_kernel_isa(best_kernel_isa()); }
  IsaGuard(const IsaGuard&) = delete;
  IsaGuard& operator=(const IsaGuard&) = delete;
};

}  // namespace frugal::test
