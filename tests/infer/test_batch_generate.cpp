// The synchronous batched API (BatchGenerator): every request gets generate()'s tokens for its own
// prompt, sampling and seed, however it is batched; its logprobs are the log-softmax of a plain
// forward's logits; finish reasons; identical prompts are run through the model once and prompts
// with a common prefix share its whole blocks; a weight update is never served stale rows.
//
// Exact token equality with generate() holds up to near-ties of the f32 logits (test_engine.cpp
// explains why that is safe with the fixture); the seeds and prompts are fixed, so a failure is
// deterministic.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "core/error.h"
#include "infer/batch_generate.h"
#include "test_engine_util.h"
#include "test_util.h"

using namespace frugal;
using namespace frugal::test;

namespace {

BatchRequest request(const std::vector<int32_t>& prompt, int64_t max_tokens, const SamplingParams& sp) {
  BatchRequest r;
  r.prompt = prompt;
  r.max_tokens = max_tokens;
  r.sampling = sp;
  return r;
}

SamplingParams seeded(uint64_t seed, float temperature = 0.9f) {
  SamplingParams sp;
  sp.temperature = temperature;
  sp.top_p = 0.95f;
  sp.seed = seed;
  return sp;
}

// log p(ids[i]) of a plain one-sequence loop: forward(prompt), then forward() one token at a time
// (absorbed decode, as generate() does), log-softmax in double.
std::vector<double> reference_logprobs(Transformer& model, const std::vector<int32_t>& prompt,
                                       const std::vector<int32_t>& ids) {
  const int64_t V = model.config().vocab_size;
  LatentKvCache cache = model.make_cache(int64_t(prompt.size() + ids.size()));
  std::vector<float> logits(static_cast<size_t>(V));
  ForwardOptions fo;
  fo.all_logits = false;
  model.forward(prompt.data(), int64_t(prompt.size()), cache, logits.data(), fo);
  fo.attn = AttnImpl::kAbsorb;
  std::vector<double> out;
  for (size_t i = 0; i < ids.size(); ++i) {
    double mx = -1e300, z = 0;
    for (float x : logits) mx = std::max(mx, double(x));
    for (float x : logits) z += std::exp(double(x) - mx);
    out.push_back(double(logits[size_t(ids[i])]) - mx - std::log(z));
    if (i + 1 < ids.size()) model.forward(&ids[i], 1, cache, logits.data(), fo);
  }
  return out;
}

TEST(BatchGenerate, EveryRequestGetsGenerateTokensForItsSeed) {
  MicroModel m;
  const std::vector<int64_t> lengths = {1, 7, 30, 3, 64, 12, 100};
  std::vector<BatchRequest> reqs;
  std::vector<std::vector<int32_t>> want;
  for (size_t i = 0; i < lengths.size(); ++i) {
    const SamplingParams sp = i % 2 ? seeded(100 + i) : greedy();
    reqs.push_back(request(make_prompt(lengths[i], int32_t(i)), 20, sp));
    want.push_back(reference(m.model, reqs.back().prompt, 20, sp));
  }
  EngineOptions eo;
  eo.max_batch = 3;  // more requests than slots: admission between steps
  eo.ctx = 256;
  eo.prefill_chunk = 32;
  BatchGenerator gen(m.model, eo);
  const std::vector<Completion> out = gen.generate(reqs);
  ASSERT_EQ(out.size(), reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(out[i].ids, want[i]) << "request " << i;
    EXPECT_EQ(out[i].logprobs.size(), out[i].ids.size());
    EXPECT_EQ(out[i].finish, FinishReason::kLength);
    EXPECT_EQ(out[i].completion_tokens, 20);
    EXPECT_EQ(out[i].prompt_tokens, lengths[i]);
  }
  // The same call again (same seeds): the same completions, prefix-cache hits or not.
  const std::vector<Completion> again = gen.generate(reqs);
  for (size_t i = 0; i < reqs.size(); ++i) EXPECT_EQ(again[i].ids, want[i]) << "request " << i;
  EXPECT_EQ(gen.metrics().requests_total, 2 * int64_t(reqs.size()));
  EXPECT_EQ(gen.metrics().running, 0);
}

TEST(BatchGenerate, LogprobsAreLogSoftmaxOfThePlainForward) {
  MicroModel m;
  Transformer ref(m.loaded->config, m.loaded->weights);
  const auto prompt = make_prompt(23, 3);
  std::vector<BatchRequest> reqs;
  for (uint64_t seed : {7, 8, 9}) reqs.push_back(request(prompt, 16, seeded(seed, 1.2f)));  // 2 of 3 forked
  reqs.push_back(request(make_prompt(9, 4), 16, greedy()));
  EngineOptions eo;
  eo.ctx = 256;
  BatchGenerator gen(m.model, eo);
  const std::vector<Completion> out = gen.generate(reqs);
  int unsure = 0;  // tokens drawn with p < 1/2: the logprobs are not all near 0
  for (size_t i = 0; i < reqs.size(); ++i) {
    ASSERT_EQ(out[i].ids.size(), 16u) << i;
    const std::vector<double> want = reference_logprobs(ref, reqs[i].prompt, out[i].ids);
    for (size_t t = 0; t < want.size(); ++t) {
      EXPECT_NEAR(out[i].logprobs[t], want[t], 1e-5) << "request " << i << " token " << t;
      EXPECT_LE(out[i].logprobs[t], 0.0f);
    }
    if (i < 3)
      for (size_t t = 0; t < want.size(); ++t) unsure += want[t] < std::log(0.5);
  }
  EXPECT_GT(unsure, 0);
}

TEST(BatchGenerate, FinishReasons) {
  MicroModel m;
  const auto prompt = make_prompt(10, 4);
  const auto free_run = reference(m.model, prompt, 12, greedy());
  const int32_t stop = free_run[5];
  EngineOptions eo;
  eo.ctx = 40;
  BatchGenerator gen(m.model, eo);
  std::vector<BatchRequest> reqs = {request(prompt, 12, greedy()), request(prompt, 12, greedy()),
                                    request(make_prompt(34, 1), 100, greedy()), request(prompt, 0, greedy())};
  reqs[1].stop_ids = {stop};
  const std::vector<Completion> out = gen.generate(reqs);
  EXPECT_EQ(out[0].finish, FinishReason::kLength);  // max_tokens
  EXPECT_EQ(out[0].ids, free_run);
  EXPECT_EQ(out[1].finish, FinishReason::kStop);
  EXPECT_EQ(out[1].ids, reference(m.model, prompt, 12, greedy(), {stop}));
  EXPECT_EQ(out[1].ids.back(), stop);
  EXPECT_EQ(out[2].finish, FinishReason::kLength);  // the context: 34 + 6 = 40
  EXPECT_EQ(out[2].ids.size(), 6u);
  EXPECT_EQ(out[3].finish, FinishReason::kLength);  // max_tokens 0
  EXPECT_TRUE(out[3].ids.empty());
  EXPECT_TRUE(out[3].logprobs.empty());
}

// The G completions of one GRPO prompt: the prompt is run once, the others take its rows.
TEST(BatchGenerate, IdenticalPromptsArePrefilledOnce) {
  MicroModel m;
  const auto prompt = make_prompt(37, 5), other = make_prompt(11, 6);
  const int G = 6;
  std::vector<BatchRequest> reqs;
  std::vector<std::vector<int32_t>> want;
  for (int g = 0; g < G; ++g) {
    reqs.push_back(request(prompt, 12, seeded(uint64_t(g + 1), 1.0f)));
    want.push_back(reference(m.model, prompt, 12, reqs.back().sampling));
  }
  reqs.push_back(request(other, 12, greedy()));
  want.push_back(reference(m.model, other, 12, greedy()));
  EngineOptions eo;
  eo.ctx = 256;
  eo.max_batch = 8;
  eo.prefill_chunk = 16;  // the shared prompt takes 3 steps; its copies wait for it
  eo.prefix_block = 8;
  BatchGenerator gen(m.model, eo);
  const std::vector<Completion> out = gen.generate(reqs);
  std::set<std::vector<int32_t>> distinct;
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(out[i].ids, want[i]) << "request " << i;
    EXPECT_EQ(out[i].cached_prompt_tokens, i >= 1 && i < size_t(G) ? 37 : 0) << "request " << i;
    if (i < size_t(G)) distinct.insert(out[i].ids);
  }
  EXPECT_GT(distinct.size(), 1u);  // the seeds really differ
  EngineMetrics mt = gen.metrics();
  EXPECT_EQ(mt.prompt_tokens_total, G * 37 + 11);
  EXPECT_EQ(mt.prefill_tokens_total, 37 + 11);
  EXPECT_EQ(mt.generation_tokens_total, (G + 1) * 12);

  // Fewer slots than copies: 4 start together (one prefill); the 2 admitted later find the
  // prompt's 4 whole blocks in the prefix cache, and one of them runs the last 5 tokens for both.
  eo.max_batch = 4;
  BatchGenerator small(m.model, eo);
  reqs.pop_back();
  want.pop_back();
  const std::vector<Completion> out2 = small.generate(reqs);
  for (size_t i = 0; i < reqs.size(); ++i) EXPECT_EQ(out2[i].ids, want[i]) << "request " << i;
  EXPECT_EQ(out2[4].cached_prompt_tokens, 32);
  EXPECT_EQ(out2[5].cached_prompt_tokens, 37);
  EXPECT_EQ(small.metrics().prefill_tokens_total, 37 + 5);
}

TEST(BatchGenerate, CommonPrefixSharesItsWholeBlocks) {
  MicroModel m;
  const auto system = make_prompt(40, 8);
  std::vector<int32_t> a = system, b = system;
  for (int j = 0; j < 5; ++j) a.push_back(int32_t(10 + j));
  for (int j = 0; j < 9; ++j) b.push_back(int32_t(30 + j));
  EngineOptions eo;
  eo.ctx = 256;
  eo.prefix_block = 8;
  BatchGenerator gen(m.model, eo);
  const std::vector<Completion> out = gen.generate({request(a, 8, greedy()), request(b, 8, seeded(3))});
  EXPECT_EQ(out[0].ids, reference(m.model, a, 8, greedy()));
  EXPECT_EQ(out[1].ids, reference(m.model, b, 8, seeded(3)));
  EXPECT_EQ(out[0].cached_prompt_tokens, 0);
  EXPECT_EQ(out[1].cached_prompt_tokens, 40);  // b waited for a's blocks
  EXPECT_EQ(gen.metrics().prefill_tokens_total, 45 + 9);
}

TEST(BatchGenerate, BadRequestIsNamedAndNothingRuns) {
  MicroModel m;
  EngineOptions eo;
  eo.ctx = 64;
  BatchGenerator gen(m.model, eo);
  std::vector<BatchRequest> reqs = {request(make_prompt(5, 0), 4, greedy()), request(make_prompt(5, 1), 4, greedy())};
  reqs[1].prompt[3] = 999;
  expect_error([&] { gen.generate(reqs); }, ErrorKind::kInvalidArgument, {"request 1 of 2", "999", "vocabulary"});
  reqs[1].prompt = make_prompt(64, 1);
  expect_error([&] { gen.generate(reqs); }, ErrorKind::kInvalidArgument, {"request 1", "context is 64"});
  reqs[1].sampling.top_p = 0;
  reqs[1].prompt = make_prompt(5, 1);
  expect_error([&] { gen.generate(reqs); }, ErrorKind::kInvalidArgument, {"top_p"});
  EXPECT_EQ(gen.metrics().requests_total, 0);
  EXPECT_TRUE(gen.generate({}).empty());
  EXPECT_EQ(gen.context_tokens(), 64);
}

// A weight update between two calls: before it a repeated prompt hits the prefix cache; after it
// the same prompt gets no hit and the new weights' tokens and logprobs.
TEST(BatchGenerate, UpdatedWeightsAreNeverServedOldRows) {
  TempDir dir;
  MicroModel m;
  auto fresh = other_weights(dir.str(), 11);
  const auto prompt = make_prompt(50, 9);
  EngineOptions eo;
  eo.ctx = 256;
  eo.prefix_block = 8;
  BatchGenerator gen(m.model, eo);
  const std::vector<int32_t> old_want = reference(m.model, prompt, 10, greedy());
  const auto first = gen.generate({request(prompt, 10, greedy())});
  const auto hit = gen.generate({request(prompt, 10, greedy())});
  EXPECT_EQ(first[0].cached_prompt_tokens, 0);
  EXPECT_EQ(hit[0].cached_prompt_tokens, 48);
  EXPECT_EQ(hit[0].ids, old_want);
  EXPECT_EQ(gen.metrics().weights_version, 0);

  gen.update_weights([&] { m.loaded->weights = fresh->weights; });  // the model views the new tensors
  EXPECT_EQ(gen.metrics().weights_version, 1);
  EXPECT_EQ(gen.metrics().prefix_cache_tokens, 0);
  Transformer now(m.loaded->config, m.loaded->weights);
  const std::vector<int32_t> new_want = reference(now, prompt, 10, greedy());
  ASSERT_NE(new_want, old_want);
  const auto after = gen.generate({request(prompt, 10, greedy())});
  EXPECT_EQ(after[0].cached_prompt_tokens, 0);
  EXPECT_EQ(after[0].ids, new_want);
  const std::vector<double> lp = reference_logprobs(now, prompt, after[0].ids);
  for (size_t t = 0; t < lp.size(); ++t) EXPECT_NEAR(after[0].logprobs[t], lp[t], 1e-5) << t;
  EXPECT_EQ(gen.generate({request(prompt, 10, greedy())})[0].cached_prompt_tokens, 48);  // new rows are cached

  // An update that throws still bumps the version (the weights may be half written).
  EXPECT_THROW(gen.update_weights([] { throw std::runtime_error("copy failed"); }), std::runtime_error);
  EXPECT_EQ(gen.metrics().weights_version, 2);
  EXPECT_EQ(gen.generate({request(prompt, 10, greedy())})[0].cached_prompt_tokens, 0);
}

}  // namespace
