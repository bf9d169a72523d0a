#include "infer/scheduler.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/sys.h"
#include "model/transformer.h"

namespace frugal {

void check_engine_options(const EngineOptions& o) {
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

EngineMetrics snapshot(const SchedulerBook& book) {
  EngineMetrics m = book.stats;
  m.ttft_buckets = book.ttft.bounds();
  m.ttft_counts = book.ttft.cumulative();
  m.ttft_sum = book.ttft.sum();
  m.ttft_count = book.ttft.count();
  m.itl_buckets = book.itl.bounds();
  m.itl_counts = book.itl.cumulative();
  m.itl_sum = book.itl.sum();
  m.itl_count = book.itl.count();
  return m;
}

namespace {

const EngineOptions& checked(const EngineOptions& o) {
  check_engine_options(o);
  return o;
}

}  // namespace

Scheduler::Scheduler(Transformer& m, const EngineOptions& o, SchedulerBook& book)
    : model_(m),
      opt_(checked(o)),
      book_(book),
      prefix_(m.config().num_hidden_layers, m.config().kv_cache_dim(), o.prefix_block, o.prefix_cache_tokens) {
  const DeepSeekConfig& cfg = m.config();
  // The model's own limit wins over the option (positions past it were never trained).
  ctx_ = cfg.max_position_embeddings > 0 ? std::min(o.ctx, cfg.max_position_embeddings) : o.ctx;
  vocab_ = cfg.vocab_size;
}

void Scheduler::check(const GenRequest& req) const {
  const int64_t P = int64_t(req.prompt.size());
  if (P == 0) fail(ErrorKind::kInvalidArgument, "the prompt is empty: give at least one token");
  for (int64_t i = 0; i < P; ++i)
    if (req.prompt[size_t(i)] < 0 || req.prompt[size_t(i)] >= vocab_)
      fail(ErrorKind::kInvalidArgument, "prompt token id {} at position {} is outside the vocabulary [0, {})",
           req.prompt[size_t(i)], i, vocab_);
  if (P >= ctx_)
    fail(ErrorKind::kInvalidArgument,
         "the prompt has {} tokens but the context is {} tokens: it must leave room for at least one generated "
         "token ({} too many)",
         P, ctx_, P - ctx_ + 1);
  if (req.max_tokens < 0) fail(ErrorKind::kInvalidArgument, "max_tokens must be >= 0 (got {})", req.max_tokens);
  if (req.top_logprobs < -1)
    fail(ErrorKind::kInvalidArgument, "top_logprobs must be >= 0, or -1 for none (got {})", req.top_logprobs);
  if (!req.on_event) fail(ErrorKind::kInvalidArgument, "the request has no on_event callback");
  validate(req.sampling);
  TokenPenalties check(req.presence_penalty, req.frequency_penalty);  // validates both
}

void Scheduler::admit(uint64_t id, GenRequest req, double arrival) {
  const int64_t P = int64_t(req.prompt.size());
  if (req.max_tokens == 0) return end_pending(id, req, FinishReason::kLength, true);
  try {
    LatentKvCache cache = model_.make_cache(std::min(ctx_, P + req.max_tokens));
    running_.push_back(std::make_unique<EngineSeq>(id, std::move(req), arrival, std::move(cache)));
  } catch (const std::exception& e) {
    end_pending(id, req, FinishReason::kError, true, e.what());
    return;
  }
  std::lock_guard lk(book_.mu);
  book_.stats.prompt_tokens_total += P;
}

void Scheduler::mark_cancel(const std::function<bool(uint64_t)>& pred) {
  for (auto& s : running_)
    if (pred(s->id)) s->cancel_requested = true;
}

void Scheduler::cancel_marked() {
  for (auto& s : running_)
    if (s->cancel_requested) finish(*s, FinishReason::kCancelled);
}

int64_t Scheduler::sweep() {
  std::erase_if(running_, [](const std::unique_ptr<EngineSeq>& s) { return s->done; });
  int64_t kv = 0;
  for (auto& s : running_) kv += s->cache.length();
  return kv;
}

void Scheduler::fail_all(const std::string& error) {
  for (auto& s : running_) finish(*s, FinishReason::kError, error);
  running_.clear();
}

void Scheduler::update_weights(const std::function<void()>& fn) {
  auto bump = [&] {
    prefix_.set_weights_version(++version_);
    std::lock_guard lk(book_.mu);
    book_.stats.weights_version = int64_t(version_);
    book_.stats.prefix_cache_tokens = prefix_.tokens();
  };
  try {
    if (fn) fn();
  } catch (...) {
    bump();  // its weights may be half written
    throw;
  }
  bump();
}

bool Scheduler::shares_prefill(const EngineSeq& s) const {
  const int64_t B = prefix_.block_tokens();
  if (prefix_.capacity_tokens() < B || s.prompt_len <= B) return false;  // nothing it could reuse
  for (const auto& o : running_)
    if (o.get() != &s && o->prefix_checked && !o->decoding && !o->done && o->req.prefix_salt == s.req.prefix_salt &&
        o->weights_version == version_ && o->prompt_len > B &&
        std::equal(s.req.prompt.begin(), s.req.prompt.begin() + B, o->req.prompt.begin()))
      return true;
  return false;
}

const EngineSeq* Scheduler::fork_source(const EngineSeq& s) const {
  for (const auto& o : running_)
    if (o.get() != &s && o->prefix_checked && !o->decoding && !o->done && o->req.prefix_salt == s.req.prefix_salt &&
        o->weights_version == version_ && o->req.prompt == s.req.prompt)
      return o.get();
  return nullptr;
}

std::vector<EngineSeq*> Scheduler::fork_from(const EngineSeq& src) {
  std::vector<EngineSeq*> out;
  if (src.weights_version != version_) return out;
  const int64_t P = src.prompt_len, W = src.cache.width(), L = model_.config().num_hidden_layers;
  for (auto& f : running_) {
    if (f.get() == &src || f->done || f->prefix_checked || f->req.prefix_salt != src.req.prefix_salt ||
        f->req.prompt != src.req.prompt)
      continue;
    for (int64_t l = 0; l < L; ++l)
      std::memcpy(f->cache.layer(l), src.cache.layer(l), size_t(P * W) * sizeof(float));
    f->cache.set_length(P);
    f->prefix_checked = true;
    f->weights_version = version_;
    f->cached = P;
    f->decoding = true;
    out.push_back(f.get());
  }
  return out;
}

void Scheduler::cache_rows(const EngineSeq& s, const int32_t* ids, int64_t n_tokens) {
  if (s.weights_version != version_) return;  // (some) rows come from older weights
  try {
    prefix_.insert(ids, n_tokens, s.req.prefix_salt, s.cache);
  } catch (const std::exception&) {
    // Caching is an optimisation.
  }
}

void Scheduler::step() {
  const int64_t V = vocab_, B = prefix_.block_tokens();
  std::vector<EngineSeq*> batch;
  std::vector<int32_t> ids;
  std::vector<int64_t> n_tokens;
  std::vector<LatentKvCache*> caches;
  for (auto& s : running_)
    if (s->decoding && !s->done) {
      batch.push_back(s.get());
      ids.push_back(s->next);
      n_tokens.push_back(1);
    }
  int64_t budget = opt_.prefill_chunk, prefill = 0;
  for (auto& sp : running_) {
    EngineSeq& s = *sp;
    if (s.done || s.decoding || budget <= 0) continue;
    if (!s.prefix_checked) {  // at the first chunk, so blocks cached by earlier sequences count
      if (opt_.fork_identical_prompts && fork_source(s)) continue;  // takes its rows when they are complete
      if (shares_prefill(s)) continue;
      s.prefix_checked = true;
      s.weights_version = version_;
      try {
        s.cached = prefix_.lookup(s.req.prompt.data(), s.prompt_len - 1, s.req.prefix_salt, s.cache);  // run >= 1
      } catch (const std::exception&) {
        s.cached = 0;  // a cache failure only costs the prefill it would have saved
        s.cache.set_length(0);
      }
      std::lock_guard lk(book_.mu);
      book_.stats.prefix_query_tokens_total += s.prompt_len;
      book_.stats.prefix_hit_tokens_total += s.cached;
    }
    const int64_t pos = s.cache.length(), n = std::min(budget, s.prompt_len - pos);
    batch.push_back(&s);
    ids.insert(ids.end(), s.req.prompt.begin() + pos, s.req.prompt.begin() + pos + n);
    n_tokens.push_back(n);
    budget -= n;
  }
  if (batch.empty()) return;
  for (EngineSeq* s : batch) caches.push_back(&s->cache);
  logits_.resize(batch.size() * size_t(V));
  try {
    model_.forward_batch(ids.data(), n_tokens.data(), int64_t(batch.size()), caches.data(), logits_.data());
  } catch (const std::exception&) {
    // Find the culprit: one sequence at a time. A failed step advanced no cache length, and each
    // row it may have written is rewritten by the retry (same positions), so retrying is exact.
    std::vector<EngineSeq*> ok;
    std::vector<int64_t> ok_tokens;
    int64_t off = 0;  // this sequence's first id
    for (size_t i = 0; i < batch.size(); off += n_tokens[i], ++i) {
      try {
        model_.forward_batch(ids.data() + off, &n_tokens[i], 1, &caches[i], logits_.data() + ok.size() * size_t(V));
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
  for (int64_t i = 0; i < n; ++i)
    if (!batch[size_t(i)]->decoding) prefill += n_tokens[size_t(i)];
  {
    std::lock_guard lk(book_.mu);
    ++book_.stats.decode_steps_total;
    book_.stats.decode_rows_total += n;
    book_.stats.prefill_tokens_total += prefill;
  }
  // Which sequences sample a token now, from which logits row: every decoding one and each whose
  // prompt just completed, then the forks of those prompts (a copy of their source's row each).
  std::vector<EngineSeq*> pick;
  std::vector<int64_t> row;
  std::vector<std::pair<EngineSeq*, int64_t>> forks;  // (fork, its source's row)
  for (int64_t i = 0; i < n; ++i) {
    EngineSeq& s = *batch[size_t(i)];
    if (!s.decoding) {
      cache_rows(s, s.req.prompt.data(), s.cache.length() / B * B);
      if (s.cache.length() < s.prompt_len) continue;
      s.decoding = true;
      if (opt_.fork_identical_prompts)
        for (EngineSeq* f : fork_from(s)) forks.emplace_back(f, i);
    }
    pick.push_back(&s);
    row.push_back(i);
  }
  if (!forks.empty()) {
    logits_.resize((size_t(n) + forks.size()) * size_t(V));
    for (size_t k = 0; k < forks.size(); ++k) {
      const int64_t r = n + int64_t(k);
      std::memcpy(logits_.data() + r * V, logits_.data() + forks[k].second * V, size_t(V) * sizeof(float));
      pick.push_back(forks[k].first);
      row.push_back(r);
    }
  }
  const int64_t m = int64_t(pick.size());
  std::vector<int32_t> tok(static_cast<size_t>(m), -1);
  std::vector<TokenLogprobs> lp(static_cast<size_t>(m));
  std::vector<std::string> err(static_cast<size_t>(m));
  // Sampling sorts the vocabulary when temperature > 0: worth spreading over the threads.
#pragma omp parallel for schedule(dynamic, 1) if (m > 1)
  for (int64_t j = 0; j < m; ++j) {
    try {
      tok[size_t(j)] = pick[size_t(j)]->choose(logits_.data() + row[size_t(j)] * V, V, &lp[size_t(j)]);
    } catch (const std::exception& e) {
      err[size_t(j)] = e.what();
    }
  }
  for (int64_t j = 0; j < m; ++j) {
    EngineSeq& s = *pick[size_t(j)];
    if (!err[size_t(j)].empty()) finish(s, FinishReason::kError, err[size_t(j)]);
    else deliver(s, tok[size_t(j)], lp[size_t(j)]);
  }
}

void Scheduler::deliver(EngineSeq& s, int32_t tok, const TokenLogprobs& lp) {
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
  else if (g >= s.req.max_tokens || s.prompt_len + g >= ctx_) ev.finish = FinishReason::kLength;
  ev.prompt_tokens = s.prompt_len;
  ev.cached_prompt_tokens = s.cached;
  ev.completion_tokens = g;
  const double now = now_seconds();
  {
    std::lock_guard lk(book_.mu);
    ++book_.stats.generation_tokens_total;
    if (g == 1) book_.ttft.observe(now - s.arrival);  // from arrival (in submit()), queueing included
    else book_.itl.observe(now - s.last_token_time);
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
    cache_rows(s, all.data(), s.cache.length() / prefix_.block_tokens() * prefix_.block_tokens());
    return;
  }
  if (!go_on) {
    finish(s, error.empty() ? FinishReason::kCancelled : FinishReason::kError, error);
    return;
  }
  s.next = tok;
}

bool Scheduler::call(const GenRequest& req, const TokenEvent& ev, std::string* error) {
  try {
    return req.on_event(ev);
  } catch (const std::exception& e) {
    if (error) *error = std::string("on_event threw: ") + e.what();
  } catch (...) {
    if (error) *error = "on_event threw a non-standard exception";
  }
  return false;
}

void Scheduler::finish(EngineSeq& s, FinishReason why, const std::string& error) {
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

void Scheduler::end_pending(uint64_t id, GenRequest& req, FinishReason why, bool admitted, const std::string& error) {
  TokenEvent ev;
  ev.finish = why;
  ev.error = error;
  ev.prompt_tokens = int64_t(req.prompt.size());
  record_finish(id, why, admitted);
  call(req, ev, nullptr);
}

void Scheduler::record_finish(uint64_t id, FinishReason why, bool admitted) {
  std::lock_guard lk(book_.mu);
  book_.live.erase(id);
  if (admitted) --book_.stats.running;
  switch (why) {
    case FinishReason::kStop: ++book_.stats.finished_stop; break;
    case FinishReason::kLength: ++book_.stats.finished_length; break;
    case FinishReason::kCancelled: ++book_.stats.finished_cancelled; break;
    case FinishReason::kError: ++book_.stats.finished_error; break;
    case FinishReason::kNone: break;
  }
}

}  // namespace frugal
