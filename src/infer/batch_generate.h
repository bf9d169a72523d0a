// Synchronous batched generation for callers that are not a server (a GRPO training process, an
// evaluation): many prompts, each with its own sampling parameters and seed, run together through
// the continuous-batching scheduler (scheduler.h) on the caller's thread (no second OpenMP pool
// beside the caller's), until every one has finished. Each completion gets its ids, the
// log-probability of every sampled token and its finish reason.
//
// Requests with the same prompt (the G completions of one GRPO prompt) share its latent KV rows:
// the prompt is run through the model once and its rows and last logits row are copied to the
// others, which then draw their own tokens. Prompts that only share a prefix reuse its whole
// prefix-cache blocks (EngineOptions::prefix_block). The prefix cache lives as long as the
// generator, keyed by the weights version: after update_weights() no row computed with the old
// weights is reused.
//
// Each request's tokens are what it would get alone (generate() with the same prompt, sampling
// and seed) up to f32 rounding of the batched forward: exact for greedy and seeded sampling except
// at near-ties (tests/infer/test_batch_generate.cpp).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "infer/engine.h"
#include "infer/sampler.h"

namespace frugal {

class Transformer;
struct SchedulerBook;
class Scheduler;

struct BatchRequest {
  std::vector<int32_t> prompt;
  SamplingParams sampling;  // with its own seed
  int64_t max_tokens = 16;
  std::vector<int32_t> stop_ids;  // end with kStop; the stop id is the last of ids
  float presence_penalty = 0, frequency_penalty = 0;  // OpenAI semantics, over generated tokens
  uint64_t prefix_salt = 0;  // prefix-sharing namespace: only equal salts share rows
};

struct Completion {
  std::vector<int32_t> ids;     // generated tokens (a stop id included when it ended generation)
  std::vector<float> logprobs;  // [ids.size()]: log p(ids[i]) under softmax of the raw logits
                                // (before temperature, filters and penalties)
  FinishReason finish = FinishReason::kNone;  // kStop, kLength, or kError (with error)
  std::string error;
  int64_t prompt_tokens = 0;
  int64_t cached_prompt_tokens = 0;  // prompt tokens not run for this request (shared rows)
  int64_t completion_tokens = 0;
};

// Not thread-safe: one call at a time (the model is used on the calling thread).
class BatchGenerator {
 public:
  // The model must outlive the generator. opt.max_batch sequences run together; the others wait
  // for a free slot (max_queue is not used).
  BatchGenerator(Transformer& model, const EngineOptions& opt);
  ~BatchGenerator();
  BatchGenerator(const BatchGenerator&) = delete;
  BatchGenerator& operator=(const BatchGenerator&) = delete;

  // Runs every request to its end; completions in request order. Throws kInvalidArgument naming
  // the request for a bad one (empty prompt, ids outside the vocabulary, a prompt of
  // context_tokens() or more, ...) before generating anything.
  std::vector<Completion> generate(const std::vector<BatchRequest>& requests);
  // Runs fn (which changes the model's weights in place; may be empty when they changed already)
  // and bumps the weights version, so that no prefix row computed before is reused.
  void update_weights(const std::function<void()>& fn = {});
  EngineMetrics metrics() const;  // counters over every generate() so far
  int64_t context_tokens() const;

 private:
  std::unique_ptr<SchedulerBook> book_;
  std::unique_ptr<Scheduler> sched_;
  uint64_t next_id_ = 1;
};

}  // namespace frugal
