// The serving engine (engine.h): the scheduler (scheduler.h) on its own thread behind a request
// queue. Each iteration of that thread:
//   1. under the lock: take cancellations, end cancelled waiting requests, take weight updates,
//      admit waiting requests into free batch slots (up to max_batch running);
//   2. end cancelled running sequences (their caches are freed at once), apply the weight updates
//      (between two steps, before the admitted requests start);
//   3. one scheduler step (a batched forward over every running sequence, then sampling and the
//      events, in order, on this thread).
// Nothing a request does can stop the thread: exceptions end that request with kError.
#include "infer/engine.h"

#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>
#include <unordered_set>

#include <fmt/format.h>

#include "core/sys.h"
#include "infer/scheduler.h"

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

struct WeightUpdate {  // update_weights() from another thread, run by the scheduler thread
  std::function<void()> fn;
  std::promise<void> done;
};

}  // namespace

struct Engine::Impl {
  Impl(Transformer& m, const EngineOptions& o) : sched(m, o, book), threads(num_threads()) {}
  void loop();
  bool iteration();  // false: shut down and drained

  // Shared with submit()/cancel()/metrics()/update_weights(), under book.mu.
  SchedulerBook book;
  std::condition_variable cv;
  std::deque<Pending> waiting;
  std::unordered_set<uint64_t> cancel_ids;
  std::deque<std::shared_ptr<WeightUpdate>> updates;
  bool accepting = true, stopping = false, cancel_all = false, exited = false;
  uint64_t next_id = 1;

  Scheduler sched;  // scheduler thread only (or the caller's, once that thread has exited)
  // OpenMP's thread count is per thread: carry the creator's (e.g. --threads) to the scheduler.
  int threads = 1;

  std::thread thread;
  std::thread::id thread_id;  // set once by the constructor, before any request can arrive
  std::mutex join_mu;
  std::mutex direct_mu;  // update_weights() after the thread exited: one at a time
};

Engine::Engine(Transformer& model, const EngineOptions& opt) {
  impl_ = std::make_unique<Impl>(model, opt);
  impl_->thread = std::thread([p = impl_.get()] { p->loop(); });
  impl_->thread_id = impl_->thread.get_id();
}

Engine::~Engine() { shutdown(true); }

int64_t Engine::context_tokens() const { return impl_->sched.ctx(); }

uint64_t Engine::submit(GenRequest req) {
  Impl& im = *impl_;
  im.sched.check(req);  // reads only what the constructor set
  std::lock_guard lk(im.book.mu);
  if (!im.accepting) {
    ++im.book.stats.rejected_total;
    throw EngineBusy("the engine is shutting down");
  }
  if (int64_t(im.waiting.size()) >= im.sched.options().max_queue) {
    ++im.book.stats.rejected_total;
    throw EngineBusy(fmt::format("the queue is full ({} requests waiting); retry later", im.waiting.size()));
  }
  const uint64_t id = im.next_id++;
  im.waiting.push_back({id, std::move(req), now_seconds()});
  im.book.live.insert(id);
  ++im.book.stats.requests_total;
  im.cv.notify_one();
  return id;
}

void Engine::cancel(uint64_t id) {
  std::lock_guard lk(impl_->book.mu);
  if (impl_->book.live.count(id)) {
    impl_->cancel_ids.insert(id);
    impl_->cv.notify_one();
  }
}

EngineMetrics Engine::metrics() const {
  Impl& im = *impl_;
  std::lock_guard lk(im.book.mu);
  EngineMetrics m = snapshot(im.book);
  m.waiting = int64_t(im.waiting.size());
  m.kv_capacity_tokens = im.sched.options().max_batch * im.sched.ctx();
  return m;
}

void Engine::update_weights(const std::function<void()>& fn) {
  Impl& im = *impl_;
  if (std::this_thread::get_id() == im.thread_id) return im.sched.update_weights(fn);  // from on_event
  auto task = std::make_shared<WeightUpdate>();
  task->fn = fn;
  std::future<void> done = task->done.get_future();
  {
    std::unique_lock lk(im.book.mu);
    if (!im.exited) {
      im.updates.push_back(task);
      im.cv.notify_one();
      lk.unlock();
      return done.get();  // rethrows what fn threw
    }
  }
  std::lock_guard dl(im.direct_mu);  // the scheduler thread is gone: nothing else uses the model
  im.sched.update_weights(fn);
}

void Engine::shutdown(bool cancel_running) {
  Impl& im = *impl_;
  {
    std::lock_guard lk(im.book.mu);
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
      sched.fail_all(std::string("engine error: ") + e.what());
    }
  }
}

bool Engine::Impl::iteration() {
  std::vector<Pending> admitted, dropped;
  std::deque<std::shared_ptr<WeightUpdate>> todo;
  {
    std::unique_lock lk(book.mu);
    cv.wait(lk, [&] { return stopping || !waiting.empty() || !sched.idle() || !updates.empty(); });
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
    sched.mark_cancel([&](uint64_t id) { return cancel_all || cancel_ids.count(id) > 0; });
    cancel_ids.clear();  // everything named was waiting, running or already finished
    todo.swap(updates);
    while (sched.n_running() + int64_t(admitted.size()) < sched.options().max_batch && !waiting.empty()) {
      admitted.push_back(std::move(waiting.front()));
      waiting.pop_front();
    }
    book.stats.running += int64_t(admitted.size());
    if (stopping && waiting.empty() && sched.idle() && admitted.empty() && dropped.empty() && todo.empty()) {
      exited = true;  // update_weights() now runs on its caller's thread
      return false;
    }
  }
  for (auto& p : dropped) sched.end_pending(p.id, p.req, FinishReason::kCancelled, false);
  sched.cancel_marked();
  for (auto& u : todo) {
    try {
      sched.update_weights(u->fn);
      u->done.set_value();
    } catch (...) {
      u->done.set_exception(std::current_exception());
    }
  }
  for (auto& p : admitted) sched.admit(p.id, std::move(p.req), p.arrival);
  sched.step();
  // Free finished sequences (and their caches) before the next step; publish the gauges.
  const int64_t kv = sched.sweep();
  std::lock_guard lk(book.mu);
  book.stats.kv_used_tokens = kv;
  book.stats.prefix_cache_tokens = sched.prefix_tokens();
  return true;
}

}  // namespace frugal
