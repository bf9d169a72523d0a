// PrefixCache on its own: exact rows back, whole blocks only, longest match, salts apart, LRU
// eviction that never strands a block's extensions, weights versions, and the capacity bounds.
#include <gtest/gtest.h>

#include <cstring>

#include "core/error.h"
#include "infer/prefix_cache.h"
#include "test_engine_util.h"

using namespace frugal;
using namespace frugal::test;

namespace {

constexpr int64_t kBlock = 4;

struct CacheSetup {
  MicroModel m;
  int64_t L = m.model.config().num_hidden_layers, W = m.model.config().kv_cache_dim();
  // A cache whose row t of layer l is filled with the value f(ids[t], t, l), standing in for prefill.
  LatentKvCache filled(const std::vector<int32_t>& ids) {
    LatentKvCache c = m.model.make_cache(int64_t(ids.size()) + 8);
    for (int64_t l = 0; l < L; ++l)
      for (int64_t t = 0; t < int64_t(ids.size()); ++t)
        for (int64_t j = 0; j < W; ++j)
          c.layer(l)[t * W + j] = float(ids[size_t(t)] * 1000 + t * 10 + l) + 0.001f * float(j);
    c.set_length(int64_t(ids.size()));
    return c;
  }
};

bool rows_equal(const LatentKvCache& a, const LatentKvCache& b, int64_t n, int64_t L) {
  for (int64_t l = 0; l < L; ++l)
    if (std::memcmp(a.layer(l), b.layer(l), size_t(n * a.width()) * sizeof(float)) != 0) return false;
  return true;
}

TEST(PrefixCache, LongestWholeBlockPrefixComesBackExactly) {
  CacheSetup s;
  PrefixCache pc(s.L, s.W, kBlock, 1000);
  std::vector<int32_t> a = {5, 6, 7, 8, 9, 10, 11, 12, 13, 14};  // 2 whole blocks + 2
  LatentKvCache src = s.filled(a);
  pc.insert(a.data(), 10, 0, src);
  EXPECT_EQ(pc.tokens(), 8);

  std::vector<int32_t> same_start = {5, 6, 7, 8, 9, 10, 11, 12, 99};
  LatentKvCache dst = s.m.model.make_cache(20);
  EXPECT_EQ(pc.lookup(same_start.data(), 9, 0, dst), 8);
  EXPECT_EQ(dst.length(), 8);
  EXPECT_TRUE(rows_equal(dst, src, 8, s.L));

  std::vector<int32_t> diverge = {5, 6, 7, 8, 9, 10, 0, 12};  // second block differs
  LatentKvCache d2 = s.m.model.make_cache(20);
  EXPECT_EQ(pc.lookup(diverge.data(), 8, 0, d2), 4);
  LatentKvCache d3 = s.m.model.make_cache(20);
  EXPECT_EQ(pc.lookup(a.data(), 7, 0, d3), 4);  // max_tokens cuts to whole blocks
  LatentKvCache d4 = s.m.model.make_cache(20);
  std::vector<int32_t> other = {1, 6, 7, 8, 9, 10, 11, 12};  // first block differs: nothing
  EXPECT_EQ(pc.lookup(other.data(), 8, 0, d4), 0);
  EXPECT_EQ(d4.length(), 0);
  LatentKvCache d5 = s.m.model.make_cache(20);
  EXPECT_EQ(pc.lookup(a.data(), 10, 7, d5), 0);  // another salt sees nothing
  LatentKvCache small = s.m.model.make_cache(5);
  EXPECT_EQ(pc.lookup(a.data(), 10, 0, small), 4);  // never more than the cache holds
}

TEST(PrefixCache, SameBlockAfterDifferentPrefixIsNotAHit) {
  CacheSetup s;
  PrefixCache pc(s.L, s.W, kBlock, 1000);
  std::vector<int32_t> a = {1, 2, 3, 4, 9, 9, 9, 9};
  std::vector<int32_t> b = {5, 5, 5, 5, 9, 9, 9, 9};
  pc.insert(a.data(), 8, 0, s.filled(a));
  LatentKvCache d = s.m.model.make_cache(10);
  EXPECT_EQ(pc.lookup(b.data(), 8, 0, d), 0);
}

TEST(PrefixCache, LruEvictsLeastRecentChainsAndKeepsWithinCapacity) {
  CacheSetup s;
  PrefixCache pc(s.L, s.W, kBlock, 12);  // 3 blocks
  std::vector<int32_t> a = {1, 1, 1, 1, 2, 2, 2, 2};
  std::vector<int32_t> b = {3, 3, 3, 3, 4, 4, 4, 4};
  pc.insert(a.data(), 8, 0, s.filled(a));
  pc.insert(b.data(), 8, 0, s.filled(b));  // 4 blocks > 3: a's deepest block goes first
  EXPECT_EQ(pc.tokens(), 12);
  LatentKvCache d = s.m.model.make_cache(10);
  EXPECT_EQ(pc.lookup(a.data(), 8, 0, d), 4);
  LatentKvCache e = s.m.model.make_cache(10);
  EXPECT_EQ(pc.lookup(b.data(), 8, 0, e), 8);
  // Order now (most recent first): b1 b2 a1. A new block evicts a1, the least recently used.
  std::vector<int32_t> c = {7, 7, 7, 7};
  pc.insert(c.data(), 4, 0, s.filled(c));
  LatentKvCache f = s.m.model.make_cache(10);
  EXPECT_EQ(pc.lookup(a.data(), 8, 0, f), 0);
  LatentKvCache g = s.m.model.make_cache(10);
  EXPECT_EQ(pc.lookup(b.data(), 8, 0, g), 8);
  EXPECT_EQ(pc.tokens(), 12);
}

TEST(PrefixCache, NewWeightsVersionDropsAndNeverMatchesOldRows) {
  CacheSetup s;
  PrefixCache pc(s.L, s.W, kBlock, 1000);
  std::vector<int32_t> a = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  pc.insert(a.data(), 9, 0, s.filled(a));
  EXPECT_EQ(pc.tokens(), 8);
  pc.set_weights_version(0);  // the same version: nothing changes
  EXPECT_EQ(pc.tokens(), 8);
  pc.set_weights_version(1);
  EXPECT_EQ(pc.weights_version(), 1u);
  EXPECT_EQ(pc.tokens(), 0);
  LatentKvCache d = s.m.model.make_cache(10);
  EXPECT_EQ(pc.lookup(a.data(), 9, 0, d), 0);
  pc.insert(a.data(), 9, 0, s.filled(a));  // rows of the new weights are cached as before
  LatentKvCache e = s.m.model.make_cache(10);
  EXPECT_EQ(pc.lookup(a.data(), 9, 0, e), 8);
}

TEST(PrefixCache, ZeroCapacityKeepsNothing) {
  CacheSetup s;
  PrefixCache pc(s.L, s.W, kBlock, 0);
  std::vector<int32_t> a = {1, 2, 3, 4, 5, 6, 7, 8};
  pc.insert(a.data(), 8, 0, s.filled(a));
  EXPECT_EQ(pc.tokens(), 0);
  LatentKvCache d = s.m.model.make_cache(10);
  EXPECT_EQ(pc.lookup(a.data(), 8, 0, d), 0);
  EXPECT_THROW(PrefixCache(s.L, s.W, 0, 10), Error);
  EXPECT_THROW(PrefixCache(s.L, s.W, 4, -1), Error);
}

}  // namespace
