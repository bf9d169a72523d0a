// The engine's contract around the tokens: bad requests and options are named errors, a full
// queue is EngineBusy, cancel() and shutdown() end requests exactly once, a throwing callback
// ends only its own request, the context and max_tokens limits, and the metrics snapshot.
#include <gtest/gtest.h>

#include <limits>
#include <thread>

#include "core/error.h"
#include "test_engine_util.h"
#include "test_util.h"

using namespace frugal;
using namespace frugal::test;

namespace {

TEST(EngineApi, BadRequestsAreNamedErrors) {
  MicroModel m;
  EngineOptions eo;
  eo.ctx = 64;
  Engine engine(m.model, eo);
  Collector c;
  auto bad = [&](std::function<void(GenRequest&)> edit, std::vector<std::string> needles) {
    GenRequest r = simple(make_prompt(5, 0), 4, c.sink(0));
    edit(r);
    expect_error([&] { engine.submit(std::move(r)); }, ErrorKind::kInvalidArgument, needles);
  };
  bad([](GenRequest& r) { r.prompt.clear(); }, {"prompt is empty"});
  bad([](GenRequest& r) { r.prompt[2] = 256; }, {"256", "position 2", "vocabulary"});
  bad([](GenRequest& r) { r.prompt[0] = -3; }, {"-3", "vocabulary"});
  bad([](GenRequest& r) { r.prompt = make_prompt(64, 1); }, {"64 tokens", "context is 64", "1 too many"});
  bad([](GenRequest& r) { r.max_tokens = -1; }, {"max_tokens"});
  bad([](GenRequest& r) { r.top_logprobs = -2; }, {"top_logprobs"});
  bad([](GenRequest& r) { r.on_event = nullptr; }, {"on_event"});
  bad([](GenRequest& r) { r.sampling.temperature = -1; }, {"temperature"});
  bad([](GenRequest& r) { r.sampling.top_p = 0; }, {"top_p"});
  bad([](GenRequest& r) { r.presence_penalty = 3; }, {"presence_penalty"});
  bad([](GenRequest& r) { r.frequency_penalty = std::numeric_limits<float>::quiet_NaN(); }, {"frequency_penalty"});
  EXPECT_EQ(engine.metrics().requests_total, 0);
}

TEST(EngineApi, BadOptionsAreNamedErrorsAndCtxIsCappedByTheModel) {
  MicroModel m;
  auto bad = [&](std::function<void(EngineOptions&)> edit, const char* field) {
    EngineOptions eo;
    edit(eo);
    expect_error([&] { Engine e(m.model, eo); }, ErrorKind::kInvalidArgument, {field});
  };
  bad([](EngineOptions& o) { o.max_batch = 0; }, "max_batch");
  bad([](EngineOptions& o) { o.max_queue = 0; }, "max_queue");
  bad([](EngineOptions& o) { o.ctx = 1; }, "ctx");
  bad([](EngineOptions& o) { o.prefill_chunk = 0; }, "prefill_chunk");
  bad([](EngineOptions& o) { o.prefix_cache_tokens = -1; }, "prefix_cache_tokens");
  bad([](EngineOptions& o) { o.prefix_block = 0; }, "prefix_block");
  Engine e(m.model, EngineOptions{});  // ctx 4096 > the fixture's 256 positions
  EXPECT_EQ(e.context_tokens(), 256);
}

TEST(EngineApi, FullQueueIsEngineBusy) {
  MicroModel m;
  EngineOptions eo;
  eo.ctx = 128;
  eo.max_batch = 1;
  eo.max_queue = 2;
  Engine engine(m.model, eo);
  Collector c;
  Gate gate;
  engine.submit(simple(make_prompt(4, 0), 3, [&, s = c.sink(0)](const TokenEvent& ev) {
    gate.block_once();
    return s(ev);
  }));
  gate.reached.get_future().wait();  // the scheduler is stuck in request 0's callback
  engine.submit(simple(make_prompt(4, 1), 3, c.sink(1)));
  engine.submit(simple(make_prompt(4, 2), 3, c.sink(2)));
  EXPECT_THROW(engine.submit(simple(make_prompt(4, 3), 3, c.sink(3))), EngineBusy);
  EXPECT_EQ(engine.metrics().waiting, 2);
  EXPECT_EQ(engine.metrics().rejected_total, 1);
  gate.release.set_value();
  ASSERT_TRUE(c.wait_finals(3));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c.get(i).finish, FinishReason::kLength);
  engine.submit(simple(make_prompt(4, 4), 3, c.sink(4)));  // room again
  ASSERT_TRUE(c.wait_finals(4));
}

TEST(EngineApi, CancelRunningRequestStopsItBeforeTheNextStep) {
  MicroModel m;
  EngineOptions eo;
  eo.ctx = 128;
  Engine engine(m.model, eo);
  Collector c;
  Gate gate;
  const uint64_t id = engine.submit(simple(make_prompt(6, 0), 50, [&, s = c.sink(0)](const TokenEvent& ev) {
    const bool r = s(ev);
    if (ev.token >= 0 && c.get(0).tokens.size() == 2) gate.block_once();
    return r;
  }));
  gate.reached.get_future().wait();
  engine.cancel(id);
  engine.cancel(id + 1000);  // unknown ids are ignored
  gate.release.set_value();
  ASSERT_TRUE(c.wait_finals(1));
  Outcome o = c.get(0);
  EXPECT_EQ(o.tokens.size(), 2u);
  EXPECT_EQ(o.finish, FinishReason::kCancelled);
  EXPECT_EQ(o.final_events, 1);
  engine.cancel(id);  // finished: no-op
  EXPECT_EQ(engine.metrics().finished_cancelled, 1);
  EXPECT_EQ(engine.metrics().running, 0);
}

TEST(EngineApi, ThrowingCallbackEndsOnlyItsRequest) {
  MicroModel m;
  EngineOptions eo;
  eo.ctx = 128;
  Engine engine(m.model, eo);
  Collector c;
  engine.submit(simple(make_prompt(6, 0), 8, [s = c.sink(0)](const TokenEvent& ev) -> bool {
    s(ev);
    if (ev.finish == FinishReason::kNone && ev.token >= 0) throw std::runtime_error("socket gone");
    return true;
  }));
  engine.submit(simple(make_prompt(6, 1), 8, c.sink(1)));
  ASSERT_TRUE(c.wait_finals(2));
  Outcome bad = c.get(0);
  EXPECT_EQ(bad.finish, FinishReason::kError);
  EXPECT_NE(bad.events.back().error.find("socket gone"), std::string::npos);
  EXPECT_EQ(bad.tokens.size(), 1u);
  EXPECT_EQ(c.get(1).finish, FinishReason::kLength);
  EXPECT_EQ(c.get(1).tokens.size(), 8u);
}

TEST(EngineApi, ContextLimitAndZeroMaxTokens) {
  MicroModel m;
  EngineOptions eo;
  eo.ctx = 40;
  Engine engine(m.model, eo);
  Collector c;
  engine.submit(simple(make_prompt(34, 0), 100, c.sink(0)));  // 34 + 6 = ctx
  engine.submit(simple(make_prompt(5, 1), 0, c.sink(1)));
  ASSERT_TRUE(c.wait_finals(2));
  EXPECT_EQ(c.get(0).tokens.size(), 6u);
  EXPECT_EQ(c.get(0).finish, FinishReason::kLength);
  EXPECT_TRUE(c.get(1).tokens.empty());
  EXPECT_EQ(c.get(1).finish, FinishReason::kLength);
}

TEST(EngineApi, ShutdownCancelsOrDrains) {
  MicroModel m;
  EngineOptions eo;
  eo.ctx = 256;
  eo.max_batch = 2;
  for (bool cancel : {true, false}) {
    Collector c;
    Engine engine(m.model, eo);
    for (int i = 0; i < 5; ++i) engine.submit(simple(make_prompt(8, i), cancel ? 200 : 10, c.sink(i)));
    engine.shutdown(cancel);
    EXPECT_THROW(engine.submit(simple(make_prompt(8, 9), 4, c.sink(9))), EngineBusy);
    ASSERT_TRUE(c.wait_finals(5));  // already delivered: shutdown joined the thread
    for (int i = 0; i < 5; ++i) {
      Outcome o = c.get(i);
      EXPECT_EQ(o.final_events, 1);
      if (!cancel) {
        EXPECT_EQ(o.tokens.size(), 10u);
      }
      EXPECT_EQ(o.finish, cancel ? FinishReason::kCancelled : FinishReason::kLength) << i;
    }
    engine.shutdown(true);  // idempotent; the destructor runs it once more
  }
}

TEST(EngineApi, MetricsSnapshot) {
  MicroModel m;
  EngineOptions eo;
  eo.ctx = 128;
  eo.max_batch = 4;
  Engine engine(m.model, eo);
  Collector c;
  for (int i = 0; i < 3; ++i) engine.submit(simple(make_prompt(10 + i, i), 5, c.sink(i)));
  ASSERT_TRUE(c.wait_finals(3));
  engine.shutdown(false);  // the snapshot is final once the thread is gone
  EngineMetrics mt = engine.metrics();
  EXPECT_EQ(mt.requests_total, 3);
  EXPECT_EQ(mt.prompt_tokens_total, 10 + 11 + 12);
  EXPECT_EQ(mt.generation_tokens_total, 15);
  EXPECT_EQ(mt.finished_length, 3);
  EXPECT_EQ(mt.running, 0);
  EXPECT_EQ(mt.waiting, 0);
  EXPECT_EQ(mt.kv_used_tokens, 0);
  EXPECT_EQ(mt.kv_capacity_tokens, 4 * 128);
  EXPECT_EQ(mt.ttft_count, 3);
  EXPECT_EQ(mt.itl_count, 12);
  ASSERT_EQ(mt.ttft_counts.size(), mt.ttft_buckets.size());
  ASSERT_EQ(mt.itl_counts.size(), mt.itl_buckets.size());
  for (size_t i = 1; i < mt.ttft_counts.size(); ++i) EXPECT_GE(mt.ttft_counts[i], mt.ttft_counts[i - 1]);
  EXPECT_LE(mt.ttft_counts.back(), mt.ttft_count);
  EXPECT_GT(mt.ttft_sum, 0);
  EXPECT_GE(mt.itl_sum, 0);
  EXPECT_GE(mt.decode_steps_total, 4);
}

}  // namespace
