// Presence/frequency penalties and token log-probabilities against plain references written from
// their definitions (OpenAI's penalty formula; log-softmax in double).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <vector>

#include "core/error.h"
#include "core/rng.h"
#include "infer/sampler.h"
#include "test_util.h"

using namespace frugal;

namespace {

std::vector<float> random_logits(int64_t V, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> l(static_cast<size_t>(V));
  for (float& x : l) x = 3.0f * rng.normal();
  return l;
}

TEST(Penalties, MatchOpenAiFormula) {
  const int64_t V = 50;
  const float presence = 0.7f, frequency = -0.3f;
  const std::vector<int32_t> generated = {3, 7, 3, 49, 3, 0, 7};
  TokenPenalties pen(presence, frequency);
  std::map<int32_t, int> count;
  for (int32_t t : generated) {
    pen.add(t);
    ++count[t];
  }
  EXPECT_EQ(pen.count(3), 3);
  EXPECT_EQ(pen.count(4), 0);
  std::vector<float> got = random_logits(V, 1), want = got;
  for (int64_t j = 0; j < V; ++j) {
    const int c = count.count(int32_t(j)) ? count[int32_t(j)] : 0;
    want[size_t(j)] -= float(c) * frequency + (c > 0 ? presence : 0.0f);
  }
  pen.apply(got.data(), V);
  for (int64_t j = 0; j < V; ++j) EXPECT_FLOAT_EQ(got[size_t(j)], want[size_t(j)]) << j;
}

TEST(Penalties, InactiveLeavesLogitsAloneAndOutOfRangeIdsAreIgnored) {
  TokenPenalties off(0, 0);
  EXPECT_FALSE(off.active());
  off.add(2);
  std::vector<float> l = random_logits(8, 2), before = l;
  off.apply(l.data(), 8);
  EXPECT_EQ(l, before);
  TokenPenalties on(1, 1);
  on.add(100);  // beyond the vocabulary given to apply(): no write out of bounds
  on.apply(l.data(), 8);
  EXPECT_EQ(l, before);
}

TEST(Penalties, SteerGreedyAwayFromRepeats) {
  std::vector<float> l = {0.0f, 2.0f, 1.5f};
  TokenPenalties pen(1.0f, 0.0f);
  pen.add(1);
  pen.apply(l.data(), 3);
  EXPECT_EQ(argmax(l.data(), 3), 2);
}

TEST(Penalties, OutOfRangeValuesAreNamedErrors) {
  test::expect_error([] { TokenPenalties(2.5f, 0); }, ErrorKind::kInvalidArgument, {"presence_penalty"});
  test::expect_error([] { TokenPenalties(0, -2.01f); }, ErrorKind::kInvalidArgument, {"frequency_penalty"});
  test::expect_error([] { TokenPenalties(std::numeric_limits<float>::quiet_NaN(), 0); },
                     ErrorKind::kInvalidArgument, {"presence_penalty"});
}

TEST(Logprobs, MatchDoubleLogSoftmax) {
  const int64_t V = 1000;
  std::vector<float> l = random_logits(V, 3);
  l[17] = l[18] = 20.0f;  // a tie at the top: the lower id comes first
  double mx = -1e300, z = 0;
  for (float x : l) mx = std::max(mx, double(x));
  for (float x : l) z += std::exp(double(x) - mx);
  auto ref = [&](int32_t i) { return double(l[size_t(i)]) - mx - std::log(z); };
  for (int32_t tok : {0, 17, 500, 999}) {
    TokenLogprobs lp = token_logprobs(l.data(), V, tok, 5);
    EXPECT_NEAR(lp.logprob, ref(tok), 1e-5) << tok;
    ASSERT_EQ(lp.top.size(), 5u);
    EXPECT_EQ(lp.top[0].first, 17);
    EXPECT_EQ(lp.top[1].first, 18);
    std::vector<int32_t> order(static_cast<size_t>(V));
    for (int32_t i = 0; i < V; ++i) order[size_t(i)] = i;
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return l[size_t(a)] > l[size_t(b)]; });
    for (size_t k = 0; k < 5; ++k) {
      EXPECT_EQ(lp.top[k].first, order[k]);
      EXPECT_NEAR(lp.top[k].second, ref(order[k]), 1e-5);
    }
  }
  double total = 0;  // the distribution sums to one
  for (float p : [&] {
         std::vector<float> all;
         for (auto& [id, v] : token_logprobs(l.data(), V, 0, V).top) all.push_back(v);
         return all;
       }())
    total += std::exp(double(p));
  EXPECT_NEAR(total, 1.0, 1e-5);
}

TEST(Logprobs, EdgeCases) {
  const float ninf = -std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> l = {nan, 0.0f, ninf, 0.0f};
  TokenLogprobs lp = token_logprobs(l.data(), 4, 1, 0);
  EXPECT_NEAR(lp.logprob, std::log(0.5), 1e-6);
  EXPECT_TRUE(lp.top.empty());
  EXPECT_EQ(token_logprobs(l.data(), 4, 0, 0).logprob, ninf);  // NaN counts as -inf
  EXPECT_EQ(token_logprobs(l.data(), 4, 2, 0).logprob, ninf);
  EXPECT_EQ(token_logprobs(l.data(), 4, 1, 99).top.size(), 4u);  // k clamped to the vocabulary
  std::vector<float> dead = {ninf, nan};
  EXPECT_EQ(token_logprobs(dead.data(), 2, 0, 1).logprob, ninf);
}

}  // namespace

namespace {

// The sampler sorts packed rank_key integers; their order must be exactly "logit descending, then
// id ascending" for every float class (the draw walks that order, so any difference changes
// sampled tokens).
TEST(RankKey, OrderEqualsLogitDescendingThenIdAscending) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> vals = {0.0f, -0.0f, 1.0f, -1.0f, inf, -inf, 1e-40f, -1e-40f, 3.5f, 3.5f, -2.25f,
                             std::numeric_limits<float>::max(), -std::numeric_limits<float>::max(),
                             std::numeric_limits<float>::min(), 1.0f, -0.0f};
  Rng rng(11);
  for (int i = 0; i < 200; ++i) vals.push_back(float(rng.below(7)) - 3.0f + (i % 3 == 0 ? 0.5f : 0.0f));
  for (size_t a = 0; a < vals.size(); ++a)
    for (size_t b = 0; b < vals.size(); ++b) {
      const bool want = vals[a] > vals[b] || (vals[a] == vals[b] && a < b);
      EXPECT_EQ(rank_key(vals[a], int32_t(a)) < rank_key(vals[b], int32_t(b)), want) << vals[a] << " " << vals[b];
    }
}

}  // namespace

namespace {

// Sampler::distribution (selection + partial sorts) against the full-sort specification, over
// random logits with ties, NaN and -inf, for every combination of the filters.
TEST(SamplerDistribution, FastPathEqualsFullSortReference) {
  Rng rng(21);
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  int cases = 0;
  for (int trial = 0; trial < 60; ++trial) {
    const int64_t V = trial % 3 == 0 ? 7 : 300 + int64_t(rng.below(700));
    std::vector<float> l(static_cast<size_t>(V));
    for (auto& x : l) x = trial % 4 == 0 ? float(rng.below(5)) : 2.5f * rng.normal();  // ties / spread
    if (trial % 5 == 1) l[size_t(rng.below(uint64_t(V)))] = nan;
    if (trial % 5 == 2) l[size_t(rng.below(uint64_t(V)))] = -inf;
    for (float t : {0.3f, 1.0f, 2.0f})
      for (int64_t k : {int64_t(0), int64_t(1), int64_t(5), V / 2})
        for (float top_p : {1.0f, 0.9f, 0.3f})
          for (float min_p : {0.0f, 0.05f, 0.5f}) {
            SamplingParams sp;
            sp.temperature = t;
            sp.top_k = k;
            sp.top_p = top_p;
            sp.min_p = min_p;
            std::vector<int32_t> ids, ref_ids;
            std::vector<float> probs, ref_probs;
            Sampler(sp).distribution(l.data(), V, &ids, &probs);
            sampling_distribution_ref(sp, l.data(), V, &ref_ids, &ref_probs);
            ASSERT_EQ(ids.size(), ref_ids.size()) << trial << " t " << t << " k " << k << " p " << top_p;
            std::map<int32_t, float> got;
            for (size_t i = 0; i < ids.size(); ++i) got[ids[i]] = probs[i];
            for (size_t i = 0; i < ref_ids.size(); ++i) {
              ASSERT_TRUE(got.count(ref_ids[i])) << "id " << ref_ids[i] << " missing, trial " << trial;
              EXPECT_NEAR(got[ref_ids[i]], ref_probs[i], 1e-6f * ref_probs[i] + 1e-30f);
            }
            if ((top_p < 1 || min_p > 0) && ref_ids.size() <= 64) {
              EXPECT_EQ(ids, ref_ids);  // a nucleus within the sorted head keeps rank order
            }
            ++cases;
          }
  }
  EXPECT_EQ(cases, 60 * 3 * 4 * 3 * 3);
}

TEST(SamplerDistribution, AllNonFiniteDrawsTheFirstInRankOrder) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  SamplingParams sp;
  sp.top_k = 2;
  std::vector<float> l = {-inf, nan, -inf, nan};  // all rank as -inf: the lowest id
  EXPECT_EQ(Sampler(sp).sample(l.data(), 4), 0);
  std::vector<float> pinf = {0.0f, inf, 3.0f, inf};
  EXPECT_EQ(Sampler(sp).sample(pinf.data(), 4), 1);
}

}  // namespace
