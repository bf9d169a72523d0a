// Shared by the engine tests: the micro fixture model (and other weights of its shapes), a
// thread-safe collector of TokenEvents per request, and the one-request reference
// (infer/generate.h) the engine must reproduce.
#pragma once
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "infer/generate.h"
#include "io/hf_loader.h"
#include "io/random_model.h"
#include "model/transformer.h"
#include "infer/engine.h"

namespace frugal::test {

inline const std::string kFixtures = FRUGAL_TEST_DATA "/fixtures";

struct MicroModel {
  explicit MicroModel(const std::string& name = "micro_f32")
      : loaded(load_model(kFixtures + "/" + name)), model(loaded->config, loaded->weights) {}
  std::unique_ptr<LoadedModel> loaded;
  Transformer model;
};

// Random weights of the fixture's shapes (seeded), in dir: what a weight update swaps in.
inline std::unique_ptr<LoadedModel> other_weights(const std::string& dir, uint64_t seed) {
  RandomModelOptions o;
  o.seed = seed;
  write_random_model(dir, random_model_preset("micro"), o);
  return load_model(dir);
}

// A deterministic prompt of `len` ids in [2, 256) (0 and 1 are bos/eos in the fixture).
inline std::vector<int32_t> make_prompt(int64_t len, int32_t salt) {
  std::vector<int32_t> p;
  for (int64_t i = 0; i < len; ++i) p.push_back(int32_t(2 + (i * 31 + salt * 17 + 3) % 254));
  return p;
}

struct Outcome {
  std::vector<int32_t> tokens;   // every event's token (the final one's too, when it carries one)
  std::vector<TokenEvent> events;
  FinishReason finish = FinishReason::kNone;
  int final_events = 0;          // must end up exactly 1
  int events_after_final = 0;    // must stay 0
};

// Collects events per request key. policy(ev, n_tokens_so_far) decides on_event's return value.
class Collector {
 public:
  using Policy = std::function<bool(const TokenEvent&, size_t)>;
  std::function<bool(const TokenEvent&)> sink(int key, Policy policy = {}) {
    return [this, key, policy](const TokenEvent& ev) {
      std::lock_guard lk(mu_);
      Outcome& o = out_[key];
      if (o.final_events > 0) ++o.events_after_final;
      if (ev.token >= 0) o.tokens.push_back(ev.token);
      o.events.push_back(ev);
      if (ev.finish != FinishReason::kNone) {
        ++o.final_events;
        o.finish = ev.finish;
        ++finals_;
        cv_.notify_all();
      }
      return policy ? policy(ev, o.tokens.size()) : true;
    };
  }
  // Waits (at most 60 s, so a bug fails instead of hanging) until n final events arrived.
  bool wait_finals(int n) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, std::chrono::seconds(60), [&] { return finals_ >= n; });
  }
  Outcome get(int key) {
    std::lock_guard lk(mu_);
    return out_[key];
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int, Outcome> out_;
  int finals_ = 0;
};

// What `frugal generate` produces for the same request (no EOS stop unless stop ids are given).
inline std::vector<int32_t> reference(Transformer& model, const std::vector<int32_t>& prompt, int64_t max_tokens,
                                      const SamplingParams& sp, const std::vector<int32_t>& stop_ids = {}) {
  GenerateParams gp;
  gp.max_tokens = max_tokens;
  gp.sampling = sp;
  gp.stop_ids = stop_ids;
  gp.stop_at_eos = false;
  return generate(model, prompt, gp).ids;
}

inline SamplingParams greedy() {
  SamplingParams sp;
  sp.temperature = 0;
  return sp;
}

inline GenRequest simple(const std::vector<int32_t>& prompt, int64_t max_tokens,
                         std::function<bool(const TokenEvent&)> f) {
  GenRequest r;
  r.prompt = prompt;
  r.sampling = greedy();
  r.max_tokens = max_tokens;
  r.on_event = std::move(f);
  return r;
}

// Blocks the scheduler thread inside on_event at the first token until released: lets a test
// fill the queue or cancel a running request at a known point.
struct Gate {
  std::promise<void> reached, release;
  std::shared_future<void> released{release.get_future().share()};
  std::atomic<bool> fired{false};
  void block_once() {
    if (fired.exchange(true)) return;
    reached.set_value();
    released.wait();
  }
};

}  // namespace frugal::test
