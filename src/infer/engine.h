// The serving engine: one scheduler thread owns the model and runs continuous batching — between
// decode steps it admits queued requests (prefilling their prompts, reusing cached prefixes of the
// latent KV cache), then advances every running sequence by one token in a single batched forward
// (MLA and MoE GEMMs over all running rows); scheduler.h has the step. Callers (the HTTP handlers)
// only submit requests and consume the per-token callbacks. The same scheduler runs synchronously
// on the caller's thread in BatchGenerator (batch_generate.h).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "infer/sampler.h"

namespace frugal {

class Transformer;

struct EngineOptions {
  int64_t max_batch = 8;        // sequences decoded together per step
  int64_t max_queue = 64;       // waiting requests beyond which submit() refuses (HTTP 503)
  int64_t ctx = 4096;           // per-sequence context (prompt + generated) in tokens
  int64_t prefill_chunk = 512;  // prompt tokens per forward pass
  int64_t prefix_cache_tokens = 65536;  // latent-KV tokens kept for prefix reuse (0: off)
  int64_t prefix_block = 64;            // prefix-cache granularity: only whole blocks of this many tokens are reused
  // A sequence whose whole prompt equals one still prefilling waits, then copies its rows and its
  // last logits row: the prompt runs once for all copies (BatchGenerator sets it; the server keeps
  // it off, so a choice's cached_prompt_tokens counts prefix-cache hits only).
  bool fork_identical_prompts = false;
};

enum class FinishReason { kNone, kStop, kLength, kCancelled, kError };
const char* finish_reason_name(FinishReason r);  // "stop", "length", "cancelled", "error"

struct TokenEvent {
  int32_t token = -1;    // the sampled id (-1 on a final event that carries no token)
  float logprob = 0;     // log-probability of `token` under the model's distribution (before sampling filters)
  std::vector<std::pair<int32_t, float>> top_logprobs;  // the top_logprobs most likely ids, if requested
  FinishReason finish = FinishReason::kNone;            // set on the last event of a request
  std::string error;                                    // for kError
  int64_t prompt_tokens = 0, cached_prompt_tokens = 0, completion_tokens = 0;
};

struct GenRequest {
  std::vector<int32_t> prompt;
  SamplingParams sampling;
  float presence_penalty = 0, frequency_penalty = 0;  // OpenAI semantics, over generated tokens
  int64_t max_tokens = 16;
  std::vector<int32_t> stop_ids;  // ids that end generation with kStop (the stop id is reported, not emitted as text)
  int top_logprobs = -1;          // -1: no logprobs; 0: the chosen token's only; k: also the top k
  uint64_t prefix_salt = 0;       // prefix-cache namespace (e.g. a hash of the API key): equal salts share prefixes
  // Called on the engine thread for every token and once more (or with the last token) with
  // finish != kNone. Return false to cancel (client gone, stop string matched): the sequence is
  // removed before the next step and its KV cache freed.
  // Every accepted request gets exactly one event with finish != kNone, whatever happens
  // (cancel(), shutdown, an error, on_event returning false: then a final {token -1, kCancelled}
  // follows unless the event that returned false was already final). Keep it fast (push to a
  // queue): it runs between decode steps of every running sequence. Exceptions it throws end
  // the request (kError).
  std::function<bool(const TokenEvent&)> on_event;
};

struct EngineMetrics {  // a consistent snapshot for /metrics
  int64_t running = 0, waiting = 0;
  int64_t requests_total = 0, prompt_tokens_total = 0, generation_tokens_total = 0, prefix_hit_tokens_total = 0;
  int64_t kv_used_tokens = 0, kv_capacity_tokens = 0;  // cached tokens of running sequences; max_batch · ctx
  int64_t prefix_cache_tokens = 0;                      // tokens held by the prefix cache now
  int64_t prefix_query_tokens_total = 0;                // prompt tokens looked up in the prefix cache
  int64_t finished_stop = 0, finished_length = 0, finished_cancelled = 0, finished_error = 0;
  int64_t rejected_total = 0;                           // submit() refusals: EngineBusy (queue full, shut down)
  int64_t decode_steps_total = 0, decode_rows_total = 0;  // batched steps, and sequences advanced summed over them
  int64_t prefill_tokens_total = 0;  // prompt tokens run through the model (the rest were cached or forked)
  int64_t weights_version = 0;       // update_weights() calls so far
  std::vector<double> ttft_buckets, itl_buckets;  // histogram upper bounds (seconds)
  std::vector<int64_t> ttft_counts, itl_counts;   // cumulative counts per bucket (Prometheus style)
  double ttft_sum = 0, itl_sum = 0;
  int64_t ttft_count = 0, itl_count = 0;
};

class Engine {
 public:
  // The model must outlive the engine; the engine's thread is its only user once started.
  Engine(Transformer& model, const EngineOptions& opt);
  ~Engine();  // shutdown(true)
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues a request; returns its id. Throws kInvalidArgument for a bad request (prompt longer than
  // ctx, ids outside the vocabulary, ...) and EngineBusy when max_queue requests are waiting.
  uint64_t submit(GenRequest req);
  void cancel(uint64_t id);  // safe from any thread; no-op for finished ids
  EngineMetrics metrics() const;
  // Stops accepting (submit() then throws EngineBusy); with cancel_running, ends running and
  // waiting requests with kCancelled, else lets them (queued ones included) finish. Joins the
  // scheduler thread unless called from it (an on_event callback). Idempotent.
  void shutdown(bool cancel_running);
  // Runs fn, which changes the model's weights in place (may be empty when they changed already),
  // on the scheduler thread between two steps, and bumps the weights version: the prefix cache
  // drops every row computed with the old weights. Requests still running keep the rows they have
  // (computed with the old weights) and continue with the new ones; their rows are never cached.
  // Blocks until done; rethrows what fn throws (the version is bumped all the same). Safe from
  // any thread, an on_event callback included (it then runs at once), and after shutdown().
  void update_weights(const std::function<void()>& fn);
  // The effective per-sequence context: EngineOptions::ctx capped at the model's
  // max_position_embeddings. submit() refuses prompts of this many tokens or more.
  int64_t context_tokens() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct EngineBusy : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace frugal
