// The continuous-batching scheduler (engine.h). One thread owns the model; each iteration:
//   1. under the lock: take cancellations, end cancelled waiting requests, admit waiting
//      requests into free batch slots (up to max_batch running);
//   2. end cancelled running sequences (their caches are freed at once);
//   3. one step: a single Transformer::forward_batch over one new token of every decoding
//      sequence plus prompt chunks of prefilling sequences, in admission order, up to
//      prefill_chunk prompt tokens per step (chunked prefill: the decode cadence of the running
//      sequences stays bounded while a long prompt comes in, and the weights read for the decode
//      rows serve the prompt rows too). A sequence's first chunk starts after the longest prefix
//      found in the prefix cache, and waits while another sequence with the same first block is
//      still prefilling, so the n copies of one prompt (submitted together) prefill it once.
//      Whole blocks go into the prefix cache after every chunk;
//   4. sampling, in parallel over sequences (each has its own seeded sampler, so its draws do not
//      depend on its neighbours), for every decoding sequence and every prompt completed in this
//      step; then the events, in order, on this thread.
// Nothing a request does can stop the thread: exceptions end that request with kError.
#include "infer/engine.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_set>

#include <fmt/format.h>

#include "core/error.h"
#include "core/sys.h"
#include "model/transformer.h"
#include "infer/engine_metrics.h"
#include "infer/engine_seq.h"
#include "infer/prefix_cache.h"

namespace frugal {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kCancelled: return "cancelled";
    case FinishReason::kError: return "error";
    case FinishReason::kNone: break;
  }
  return "none";
}

namespace {

struct Pending {  // accepted by submit(), waiting for a batch slot
  uint64_t id = 0;
  GenRequest req;
  double arrival = 0;
};

void check_options(const EngineOptions& o) {
  auto need = [](bool ok, const char* field, int64_t v, const char* rule) {
    if (!ok) fail(ErrorKind::kInvalidArgument, "engine option {} must be {} (got {})", field, rule, v);
  };
  need(o.max_batch >= 1, "max_batch", o.max_batch, ">= 1");
  need(o.max_queue >= 1, "max_queue", o.max_queue, ">= 1");
  need(o.ctx >= 2, "ctx", o.ctx, ">= 2");
  need(o.prefill_chunk >= 1, "prefill_chunk", o.prefill_chunk, ">= 1");
  need(o.prefix_cache_tokens >= 0, "prefix_cache_tokens", o.prefix_cache_tokens, ">= 0");
  need(o.prefix_block >= 1, "prefix_block", o.prefix_block, ">= 1");
}

}  // namespace

struct Engine::Impl {
  Impl(Transformer& m, const EngineOptions& o);
  void loop();
  bool iteration();  // false: shut down and drained
  void admit(Pending p);
  void step();
  // True if s's prompt starts with the first prefix block of a sequence still prefilling.
  bool shares_prefill(const EngineSeq& s) const;
  // Delivers one sampled token (ending the request on a stop id, max_tokens or a full context).
  void deliver(EngineSeq& s, int32_t tok, const TokenLogprobs& lp);
  // Sends the final event (token -1) unless one was sent; records the finish.
  void finish(EngineSeq& s, FinishReason why, const std::string& error = {});
  void finish_pending(Pending& p, FinishReason why, bool admitted, const std::string& error = {});
  // on_event, with its exceptions caught: false if it asked to stop or threw (error set).
  static bool call(const GenRequest& req, const TokenEvent& ev, std::string* error);
  // Counted before the final event goes out, so a client that saw it also sees it in metrics().
  void record_finish(uint64_t id, FinishReason why, bool admitted);

  Transformer& model;
  EngineOptions opt;
  int64_t ctx = 0, vocab = 0;
  int threads = 1;

  // Shared with submit()/cancel()/metrics(), under mu.
  mutable std::mutex mu;
  std::condition_variable cv;
  std::deque<Pending> waiting;
  std::unordered_set<uint64_t> live, cancel_ids;
  bool accepting = true, stopping = false, cancel_all = false;
  uint64_t next_id = 1;
  EngineMetrics stats;  // counters; gauges and histograms are filled in by metrics()
  Histogram ttft{ttft_bucket_bounds()}, itl{itl_bucket_bounds()};

  // Scheduler thread only.
  PrefixCache prefix;
  std::vector<std::unique_ptr<EngineSeq>> running;
  std::vector<float> logits;  // [n, V]: the last row of each sequence in a step

  std::thread thread;
  std::thread::id thread_id;  // set once by the constructor, before any request can arrive
  std::mutex join_mu;
};

Engine::Impl::Impl(Transformer& m, const EngineOptions& o)
    : model(m),
      opt(o),
      prefix(m.config().num_hidden_layers, m.config().kv_cache_dim(), o.prefix_block, o.prefix_cache_tokens) {
  const DeepSeekConfig& cfg = m.config();
  // The model's own limit wins over the option (positions past it were never trained).
  ctx = cfg.max_position_embeddings > 0 ? std::min(o.ctx, cfg.max_position_embeddings) : o.ctx;
  vocab = cfg.vocab_size;
  // OpenMP's thread count is per thread: carry the creator's (e.g. --threads) to the scheduler.
  threads = num_threads();
}

Engine::Engine(Transformer& model, const EngineOptions& opt) {
  check_options(opt);
  impl_ = std::make_unique<Impl>(model, opt);
  impl_->thread = std::thread([p = impl_.get()] { p->loop(); });
  impl_->thread_id = impl_->thread.get_id();
}

Engine::~Engine() { shutdown(true); }

int64_t Engine::context_tokens() const { return impl_->ctx; }

uint64_t Engine::submit(GenRequest req) {
  Impl& im = *impl_;
  const int64_t P = int64_t(req.prompt.size());
  if (P == 0) fail(ErrorKind::kInvalidArgument, "the prompt is empty: give at least one token");
  for (int64_t i = 0; i < P; ++i)
    if (req.prompt[size_t(i)] < 0 || req.prompt[size_t(i)] >= im.vocab)
      fail(ErrorKind::kInvalidArgument, "prompt token id {} at position {} is outside the vocabulary [0, {})",
           req.prompt[size_t(i)], i, im.vocab);
  if (P >= im.ctx)
    fail(ErrorKind::kInvalidArgument,
         "the prompt has {} tokens but the context is {} tokens: it must leave room for at least one generated "
         "token ({} too many)",
         P, im.ctx, P - im.ctx + 1);
  if (req.max_tokens < 0) fail(ErrorKind::kInvalidArgument, "max_tokens must be >= 0 (got {})", req.max_tokens);
  if (req.top_logprobs < -1)
    fail(ErrorKind::kInvalidArgument, "top_logprobs must be >= 0, or -1 for none (got {})", req.top_logprobs);
  if (!req.on_event) fail(ErrorKind::kInvalidArgument, "the request has no on_event callback");
  validate(req.sampling);
  TokenPenalties check(req.presence_penalty, req.frequency_penalty);  // validates both

  std::lock_guard lk(im.mu);
  if (!im.accepting) {
    ++im.stats.rejected_total;
    throw EngineBusy("the engine is shutting down");
  }
  if (int64_t(im.waiting.size()) >= im.opt.max_queue) {
    ++im.stats.rejected_total;
    throw EngineBusy(fmt::format("the queue is full ({} requests waiting); retry later", im.waiting.size()));
  }
  const uint64_t id = im.next_id++;
  im.waiting.push_back({id, std::move(req), now_seconds()});
  im.live.insert(id);
  ++im.stats.requests_total;
  im.cv.notify_one();
  return id;
}

void Engine::cancel(uint64_t id) {
  std::lock_guard lk(impl_->mu);
  if (impl_->live.count(id)) {
    impl_->cancel_ids.insert(id);
    impl_->cv.notify_one();
  }
}

EngineMetrics Engine::metrics() const {
  const Impl& im = *impl_;
  std::lock_guard lk(im.mu);
  EngineMetrics m = im.stats;
  m.waiting = int64_t(im.waiting.size());
  m.kv_capacity_tokens = im.opt.max_batch * im.ctx;
  m.ttft_buckets = im.ttft.bounds();
  m.ttft_counts = im.ttft.cumulative();
  m.ttft_sum = im.ttft.sum();
  m.ttft_count = im.ttft.count();
  m.itl_buckets = im.itl.bounds();
  m.itl_counts = im.itl.cumulative();
  m.itl_sum = im.itl.sum();
  m.itl_count = im.itl.count();
  return m;
}

void Engine::shutdown(bool cancel_running) {
  Impl& im = *impl_;
  {
    std::lock_guard lk(im.mu);
    im.accepting = false;
    im.stopping = true;
    if (cancel_running) im.cancel_all = true;
    im.cv.notify_all();
  }
  // From an on_event callback (the scheduler thread itself) there is nothing to wait for here.
  if (std::this_thread::get_id() == im.thread_id) return;
  std::lock_guard jl(im.join_mu);
  if (im.thread.joinable()) im.thread.join();
}

// ---- Scheduler thread ----

void Engine::Impl::loop() {
  set_num_threads(threads);
  for (;;) {
    try {
      if (!iteration()) return;
    } catch (const std::exception& e) {
      // Not one request's fault (e.g. out of memory growing a buffer): end every running one,
      // keep serving the queue.
      for (auto& s : running) finish(*s, FinishReason::kError, std::string("engine error: ") + e.what());
      running.clear();
    }
  }
}

bool Engine::Impl::iteration() {
  std::vector<Pending> admitted, dropped;
  {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return stopping || !waiting.empty() || !running.empty(); });
    if (cancel_all) {
      for (auto& p : waiting) dropped.push_back(std::move(p));
      waiting.clear();
    } else if (!cancel_ids.empty()) {
      for (auto it = waiting.begin(); it != waiting.end();) {
        if (cancel_ids.count(it->id)) {
          dropped.push_back(std::move(*it));
          it = waiting.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& s : running)
      if (cancel_all || cancel_ids.count(s->id)) s->cancel_requested = true;
    cancel_ids.clear();  // everything named was waiting, running or already finished
    while (int64_t(running.size() + admitted.size()) < opt.max_batch && !waiting.empty()) {
      admitted.push_back(std::move(waiting.front()));
      waiting.pop_front();
    }
    stats.running += int64_t(admitted.size());
    if (stopping && waiting.empty() && running.empty() && admitted.empty() && dropped.empty()) return false;
  }
  for (auto& p : dropped) finish_pending(p, FinishReason::kCancelled, false);
  for (auto& s : running)
    if (s->cancel_requested) finish(*s, FinishReason::kCancelled);
  for (auto& p : admitted) admit(std::move(p));
  step();
  // Free finished sequences (and their caches) before the next step; publish the gauges.
  std::erase_if(running, [](const std::unique_ptr<EngineSeq>& s) { return s->done; });
  int64_t kv = 0;
  for (auto& s : running) kv += s->cache.length();
  std::lock_guard lk(mu);
  stats.kv_used_tokens = kv;
  stats.prefix_cache_tokens = prefix.tokens();
  return true;
}

void Engine::Impl::admit(Pending p) {
  const int64_t P = int64_t(p.req.prompt.size());
  if (p.req.max_tokens == 0) return finish_pending(p, FinishReason::kLength, true);
  try {
    LatentKvCache cache = model.make_cache(std::min(ctx, P + p.req.max_tokens));
    running.push_back(std::make_unique<EngineSeq>(p.id, std::move(p.req), p.arrival, std::move(cache)));
  } catch (const std::exception& e) {
    finish_pending(p, FinishReason::kError, true, e.what());
    return;
  }
  std::lock_guard lk(mu);
  stats.prompt_tokens_total += P;
}

bool Engine::Impl::shares_prefill(const EngineSeq& s) const {
  const int64_t B = prefix.block_tokens();
  if (prefix.capacity_tokens() < B || s.prompt_len <= B) return false;  // nothing it could reuse
  for (const auto& o : running)
    if (o.get() != &s && o->prefix_checked && !o->decoding && !o->done && o->req.prefix_salt == s.req.prefix_salt &&
        o->prompt_len > B && std::equal(s.req.prompt.begin(), s.req.prompt.begin() + B, o->req.prompt.begin()))
      return true;
  return false;
}

void Engine::Impl::step() {
  const int64_t V = vocab, B = prefix.block_tokens();
  std::vector<EngineSeq*> batch;
  std::vector<int32_t> ids;
  std::vector<int64_t> n_tokens;
  std::vector<LatentKvCache*> caches;
  for (auto& s : running)
    if (s->decoding && !s->done) {
      batch.push_back(s.get());
      ids.push_back(s->next);
      n_tokens.push_back(1);
    }
  int64_t budget = opt.prefill_chunk;
  for (auto& sp : running) {
    EngineSeq& s = *sp;
    if (s.done || s.decoding || budget <= 0) continue;
    if (!s.prefix_checked) {  // at the first chunk, so blocks cached by earlier sequences count
      if (shares_prefill(s)) continue;
      s.prefix_checked = true;
      try {
        s.cached = prefix.lookup(s.req.prompt.data(), s.prompt_len - 1, s.req.prefix_salt, s.cache);  // run >= 1
      } catch (const std::exception&) {
        s.cached = 0;  // a cache failure only costs the prefill it would have saved
        s.cache.set_length(0);
      }
      std::lock_guard lk(mu);
      stats.prefix_query_tokens_total += s.prompt_len;
      stats.prefix_hit_tokens_total += s.cached;
    }
    const int64_t pos = s.cache.length(), n = std::min(budget, s.prompt_len - pos);
    batch.push_back(&s);
    ids.insert(ids.end(), s.req.prompt.begin() + pos, s.req.prompt.begin() + pos + n);
    n_tokens.push_back(n);
    budget -= n;
  }
  if (batch.empty()) return;
  for (EngineSeq* s : batch) caches.push_back(&s->cache);
  logits.resize(batch.size() * size_t(V));
  try {
    model.forward_batch(ids.data(), n_tokens.data(), int64_t(batch.size()), caches.data(), logits.data());
  } catch (const std::exception&) {
    // Find the culprit: one sequence at a time. A failed step advanced no cache length, and each
    // row it may have written is rewritten by the retry (same positions), so retrying is exact.
    std::vector<EngineSeq*> ok;
    std::vector<int64_t> ok_tokens;
    int64_t off = 0;  // this sequence's first id
    for (size_t i = 0; i < batch.size(); off += n_tokens[i], ++i) {
      try {
        model.forward_batch(ids.data() + off, &n_tokens[i], 1, &caches[i], logits.data() + ok.size() * size_t(V));
        ok.push_back(batch[i]);
        ok_tokens.push_back(n_tokens[i]);
      } catch (const std::exception& e) {
        finish(*batch[i], FinishReason::kError, e.what());
      }
    }
    batch = ok;
    n_tokens = ok_tokens;
  }
  const int64_t n = int64_t(batch.size());
  {
    std::lock_guard lk(mu);
    ++stats.decode_steps_total;
    stats.decode_rows_total += n;
  }
  // Which sequences sample a token now: every decoding one and each whose prompt just completed.
  std::vector<int64_t> pick;
  for (int64_t i = 0; i < n; ++i) {
    EngineSeq& s = *batch[size_t(i)];
    if (!s.decoding) {
      try {
        prefix.insert(s.req.prompt.data(), s.cache.length() / B * B, s.req.prefix_salt, s.cache);
      } catch (const std::exception&) {
        // Caching is an optimisation.
      }
      if (s.cache.length() < s.prompt_len) continue;
      s.decoding = true;
    }
    pick.push_back(i);
  }
  const int64_t m = int64_t(pick.size());
  std::vector<int32_t> tok(static_cast<size_t>(m), -1);
  std::vector<TokenLogprobs> lp(static_cast<size_t>(m));
  std::vector<std::string> err(static_cast<size_t>(m));
  // Sampling sorts the vocabulary when temperature > 0: worth spreading over the threads.
#pragma omp parallel for schedule(dynamic, 1) if (m > 1)
  for (int64_t j = 0; j < m; ++j) {
    const int64_t i = pick[size_t(j)];
    try {
      tok[size_t(j)] = batch[size_t(i)]->choose(logits.data() + i * V, V, &lp[size_t(j)]);
    } catch (const std::exception& e) {
      err[size_t(j)] = e.what();
    }
  }
  for (int64_t j = 0; j < m; ++j) {
    EngineSeq& s = *batch[size_t(pick[size_t(j)])];
    if (!err[size_t(j)].empty()) finish(s, FinishReason::kError, err[size_t(j)]);
    else deliver(s, tok[size_t(j)], lp[size_t(j)]);
  }
}

void Engine::Impl::deliver(EngineSeq& s, int32_t tok, const TokenLogprobs& lp) {
  s.generated.push_back(tok);
  s.penalties.add(tok);
  const int64_t g = int64_t(s.generated.size());
  TokenEvent ev;
  ev.token = tok;
  if (s.req.top_logprobs >= 0) {
    ev.logprob = lp.logprob;
    ev.top_logprobs = lp.top;
  }
  if (s.is_stop(tok)) ev.finish = FinishReason::kStop;
  else if (g >= s.req.max_tokens || s.prompt_len + g >= ctx) ev.finish = FinishReason::kLength;
  ev.prompt_tokens = s.prompt_len;
  ev.cached_prompt_tokens = s.cached;
  ev.completion_tokens = g;
  const double now = now_seconds();
  {
    std::lock_guard lk(mu);
    ++stats.generation_tokens_total;
    if (g == 1) ttft.observe(now - s.arrival);  // from arrival in submit(), queueing included
    else itl.observe(now - s.last_token_time);
  }
  s.last_token_time = now;
  if (ev.finish != FinishReason::kNone) {
    s.done = true;
    record_finish(s.id, ev.finish, true);
  }
  std::string error;
  const bool go_on = call(s.req, ev, &error);
  if (ev.finish != FinishReason::kNone) {
    // Keep the whole conversation's rows: the next turn of a chat extends this prompt + answer.
    // The cache holds prompt + generated minus the last token (never fed back).
    std::vector<int32_t> all = s.req.prompt;
    all.insert(all.end(), s.generated.begin(), s.generated.end());
    try {
      prefix.insert(all.data(), s.cache.length() / prefix.block_tokens() * prefix.block_tokens(), s.req.prefix_salt,
                    s.cache);
    } catch (const std::exception&) {
      // Caching is an optimisation; the request already finished well.
    }
    return;
  }
  if (!go_on) {
    finish(s, error.empty() ? FinishReason::kCancelled : FinishReason::kError, error);
    return;
  }
  s.next = tok;
}

bool Engine::Impl::call(const GenRequest& req, const TokenEvent& ev, std::string* error) {
  try {
    return req.on_event(ev);
  } catch (const std::exception& e) {
    if (error) *error = std::string("on_event threw: ") + e.what();
  } catch (...) {
    if (error) *error = "on_event threw a non-standard exception";
  }
  return false;
}

void Engine::Impl::finish(EngineSeq& s, FinishReason why, const std::string& error) {
  if (s.done) return;
  s.done = true;
  TokenEvent ev;
  ev.finish = why;
  ev.error = error;
  ev.prompt_tokens = s.prompt_len;
  ev.cached_prompt_tokens = s.cached;
  ev.completion_tokens = int64_t(s.generated.size());
  record_finish(s.id, why, true);
  call(s.req, ev, nullptr);
}

void Engine::Impl::finish_pending(Pending& p, FinishReason why, bool admitted, const std::string& error) {
  TokenEvent ev;
  ev.finish = why;
  ev.error = error;
  ev.prompt_tokens = int64_t(p.req.prompt.size());
  record_finish(p.id, why, admitted);
  call(p.req, ev, nullptr);
}

void Engine::Impl::record_finish(uint64_t id, FinishReason why, bool admitted) {
  std::lock_guard lk(mu);
  live.erase(id);
  if (admitted) --stats.running;
  switch (why) {
    case FinishReason::kStop: ++stats.finished_stop; break;
    case FinishReason::kLength: ++stats.finished_length; break;
    case FinishReason::kCancelled: ++stats.finished_cancelled; break;
    case FinishReason::kError: ++stats.finished_error; break;
    case FinishReason::kNone: break;
  }
}

}  // namespace frugal
