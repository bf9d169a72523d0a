// The serving engine's outputs: with temperature 0 (and with a seed) every request gets exactly the
// tokens generate() gives it alone, however requests are batched, queued, prefix-cached or
// cancelled around it; logprobs and penalties match a plain reference loop.
//
// Exact token equality is the right check even though batched logits differ from one-at-a-time
// ones in the last f32 bits (test_batch_mla.cpp bounds that drift at 1e-5): a greedy or seeded
// choice changes only if two candidates are within ~1e-6 of a tie, and the fixture's logits are
// random-weight logits of spread O(1) over 256 ids. The seeds and prompts are fixed, so a failure
// here is deterministic, not flaky.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <thread>

#include "infer/sampler.h"
#include "test_engine_util.h"

using namespace frugal;
using namespace frugal::test;

namespace {

TEST(Engine, GreedyEqualsGenerateForEveryRequest) {
  for (const char* name : {"micro_f32", "micro_fp8"}) {
    MicroModel m(name);
    const std::vector<int64_t> lengths = {1, 7, 30, 3, 64, 12, 100};
    std::vector<std::vector<int32_t>> prompts, want;
    for (size_t i = 0; i < lengths.size(); ++i) {
      prompts.push_back(make_prompt(lengths[i], int32_t(i)));
      want.push_back(reference(m.model, prompts.back(), 24, greedy()));
    }
    EngineOptions eo;
    eo.max_batch = 3;  // more requests than slots: admission between steps
    eo.ctx = 256;
    eo.prefill_chunk = 32;  // several chunks for the long prompts (generate() uses the same)
    Collector c;
    {
      Engine engine(m.model, eo);
      for (size_t i = 0; i < prompts.size(); ++i) {
        GenRequest r;
        r.prompt = prompts[i];
        r.sampling = greedy();
        r.max_tokens = 24;
        r.on_event = c.sink(int(i));
        engine.submit(std::move(r));
      }
      ASSERT_TRUE(c.wait_finals(int(prompts.size())));
    }
    for (size_t i = 0; i < prompts.size(); ++i) {
      Outcome o = c.get(int(i));
      EXPECT_EQ(o.tokens, want[i]) << name << " request " << i;
      EXPECT_EQ(o.finish, FinishReason::kLength);
      EXPECT_EQ(o.final_events, 1);
      EXPECT_EQ(o.events.back().completion_tokens, 24);
      EXPECT_EQ(o.events.back().prompt_tokens, lengths[i]);
    }
  }
}

TEST(Engine, StopIdEndsWithStopAndIsReported) {
  MicroModel m;
  auto prompt = make_prompt(10, 4);
  auto free_run = reference(m.model, prompt, 12, greedy());
  const int32_t stop = free_run[5];
  auto want = reference(m.model, prompt, 12, greedy(), {stop});
  Collector c;
  EngineOptions eo;
  eo.ctx = 256;
  Engine engine(m.model, eo);
  GenRequest r;
  r.prompt = prompt;
  r.sampling = greedy();
  r.max_tokens = 12;
  r.stop_ids = {stop};
  r.on_event = c.sink(0);
  engine.submit(std::move(r));
  ASSERT_TRUE(c.wait_finals(1));
  Outcome o = c.get(0);
  EXPECT_EQ(o.tokens, want);
  EXPECT_EQ(o.tokens.back(), stop);
  EXPECT_EQ(o.finish, FinishReason::kStop);
  EXPECT_EQ(o.events.back().token, stop);  // the stop token rides on the final event
}

TEST(Engine, SeededSamplingIsReproducibleAndIndependentOfNeighbours) {
  MicroModel m;
  SamplingParams sp;
  sp.temperature = 0.9f;
  sp.top_p = 0.95f;
  sp.top_k = 50;
  sp.seed = 1234;
  auto prompt = make_prompt(20, 9);
  auto want = reference(m.model, prompt, 20, sp);
  EngineOptions eo;
  eo.ctx = 256;
  eo.max_batch = 8;
  Collector c;
  Engine engine(m.model, eo);
  for (int i = 0; i < 6; ++i) {  // request 0 and 5 are the seeded one; the rest are neighbours
    GenRequest r;
    r.prompt = i == 0 || i == 5 ? prompt : make_prompt(5 + i * 3, 100 + i);
    r.sampling = sp;
    if (i != 0 && i != 5) r.sampling.seed = uint64_t(i);
    r.max_tokens = 20;
    r.on_event = c.sink(i);
    engine.submit(std::move(r));
  }
  ASSERT_TRUE(c.wait_finals(6));
  EXPECT_EQ(c.get(0).tokens, want);
  EXPECT_EQ(c.get(5).tokens, want);
  EXPECT_NE(c.get(1).tokens, c.get(2).tokens);
}

// Reference for penalties + logprobs: one sequence, forward() one token at a time, the OpenAI
// penalty formula and a double log-softmax written out here.
TEST(Engine, PenaltiesAndLogprobsMatchReferenceLoop) {
  MicroModel m;
  const int64_t V = m.model.config().vocab_size, steps = 16;
  const float presence = 0.8f, frequency = 0.6f;
  auto prompt = make_prompt(6, 2);
  std::vector<int32_t> want;
  std::vector<float> want_lp;
  std::vector<std::vector<int32_t>> want_top;
  {
    LatentKvCache cache = m.model.make_cache(int64_t(prompt.size()) + steps);
    std::vector<float> logits(static_cast<size_t>(V));
    ForwardOptions fo;
    fo.all_logits = false;
    m.model.forward(prompt.data(), int64_t(prompt.size()), cache, logits.data(), fo);
    std::vector<int> count(static_cast<size_t>(V), 0);
    for (int64_t s = 0; s < steps; ++s) {
      double mx = -1e300, z = 0;
      for (float x : logits) mx = std::max(mx, double(x));
      for (float x : logits) z += std::exp(double(x) - mx);
      std::vector<float> pen = logits;
      for (int64_t j = 0; j < V; ++j)
        pen[size_t(j)] -= float(count[size_t(j)]) * frequency + (count[size_t(j)] > 0 ? presence : 0.0f);
      const int32_t tok = argmax(pen.data(), V);
      want.push_back(tok);
      want_lp.push_back(float(double(logits[size_t(tok)]) - mx - std::log(z)));
      want_top.push_back({argmax(logits.data(), V)});
      ++count[size_t(tok)];
      fo.attn = AttnImpl::kAbsorb;
      if (s + 1 < steps) m.model.forward(&tok, 1, cache, logits.data(), fo);
    }
  }
  EngineOptions eo;
  eo.ctx = 256;
  Collector c;
  Engine engine(m.model, eo);
  for (int i = 0; i < 3; ++i) {  // three copies batched together: all must match
    GenRequest r;
    r.prompt = prompt;
    r.sampling = greedy();
    r.presence_penalty = presence;
    r.frequency_penalty = frequency;
    r.top_logprobs = 3;
    r.max_tokens = steps;
    r.on_event = c.sink(i);
    engine.submit(std::move(r));
  }
  ASSERT_TRUE(c.wait_finals(3));
  for (int i = 0; i < 3; ++i) {
    Outcome o = c.get(i);
    ASSERT_EQ(o.tokens, want) << i;
    for (int64_t s = 0; s < steps; ++s) {
      const TokenEvent& ev = o.events[size_t(s)];
      EXPECT_NEAR(ev.logprob, want_lp[size_t(s)], 1e-5) << "step " << s;
      ASSERT_EQ(ev.top_logprobs.size(), 3u);
      EXPECT_EQ(ev.top_logprobs[0].first, want_top[size_t(s)][0]);
      EXPECT_GE(ev.top_logprobs[0].second, ev.top_logprobs[1].second);
      EXPECT_GE(ev.top_logprobs[1].second, ev.top_logprobs[2].second);
    }
  }
  // Penalties actually changed the outcome (else this test would not test them).
  EXPECT_NE(want, reference(m.model, prompt, steps, greedy()));
}

// Many requests (more than max_batch), some cancelled by the client (on_event -> false) or by
// cancel(), some the n copies of one long prompt that must hit the prefix cache: every request
// ends exactly once, the uncancelled ones with generate()'s tokens.
TEST(Engine, ManyConcurrentRequestsWithCancellationsAndSharedPrompts) {
  MicroModel m;
  EngineOptions eo;
  eo.ctx = 256;
  eo.max_batch = 4;
  eo.max_queue = 64;
  eo.prefill_chunk = 48;
  eo.prefix_block = 16;
  const int64_t max_tokens = 16;
  const auto shared = make_prompt(70, 77);  // 4 whole blocks of 16 + 6 tokens
  struct Spec {
    std::vector<int32_t> prompt;
    int stop_after = -1;  // on_event returns false at this many tokens
    bool cancel = false;  // engine.cancel() from this thread
  };
  std::vector<Spec> specs;
  for (int i = 0; i < 24; ++i) {
    Spec s;
    s.prompt = i % 4 == 0 ? shared : make_prompt(3 + (i * 11) % 40, i);
    if (i % 5 == 1) s.stop_after = 3;
    if (i == 10 || i == 17 || i == 22) s.cancel = true;  // still queued when cancel() comes (4 slots)
    specs.push_back(s);
  }
  std::vector<std::vector<int32_t>> want;
  for (const Spec& s : specs) want.push_back(reference(m.model, s.prompt, max_tokens, greedy()));

  Collector c;
  Engine engine(m.model, eo);
  std::vector<uint64_t> ids;
  for (size_t i = 0; i < specs.size(); ++i) {
    GenRequest r;
    r.prompt = specs[i].prompt;
    r.sampling = greedy();
    r.max_tokens = max_tokens;
    const int stop_after = specs[i].stop_after;
    r.on_event = c.sink(int(i), [stop_after](const TokenEvent&, size_t n) { return int(n) != stop_after; });
    ids.push_back(engine.submit(std::move(r)));
  }
  for (size_t i = 0; i < specs.size(); ++i)
    if (specs[i].cancel) engine.cancel(ids[i]);
  ASSERT_TRUE(c.wait_finals(int(specs.size())));
  int cancelled = 0;
  for (size_t i = 0; i < specs.size(); ++i) {
    Outcome o = c.get(int(i));
    EXPECT_EQ(o.final_events, 1) << i;
    EXPECT_EQ(o.events_after_final, 0) << i;
    const std::vector<int32_t> prefix(want[i].begin(), want[i].begin() + std::min(o.tokens.size(), want[i].size()));
    EXPECT_EQ(o.tokens, prefix) << "request " << i << ": whatever was generated is generate()'s";
    if (specs[i].cancel) {
      EXPECT_EQ(o.finish, FinishReason::kCancelled) << i;
    } else if (specs[i].stop_after > 0) {
      EXPECT_EQ(o.finish, FinishReason::kCancelled) << i;
      EXPECT_EQ(int(o.tokens.size()), specs[i].stop_after) << "nothing generated after on_event said stop";
    } else {
      EXPECT_EQ(o.finish, FinishReason::kLength) << i;
      EXPECT_EQ(o.tokens, want[i]) << i;
    }
    cancelled += o.finish == FinishReason::kCancelled;
  }
  // Shared-prompt requests after the first reuse its 4 whole blocks (the last block must stay
  // uncached: at least one prompt token is always run to get logits).
  int hits = 0;
  for (size_t i = 4; i < specs.size(); i += 4) {
    Outcome o = c.get(int(i));
    if (!o.events.empty() && o.events.back().cached_prompt_tokens == 64) ++hits;
  }
  EXPECT_GE(hits, 4);  // requests 4, 8, 12, 16, 20 (one may be cancelled while still queued)
  EngineMetrics mt = engine.metrics();
  EXPECT_EQ(mt.requests_total, int64_t(specs.size()));
  EXPECT_EQ(mt.finished_cancelled, cancelled);
  EXPECT_EQ(mt.finished_cancelled + mt.finished_length + mt.finished_stop + mt.finished_error,
            int64_t(specs.size()));
  EXPECT_GE(mt.prefix_hit_tokens_total, 64 * 4);
  EXPECT_GT(mt.decode_rows_total, mt.decode_steps_total);  // steps really were batched
}

TEST(Engine, PrefixHitStillGivesGenerateTokens) {
  MicroModel m;
  EngineOptions eo;
  eo.ctx = 256;
  eo.prefix_block = 8;
  const auto system = make_prompt(40, 5);
  Transformer ref(m.loaded->config, m.loaded->weights);  // the engine's thread owns m.model
  Collector c;
  Engine engine(m.model, eo);
  for (int i = 0; i < 3; ++i) {  // one after another: the 2nd and 3rd hit the cache
    std::vector<int32_t> p = system;
    for (int j = 0; j < 5 + i; ++j) p.push_back(int32_t(10 + i * 7 + j));
    GenRequest r;
    r.prompt = p;
    r.sampling = greedy();
    r.max_tokens = 10;
    r.on_event = c.sink(i);
    engine.submit(std::move(r));
    ASSERT_TRUE(c.wait_finals(i + 1));
    Outcome o = c.get(i);
    EXPECT_EQ(o.tokens, reference(ref, p, 10, greedy())) << i;
    EXPECT_EQ(o.events.back().cached_prompt_tokens, i == 0 ? 0 : 40) << i;
  }
  // A different salt (another tenant) sees none of it.
  GenRequest r;
  r.prompt = system;
  r.prompt.push_back(3);
  r.sampling = greedy();
  r.max_tokens = 2;
  r.prefix_salt = 99;
  r.on_event = c.sink(10);
  engine.submit(std::move(r));
  ASSERT_TRUE(c.wait_finals(4));
  EXPECT_EQ(c.get(10).events.back().cached_prompt_tokens, 0);
}

}  // namespace
