// The continuous-batching scheduler, without threads: admitted sequences, their batched steps, the
// prefix cache and the weights version. Two drivers run it: Engine (engine.h) on its own thread
// behind a request queue, for the server, and BatchGenerator (batch_generate.h) on the caller's
// thread, for a training process. Each step:
//   1. a single Transformer::forward_batch over one new token of every decoding sequence plus
//      prompt chunks of prefilling sequences, in admission order, up to prefill_chunk prompt tokens
//      per step (chunked prefill: the decode cadence of the running sequences stays bounded while a
//      long prompt comes in, and the weights read for the decode rows serve the prompt rows too).
//      A sequence's first chunk starts after the longest prefix found in the prefix cache, and
//      waits while another sequence with the same first block is still prefilling, so the n copies
//      of one prompt (submitted together) prefill it once. Whole blocks go into the prefix cache
//      after every chunk. With EngineOptions::fork_identical_prompts a sequence whose whole prompt
//      equals one still prefilling waits for it instead, then takes all its rows and its last
//      logits row: the prompt's every token is run once for all copies;
//   2. sampling, in parallel over sequences (each has its own seeded sampler, so its draws do not
//      depend on its neighbours), for every decoding sequence and every prompt completed in this
//      step; then the events, in order.
// Nothing a request does can stop it: exceptions end that request with kError.
//
// Not thread-safe, except the book (counters read by metrics() on other threads, under book.mu).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include "infer/engine.h"
#include "infer/engine_metrics.h"
#include "infer/engine_seq.h"
#include "infer/prefix_cache.h"

namespace frugal {

class Transformer;

// What the scheduler counts, for a metrics() snapshot taken on another thread (under mu).
struct SchedulerBook {
  std::mutex mu;
  EngineMetrics stats;  // counters; the driver fills in gauges and histograms when it snapshots
  Histogram ttft{ttft_bucket_bounds()}, itl{itl_bucket_bounds()};
  std::unordered_set<uint64_t> live;  // accepted requests not finished yet
};

// The counters with the histograms filled in (the caller holds book.mu); the driver's own gauges
// (waiting, kv_capacity_tokens) are left to it.
EngineMetrics snapshot(const SchedulerBook& book);

// Throws kInvalidArgument naming the field for bad options (what Engine's constructor documents).
void check_engine_options(const EngineOptions& o);

class Scheduler {
 public:
  // The model must outlive the scheduler, and only the scheduler's thread may use it.
  Scheduler(Transformer& model, const EngineOptions& opt, SchedulerBook& book);

  int64_t ctx() const { return ctx_; }  // EngineOptions::ctx capped at max_position_embeddings
  int64_t vocab() const { return vocab_; }
  const EngineOptions& options() const { return opt_; }
  bool idle() const { return running_.empty(); }
  int64_t n_running() const { return int64_t(running_.size()); }
  int64_t prefix_tokens() const { return prefix_.tokens(); }
  uint64_t weights_version() const { return version_; }

  // Throws kInvalidArgument for a request the scheduler refuses (what Engine::submit documents).
  void check(const GenRequest& req) const;
  // Takes an accepted (checked, counted in book.stats.running) request into a batch slot.
  void admit(uint64_t id, GenRequest req, double arrival);
  // Ends an accepted request that never got a slot (admitted: it was counted as running).
  void end_pending(uint64_t id, GenRequest& req, FinishReason why, bool admitted, const std::string& error = {});
  // Marks running requests for cancellation; they end with kCancelled at the next cancel_marked().
  void mark_cancel(const std::function<bool(uint64_t id)>& pred);
  void cancel_marked();
  void step();
  // Frees finished sequences (and their caches); returns the tokens cached by the running ones.
  int64_t sweep();
  // Ends every running request with kError (after an exception no single request caused).
  void fail_all(const std::string& error);
  // Runs fn (which changes the model's weights; may be empty when they changed already) and bumps
  // the weights version, even if fn throws (the weights may be half written): the prefix cache
  // drops every row computed with the old weights, and sequences still running keep their rows
  // but never put them into the cache.
  void update_weights(const std::function<void()>& fn);

 private:
  // True if s's prompt starts with the first prefix block of a sequence still prefilling.
  bool shares_prefill(const EngineSeq& s) const;
  // The sequence still prefilling the very prompt of s (same salt, current weights), if any.
  const EngineSeq* fork_source(const EngineSeq& s) const;
  // Copies src's prompt rows into every waiting sequence with the same prompt; returns them.
  std::vector<EngineSeq*> fork_from(const EngineSeq& src);
  void deliver(EngineSeq& s, int32_t tok, const TokenLogprobs& lp);
  void finish(EngineSeq& s, FinishReason why, const std::string& error = {});
  // on_event, with its exceptions caught: false if it asked to stop or threw (error set).
  static bool call(const GenRequest& req, const TokenEvent& ev, std::string* error);
  // Counted before the final event goes out, so a client that saw it also sees it in metrics().
  void record_finish(uint64_t id, FinishReason why, bool admitted);
  // Rows of s for the prefix cache, unless they were computed (partly) with older weights.
  void cache_rows(const EngineSeq& s, const int32_t* ids, int64_t n_tokens);

  Transformer& model_;
  EngineOptions opt_;
  SchedulerBook& book_;
  int64_t ctx_ = 0, vocab_ = 0;
  uint64_t version_ = 0;  // bumped by update_weights
  PrefixCache prefix_;
  std::vector<std::unique_ptr<EngineSeq>> running_;
  std::vector<float> logits_;  // [n, V]: the last row of each sequence in a step
};

}  // namespace frugal
