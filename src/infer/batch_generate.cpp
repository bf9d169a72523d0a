#include "infer/batch_generate.h"

#include <fmt/format.h>

#include "core/error.h"
#include "core/sys.h"
#include "infer/scheduler.h"

namespace frugal {

namespace {

EngineOptions with_forks(EngineOptions o) {
  o.fork_identical_prompts = true;
  return o;
}

}  // namespace

BatchGenerator::BatchGenerator(Transformer& model, const EngineOptions& opt)
    : book_(std::make_unique<SchedulerBook>()), sched_(std::make_unique<Scheduler>(model, with_forks(opt), *book_)) {}

BatchGenerator::~BatchGenerator() = default;

int64_t BatchGenerator::context_tokens() const { return sched_->ctx(); }

EngineMetrics BatchGenerator::metrics() const {
  std::lock_guard lk(book_->mu);
  EngineMetrics m = snapshot(*book_);
  m.kv_capacity_tokens = sched_->options().max_batch * sched_->ctx();
  return m;
}

void BatchGenerator::update_weights(const std::function<void()>& fn) { sched_->update_weights(fn); }

std::vector<Completion> BatchGenerator::generate(const std::vector<BatchRequest>& requests) {
  const size_t n = requests.size();
  std::vector<Completion> out(n);
  std::vector<GenRequest> reqs(n);
  for (size_t i = 0; i < n; ++i) {
    const BatchRequest& b = requests[i];
    GenRequest& r = reqs[i];
    r.prompt = b.prompt;
    r.sampling = b.sampling;
    r.presence_penalty = b.presence_penalty;
    r.frequency_penalty = b.frequency_penalty;
    r.max_tokens = b.max_tokens;
    r.stop_ids = b.stop_ids;
    r.prefix_salt = b.prefix_salt;
    r.top_logprobs = 0;  // the chosen token's logprob
    r.on_event = [c = &out[i]](const TokenEvent& ev) {
      if (ev.token >= 0) {
        c->ids.push_back(ev.token);
        c->logprobs.push_back(ev.logprob);
      }
      if (ev.finish != FinishReason::kNone) {
        c->finish = ev.finish;
        c->error = ev.error;
        c->prompt_tokens = ev.prompt_tokens;
        c->cached_prompt_tokens = ev.cached_prompt_tokens;
        c->completion_tokens = ev.completion_tokens;
      }
      return true;
    };
    try {
      sched_->check(r);
    } catch (const Error& e) {
      fail(e.kind(), "request {} of {}: {}", i, n, e.what());
    }
  }
  {
    std::lock_guard lk(book_->mu);
    book_->stats.requests_total += int64_t(n);
  }
  const double arrival = now_seconds();
  const int64_t max_batch = sched_->options().max_batch;
  size_t next = 0;
  try {
    while (next < n || !sched_->idle()) {
      while (next < n && sched_->n_running() < max_batch) {
        {
          std::lock_guard lk(book_->mu);
          ++book_->stats.running;
        }
        sched_->admit(next_id_++, std::move(reqs[next]), arrival);
        ++next;
      }
      sched_->step();
      const int64_t kv = sched_->sweep();
      std::lock_guard lk(book_->mu);
      book_->stats.kv_used_tokens = kv;
      book_->stats.prefix_cache_tokens = sched_->prefix_tokens();
    }
  } catch (const std::exception& e) {
    // Not one request's fault (e.g. out of memory): end them all, leave the generator usable.
    sched_->fail_all(std::string("engine error: ") + e.what());
    throw;
  }
  return out;
}

}  // namespace frugal
