// One request inside the engine: its latent KV cache, its own seeded sampler and penalty counts,
// and where it stands (prefilling its prompt, decoding, done). Owned by the scheduler thread.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "infer/sampler.h"
#include "model/kv_cache.h"
#include "infer/engine.h"

namespace frugal {

struct EngineSeq {
  EngineSeq(uint64_t id, GenRequest req, double arrival, LatentKvCache cache);

  // Picks the next token from this sequence's logits row [V] (modified in place: penalties):
  // log-probabilities (if requested) come from the raw row, the draw from the penalised one.
  // Thread-safe across different sequences (each has its own sampler and scratch).
  int32_t choose(float* logits, int64_t vocab, TokenLogprobs* lp);
  bool is_stop(int32_t token) const;

  uint64_t id;
  GenRequest req;
  Sampler sampler;
  TokenPenalties penalties;
  LatentKvCache cache;
  int64_t prompt_len = 0;
  int64_t cached = 0;            // prompt tokens copied from the prefix cache (or from a fork source)
  std::vector<int32_t> generated;
  int32_t next = -1;             // the token the next decode step feeds
  bool prefix_checked = false;   // the prefix cache was consulted (at the first prefill chunk) or rows forked
  uint64_t weights_version = 0;  // of the weights its first rows were computed with (set with prefix_checked)
  bool decoding = false;         // prompt fully in the cache: takes part in decode steps
  bool done = false;             // its final event has been delivered
  bool cancel_requested = false;
  double arrival = 0, last_token_time = 0;

 private:
  std::vector<float> raw_;  // [V] copy of the logits before penalties (only when both are needed)
};

}  // namespace frugal
