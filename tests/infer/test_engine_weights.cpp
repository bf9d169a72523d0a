// New weights without a restart (Engine::update_weights): the update runs between two steps on
// the scheduler thread; afterwards no prefix row computed with the old weights is reused, not even
// the rows of a request that was running across the update, and new requests get the new
// weights' tokens.
#include <gtest/gtest.h>

#include <thread>

#include "test_engine_util.h"
#include "test_util.h"

using namespace frugal;
using namespace frugal::test;

namespace {

struct Swap {
  TempDir dir;
  MicroModel m;
  std::unique_ptr<LoadedModel> fresh = other_weights(dir.str(), 23);
  std::function<void()> fn() {
    return [this] { m.loaded->weights = fresh->weights; };  // the model views the new tensors
  }
};

EngineOptions options() {
  EngineOptions eo;
  eo.ctx = 256;
  eo.prefix_block = 8;
  return eo;
}

TEST(EngineWeights, UpdateDropsPrefixRowsAndServesTheNewWeights) {
  Swap s;
  const auto prompt = make_prompt(50, 9);
  const std::vector<int32_t> old_want = reference(s.m.model, prompt, 10, greedy());
  Engine engine(s.m.model, options());
  Collector c;
  for (int i = 0; i < 2; ++i) {  // the second hits the first's rows
    engine.submit(simple(prompt, 10, c.sink(i)));
    ASSERT_TRUE(c.wait_finals(i + 1));
  }
  EXPECT_EQ(c.get(1).events.back().cached_prompt_tokens, 48);
  EXPECT_EQ(c.get(1).tokens, old_want);

  engine.update_weights(s.fn());
  EXPECT_EQ(engine.metrics().weights_version, 1);
  EXPECT_EQ(engine.metrics().prefix_cache_tokens, 0);
  Transformer now(s.m.loaded->config, s.m.loaded->weights);  // the engine's thread owns s.m.model
  const std::vector<int32_t> new_want = reference(now, prompt, 10, greedy());
  ASSERT_NE(new_want, old_want);
  for (int i = 2; i < 4; ++i) {  // no hit after the update; then the new rows are cached
    engine.submit(simple(prompt, 10, c.sink(i)));
    ASSERT_TRUE(c.wait_finals(i + 1));
    EXPECT_EQ(c.get(i).events.back().cached_prompt_tokens, i == 2 ? 0 : 48) << i;
    EXPECT_EQ(c.get(i).tokens, new_want) << i;
  }
}

TEST(EngineWeights, RowsOfARequestRunningAcrossTheUpdateAreNeverCached) {
  Swap s;
  const auto prompt = make_prompt(50, 2);
  Engine engine(s.m.model, options());
  Collector c;
  // At its first token (its prompt's rows are in the prefix cache by then) the request swaps the
  // weights from its callback, on the scheduler thread, so the update lands mid-request.
  engine.submit(simple(prompt, 12, [&, sink = c.sink(0)](const TokenEvent& ev) {
    if (ev.completion_tokens == 1) engine.update_weights(s.fn());
    return sink(ev);
  }));
  ASSERT_TRUE(c.wait_finals(1));
  EXPECT_EQ(c.get(0).tokens.size(), 12u);  // it went on, with the new weights
  EXPECT_EQ(engine.metrics().weights_version, 1);

  Transformer now(s.m.loaded->config, s.m.loaded->weights);
  engine.submit(simple(prompt, 6, c.sink(1)));
  ASSERT_TRUE(c.wait_finals(2));
  EXPECT_EQ(c.get(1).events.back().cached_prompt_tokens, 0);  // neither its old nor its mixed rows
  EXPECT_EQ(c.get(1).tokens, reference(now, prompt, 6, greedy()));
}

TEST(EngineWeights, AnotherThreadsUpdateWaitsForTheStepAndAfterShutdownRunsAtOnce) {
  Swap s;
  Engine engine(s.m.model, options());
  Collector c;
  Gate gate;
  engine.submit(simple(make_prompt(20, 1), 8, [&, sink = c.sink(0)](const TokenEvent& ev) {
    gate.block_once();  // the scheduler thread is inside a step until released
    return sink(ev);
  }));
  gate.reached.get_future().wait();
  std::atomic<bool> ran{false};
  std::thread updater([&] { engine.update_weights([&] { ran = true; }); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(ran.load());  // not in the middle of the step
  gate.release.set_value();
  updater.join();
  EXPECT_TRUE(ran.load());
  ASSERT_TRUE(c.wait_finals(1));
  EXPECT_EQ(c.get(0).tokens.size(), 8u);
  EXPECT_EQ(engine.metrics().weights_version, 1);

  EXPECT_THROW(engine.update_weights([] { throw std::runtime_error("copy failed"); }), std::runtime_error);
  EXPECT_EQ(engine.metrics().weights_version, 2);  // the weights may be half written
  engine.shutdown(false);
  engine.update_weights(s.fn());  // no scheduler thread any more: runs on this one
  EXPECT_EQ(engine.metrics().weights_version, 3);
}

}  // namespace
