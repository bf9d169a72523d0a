// latent_attention (one token's heads over a latent cache, in place) against its plain double
// reference, on every ISA this CPU runs, over shapes that exercise every tile and tail: head counts
// around the 4-head tile, cache lengths around the 3-row tile, C and dr off the 8-wide vectors, a
// cache stride wider than C + dr, and peaked score rows (softmax stability).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/isa_guard.h"
#include "core/rng.h"
#include "kernels/latent_attention.h"
#include "kernels/linear.h"
#include "reference.h"

using namespace frugal;

namespace {

using test::randn;

using test::IsaGuard;

// Max |fast − ref| over the output relative to max |ref| (and the same for the probabilities).
void check(int64_t G, int64_t C, int64_t dr, int64_t S, int64_t pad, float qscale, uint64_t seed) {
  Rng r(seed);
  const int64_t cw = C + dr + pad;
  const std::vector<float> ql = randn(size_t(G * C), r, qscale), qp = randn(size_t(G * dr), r, qscale),
                           cache = randn(size_t(S * cw), r, 1.0f);
  const float scale = 1.0f / std::sqrt(float(C + dr));
  std::vector<float> p_ref(size_t(G * S)), o_ref(size_t(G * C));
  latent_attention_ref(ql.data(), qp.data(), G, C, dr, cache.data(), cw, S, scale, p_ref.data(), o_ref.data());
  for (KernelIsa isa : {KernelIsa::kPortable, KernelIsa::kAvx2}) {
    if (int(isa) > int(best_kernel_isa())) continue;
    IsaGuard guard(isa);
    std::vector<float> p(size_t(G * S), -1.0f), o(size_t(G * C), -1.0f);
    latent_attention(ql.data(), qp.data(), G, C, dr, cache.data(), cw, S, scale, p.data(), o.data());
    double pe = 0, oe = 0, om = 0;
    for (size_t i = 0; i < p.size(); ++i) pe = std::max(pe, double(std::fabs(p[i] - p_ref[i])));
    for (size_t i = 0; i < o.size(); ++i) {
      oe = std::max(oe, double(std::fabs(o[i] - o_ref[i])));
      om = std::max(om, double(std::fabs(o_ref[i])));
    }
    EXPECT_LE(pe, 2e-6) << kernel_isa_name(isa) << " G " << G << " C " << C << " dr " << dr << " S " << S;
    EXPECT_LE(oe, 2e-6 * std::max(om, 1.0)) << kernel_isa_name(isa) << " G " << G << " C " << C << " dr " << dr
                                             << " S " << S;
  }
}

}  // namespace

TEST(LatentAttention, MatchesReferenceOverTilesAndTails) {
  uint64_t seed = 1;
  for (int64_t G : {1, 3, 4, 5, 8, 9})
    for (int64_t S : {1, 2, 3, 4, 7, 31})
      for (auto [C, dr] : {std::pair<int64_t, int64_t>{16, 8}, {64, 16}, {13, 3}, {24, 5}, {128, 32}})
        check(G, C, dr, S, /*pad=*/(G + S) % 3, 1.0f, seed++);
}

TEST(LatentAttention, DeepSeekV3ShapesAndPeakedScores) {
  check(16, 512, 64, 300, 0, 1.0f, 7);  // V3's kv_lora_rank and rope dims, a few heads
  check(8, 512, 64, 40, 0, 8.0f, 8);    // large scores: softmax must subtract the row max
}
