// Transformer::decode_batch (continuous batching) against the one-sequence path: sequences of
// different lengths, each at its own position with its own latent cache, decoded together must
// give the logits and greedy tokens that forward() gives one token and one sequence at a time.
//
// Tolerance: the batched path runs the same f32 math, but the linear layers pick their kernel by
// row count (GEMV tiles up to 16/32 rows, OpenBLAS sgemm above), so dot products are summed in a
// different order: each differs by a few f32 ulps of the partial sums, ~1e-7 relative, and the
// fixture's logits (|l| <= ~4) drift by ~1e-6 through 3 layers. 1e-5 absolute (the bound)
// is ~10x that drift and still far below any semantic error (a wrong position, cache row or
// expert moves logits by >= 1e-2). With one sequence the operations are the same as forward()'s
// absorbed decode in the same order, so the result must be bit-identical.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "infer/sampler.h"
#include "io/hf_loader.h"
#include "model/transformer.h"
#include "test_util.h"
#include "reference.h"

using namespace frugal;

namespace {

using test::kFixtureDir;

using test::max_abs_diff;

std::vector<int32_t> prompt_of(int64_t len, int32_t salt) {
  std::vector<int32_t> p;
  for (int64_t i = 0; i < len; ++i) p.push_back(int32_t((i * 37 + salt * 11 + 5) % 256));
  return p;
}

class BatchDecode : public ::testing::TestWithParam<std::string> {};

// lengths: each sequence's prompt (so each decodes at its own position).
void check_batched_equals_single(Transformer& model, const std::vector<int64_t>& lengths, int64_t steps) {
  const int64_t V = model.config().vocab_size, n = int64_t(lengths.size());

  // Prefill each sequence on its own; the batched and the reference run start from copies.
  std::vector<LatentKvCache> batched, single;
  std::vector<int32_t> next(static_cast<size_t>(n));
  std::vector<float> logits(static_cast<size_t>(V));
  ForwardOptions fo;
  fo.all_logits = false;
  for (int64_t i = 0; i < n; ++i) {
    auto p = prompt_of(lengths[size_t(i)], int32_t(i));
    LatentKvCache c = model.make_cache(lengths[size_t(i)] + steps);
    model.forward(p.data(), int64_t(p.size()), c, logits.data(), fo);
    next[size_t(i)] = argmax(logits.data(), V);
    batched.push_back(c);
    single.push_back(c);
  }
  std::vector<int32_t> next_single = next;
  std::vector<LatentKvCache*> ptrs;
  for (auto& c : batched) ptrs.push_back(&c);
  std::vector<float> lb(static_cast<size_t>(n * V)), ls(static_cast<size_t>(V));
  ForwardOptions dec;
  dec.attn = AttnImpl::kAbsorb;
  for (int64_t s = 0; s < steps; ++s) {
    model.decode_batch(next.data(), n, ptrs.data(), lb.data());
    for (int64_t i = 0; i < n; ++i) {
      model.forward(&next_single[size_t(i)], 1, single[size_t(i)], ls.data(), dec);
      EXPECT_LT(max_abs_diff(lb.data() + i * V, ls.data(), V), 1e-5f) << "step " << s << " seq " << i;
      EXPECT_EQ(batched[size_t(i)].length(), single[size_t(i)].length());
      next[size_t(i)] = argmax(lb.data() + i * V, V);
      next_single[size_t(i)] = argmax(ls.data(), V);
      EXPECT_EQ(next[size_t(i)], next_single[size_t(i)]) << "greedy token, step " << s << " seq " << i;
    }
  }
  // The cached latent rows agree too (what later steps attend over).
  for (int64_t i = 0; i < n; ++i)
    for (int64_t l = 0; l < model.config().num_hidden_layers; ++l)
      EXPECT_LT(max_abs_diff(batched[size_t(i)].layer(l), single[size_t(i)].layer(l),
                             batched[size_t(i)].length() * batched[size_t(i)].width()),
                1e-5f);
}

TEST_P(BatchDecode, EqualsOneAtATimeForward) {
  auto m = load_model(kFixtureDir + "/" + GetParam());
  Transformer model(m->config, m->weights);
  check_batched_equals_single(model, {1, 5, 12, 3, 30}, 6);  // small batch: the GEMV kernels
  std::vector<int64_t> many;  // above the GEMV row limit (16 f32, 32 bf16/fp8): the sgemm path
  for (int64_t i = 0; i < 40; ++i) many.push_back(1 + (i * 7) % 33);
  check_batched_equals_single(model, many, 3);
}

TEST_P(BatchDecode, OneSequenceIsBitIdenticalToForward) {
  auto m = load_model(kFixtureDir + "/" + GetParam());
  Transformer model(m->config, m->weights);
  const int64_t V = m->config.vocab_size;
  auto p = prompt_of(9, 3);
  LatentKvCache a = model.make_cache(16);
  std::vector<float> la(static_cast<size_t>(V)), lb(static_cast<size_t>(V));
  ForwardOptions fo;
  fo.all_logits = false;
  model.forward(p.data(), 9, a, la.data(), fo);
  LatentKvCache b = a;
  LatentKvCache* pb = &b;
  fo.attn = AttnImpl::kAbsorb;
  for (int32_t tok : {7, 100, 255}) {
    model.forward(&tok, 1, a, la.data(), fo);
    model.decode_batch(&tok, 1, &pb, lb.data());
    EXPECT_EQ(max_abs_diff(la.data(), lb.data(), V), 0.0f) << "token " << tok;
  }
}

// Ragged batches: decode rows (1 token) and prompt chunks (several tokens, some from an empty
// cache, some continuing one) in one call, against forward() of each chunk on its own.
TEST_P(BatchDecode, RaggedBatchEqualsPerSequenceForward) {
  auto m = load_model(kFixtureDir + "/" + GetParam());
  Transformer model(m->config, m->weights);
  const int64_t V = m->config.vocab_size;
  struct Case { int64_t cached, chunk; };
  const std::vector<Case> cases = {{0, 9}, {5, 1}, {12, 4}, {0, 1}, {3, 17}, {30, 1}};
  const int64_t n = int64_t(cases.size());
  std::vector<LatentKvCache> batched, single;
  std::vector<int32_t> ids;
  std::vector<int64_t> n_tokens;
  std::vector<float> logits(static_cast<size_t>(V));
  ForwardOptions fo;
  fo.all_logits = false;
  for (int64_t i = 0; i < n; ++i) {
    LatentKvCache c = model.make_cache(cases[size_t(i)].cached + cases[size_t(i)].chunk);
    if (cases[size_t(i)].cached > 0) {
      auto p = prompt_of(cases[size_t(i)].cached, int32_t(i));
      model.forward(p.data(), int64_t(p.size()), c, logits.data(), fo);
    }
    batched.push_back(c);
    single.push_back(c);
    auto chunk = prompt_of(cases[size_t(i)].chunk, int32_t(100 + i));
    ids.insert(ids.end(), chunk.begin(), chunk.end());
    n_tokens.push_back(cases[size_t(i)].chunk);
  }
  std::vector<LatentKvCache*> ptrs;
  for (auto& c : batched) ptrs.push_back(&c);
  std::vector<float> lb(static_cast<size_t>(n * V));
  model.forward_batch(ids.data(), n_tokens.data(), n, ptrs.data(), lb.data());
  fo.attn = AttnImpl::kAbsorb;
  int64_t off = 0;
  for (int64_t i = 0; i < n; ++i) {
    model.forward(ids.data() + off, n_tokens[size_t(i)], single[size_t(i)], logits.data(), fo);
    off += n_tokens[size_t(i)];
    EXPECT_LT(max_abs_diff(lb.data() + i * V, logits.data(), V), 1e-5f) << "seq " << i;
    EXPECT_EQ(argmax(lb.data() + i * V, V), argmax(logits.data(), V)) << "seq " << i;
    EXPECT_EQ(batched[size_t(i)].length(), single[size_t(i)].length());
    for (int64_t l = 0; l < m->config.num_hidden_layers; ++l)
      EXPECT_LT(max_abs_diff(batched[size_t(i)].layer(l), single[size_t(i)].layer(l),
                             single[size_t(i)].length() * single[size_t(i)].width()),
                1e-5f);
  }
  // One sequence with a chunk: the same operations as forward()'s absorbed path, bit for bit.
  LatentKvCache a = model.make_cache(20), b = model.make_cache(20);
  LatentKvCache* pb = &b;
  auto p = prompt_of(11, 7);
  const int64_t t11 = 11;
  model.forward(p.data(), 11, a, logits.data(), fo);
  model.forward_batch(p.data(), &t11, 1, &pb, lb.data());
  EXPECT_EQ(max_abs_diff(logits.data(), lb.data(), V), 0.0f);
}

INSTANTIATE_TEST_SUITE_P(Micro, BatchDecode, ::testing::Values("micro_f32", "micro_bf16", "micro_fp8"));

TEST(BatchDecodeErrors, BadInputsLeaveCachesUntouched) {
  auto m = load_model(kFixtureDir + "/micro_f32");
  Transformer model(m->config, m->weights);
  const int64_t V = m->config.vocab_size;
  LatentKvCache a = model.make_cache(4), b = model.make_cache(1);
  std::vector<int32_t> p = {3};
  std::vector<float> logits(static_cast<size_t>(2 * V));
  model.forward(p.data(), 1, b, logits.data());  // b is now full
  std::vector<LatentKvCache*> caches = {&a, &b};
  std::vector<int32_t> ids = {1, 2};
  test::expect_error([&] { model.decode_batch(ids.data(), 2, caches.data(), logits.data()); },
                     ErrorKind::kInvalidArgument, {"context full", "sequence 1"});
  EXPECT_EQ(a.length(), 0);
  EXPECT_EQ(b.length(), 1);

  std::vector<int32_t> bad = {1, 256};
  LatentKvCache c = model.make_cache(4);
  caches = {&a, &c};
  EXPECT_THROW(model.decode_batch(bad.data(), 2, caches.data(), logits.data()), Error);
  caches = {&a, &a};
  EXPECT_THROW(model.decode_batch(ids.data(), 2, caches.data(), logits.data()), Error);
  LatentKvCache foreign(m->config, 1, 4);  // one layer: not this model's cache
  caches = {&a, &foreign};
  EXPECT_THROW(model.decode_batch(ids.data(), 2, caches.data(), logits.data()), Error);
  EXPECT_THROW(model.decode_batch(ids.data(), 0, caches.data(), logits.data()), Error);
  const std::vector<int64_t> zero_and_one = {0, 1};
  EXPECT_THROW(model.forward_batch(ids.data(), zero_and_one.data(), 2, caches.data(), logits.data()), Error);
  EXPECT_EQ(a.length(), 0);
  EXPECT_EQ(c.length(), 0);
}

}  // namespace
