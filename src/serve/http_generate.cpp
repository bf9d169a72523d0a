// POST /v1/chat/completions and /v1/completions: validate, submit one engine request per choice,
// then turn token events into a JSON response or an SSE stream.
//
// Threads: the engine calls on_event on its own thread; the callback only queues the event (it
// must never block the batch), and the HTTP worker thread that owns the request does everything
// else (detokenizing, stop strings, JSON, writing). While waiting it polls the socket, so a client
// that goes away is noticed within poll_seconds even when nothing is being written, and its
// engine requests are cancelled at once (the callback also starts returning false). A request that
// runs past --request-timeout ends the same way, with a 504 (or, in a stream, a 504 error event).
#include <chrono>
#include <deque>
#include <functional>

#include "core/error.h"
#include "serve/http_server_impl.h"
#include "serve/http_conn.h"
#include "serve/openai_choice.h"
#include "serve/openai_response.h"
#include "serve/request_budget.h"

namespace frugal::serve {

namespace {

using Clock = std::chrono::steady_clock;

// What the engine thread touches: a queue and per-choice "stop calling me" flags. It holds nothing
// else, so dropping the last reference on the engine thread has no side effects.
struct Channel {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::pair<int, TokenEvent>> events;  // (choice, event)
  std::vector<char> engine_done;                  // per choice: no more callbacks wanted
};

struct Session {
  HttpServer::Impl& srv;
  GenerationBackend* backend;
  std::shared_ptr<const ServedModel> model;
  std::unique_ptr<ParsedRequest> req;
  ResponseMeta meta;
  Clock::time_point arrival, deadline;
  int fd = -1;
  bool timed_out = false;

  std::shared_ptr<Channel> ch = std::make_shared<Channel>();
  std::vector<uint64_t> ids;
  std::vector<ChoiceOutput> choices;
  bool gone = false;

  Session(HttpServer::Impl& s, GenerationBackend* b)
      : srv(s), backend(b), arrival(Clock::now()),
        deadline(arrival + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(s.opt.limits.request_timeout))) {
    ++srv.active;
  }
  ~Session() {
    cancel_all();  // whatever path ended the request, nothing keeps generating for it
    --srv.active;
  }

  void cancel(size_t i) {
    {
      std::lock_guard<std::mutex> lock(ch->mu);
      if (ch->engine_done[i]) return;
      ch->engine_done[i] = 1;
    }
    if (i < ids.size()) backend->cancel(ids[i]);
  }
  void cancel_all() {
    for (size_t i = 0; i < ch->engine_done.size(); ++i) cancel(i);
  }
  bool all_finished() const {
    for (const ChoiceOutput& c : choices)
      if (!c.finished()) return false;
    return true;
  }

  // emit(choice, delta, just_finished) writes what the client should get; false: the client is gone.
  using Emit = std::function<bool(int, const ChoiceDelta&, bool)>;
  // idle(): called after each quiet poll interval; false: the client is gone.
  bool pump(const Emit& emit, const std::function<bool()>& idle) {
    const auto interval = std::chrono::duration<double>(srv.opt.poll_seconds);
    auto last_check = Clock::now();
    while (!all_finished()) {
      std::deque<std::pair<int, TokenEvent>> batch;
      {
        std::unique_lock<std::mutex> lock(ch->mu);
        ch->cv.wait_for(lock, std::chrono::duration<double>(srv.opt.poll_seconds), [&] { return !ch->events.empty(); });
        batch.swap(ch->events);
      }
      for (auto& [i, ev] : batch) {
        ChoiceOutput& c = choices[size_t(i)];
        const bool was_finished = c.finished();
        ChoiceDelta d = c.on_event(ev);
        const bool just_finished = c.finished() && !was_finished;
        if (ev.finish != FinishReason::kNone) {
          std::lock_guard<std::mutex> lock(ch->mu);
          ch->engine_done[size_t(i)] = 1;
        }
        if (c.stop_matched()) cancel(size_t(i));  // a stop string: the engine must stop now
        if ((!d.empty() || just_finished) && !emit(i, d, just_finished)) return client_gone();
      }
      // Every poll interval, busy or not: is the client still there, is the server stopping?
      if (!batch.empty() && Clock::now() - last_check < interval) continue;
      last_check = Clock::now();
      if (peer_closed(fd)) return client_gone();
      const bool late = !timed_out && last_check >= deadline;
      if (srv.abort_all || late) {  // shutdown or past the deadline: end every choice now and tell the client
        timed_out = timed_out || (late && !srv.abort_all);
        const std::string why = timed_out ? deadline_message() : "the server is shutting down";
        for (ChoiceOutput& c : choices) {
          if (c.finished()) continue;
          ChoiceDelta d = c.finish_now(FinishReason::kCancelled, why);
          cancel(size_t(c.index()));
          if (!emit(c.index(), d, true)) return client_gone();
        }
      }
      if (idle && !idle()) return client_gone();
    }
    return true;
  }

  bool client_gone() {
    gone = true;
    cancel_all();
    srv.metrics.aborted();
    return false;
  }

  void count_finished() {
    const double e2e = std::chrono::duration<double>(Clock::now() - arrival).count();
    for (const ChoiceOutput& c : choices) {
      const std::string r = c.finish_reason();
      if (r == "stop" || r == "length" || r == "tool_calls") srv.metrics.finished(r, e2e);
    }
  }

  std::string deadline_message() const {
    return fmt::format("the request ran past its deadline of {} s (--request-timeout)", srv.opt.limits.request_timeout);
  }

  // The first choice that ended in an error or a cancellation, as an ApiError.
  std::optional<ApiError> failure() const {
    if (timed_out) return ApiError(504, "timeout_error", deadline_message(), "", "request_timeout");
    for (const ChoiceOutput& c : choices) {
      if (c.finish_reason() == "cancelled") {
        ApiError e(503, "unavailable_error", c.error().empty() ? "the request was cancelled" : c.error());
        e.retry_after_s = srv.opt.retry_after_s;
        return e;
      }
      if (c.finish_reason() == "error")
        return ApiError(500, "server_error", c.error().empty() ? "generation failed" : "generation failed: " + c.error());
    }
    return std::nullopt;
  }
};

void submit_all(const std::shared_ptr<Session>& s) {
  const ParsedRequest& pr = *s->req;
  s->ch->engine_done.assign(size_t(pr.n), 0);
  for (int64_t i = 0; i < pr.n; ++i) s->choices.emplace_back(pr, *s->model, int(i));
  for (int64_t i = 0; i < pr.n; ++i) {
    GenRequest g = pr.gen;
    g.sampling.seed = pr.gen.sampling.seed + uint64_t(i);  // n choices, n different samples
    g.on_event = [ch = s->ch, i](const TokenEvent& ev) {
      std::lock_guard<std::mutex> lock(ch->mu);
      if (ch->engine_done[size_t(i)]) return false;  // cancelled: client gone, stop string, shutdown
      ch->events.emplace_back(int(i), ev);
      ch->cv.notify_one();
      return true;
    };
    try {
      s->ids.push_back(s->backend->submit(std::move(g)));
    } catch (const EngineBusy& e) {
      s->cancel_all();
      s->srv.metrics.rejected("queue_full");
      ApiError err(503, "unavailable_error",
                   "the server is busy: its request queue is full (--max-queue); retry later", "", "queue_full");
      err.retry_after_s = s->srv.opt.retry_after_s;
      throw err;
    } catch (const Error& e) {
      s->cancel_all();
      if (e.kind() == ErrorKind::kInvalidArgument) bad_request("", "{}", e.what());
      throw;
    }
  }
}

void respond_whole(const std::shared_ptr<Session>& s, httplib::Response& res) {
  if (!s->pump([](int, const ChoiceDelta&, bool) { return true; }, nullptr)) return;  // nobody to answer
  if (auto e = s->failure()) {
    s->srv.send_error(res, *e);
    return;
  }
  s->count_finished();
  const Tokenizer& tok = *s->model->tokenizer;
  const ojson j = s->req->endpoint == Endpoint::kChat ? chat_completion_json(s->meta, s->choices, tok)
                                                      : completion_json(s->meta, s->choices, tok);
  set_json(res, 200, dump_json(j));
}

// The SSE stream: a role chunk per choice (chat), content/reasoning/tool-call deltas as they come,
// a finish chunk per choice, the usage chunk when asked, then data: [DONE].
bool stream_events(const std::shared_ptr<Session>& s, httplib::DataSink& sink) {
  const ParsedRequest& pr = *s->req;
  const bool chat = pr.endpoint == Endpoint::kChat;
  const Tokenizer& tok = *s->model->tokenizer;
  auto last_write = Clock::now();
  auto write = [&](const std::string& data) {
    last_write = Clock::now();
    return sink.write(data.data(), data.size());
  };
  auto with_usage = [&](ojson j) {
    if (pr.continuous_usage) j["usage"] = usage_json(s->choices);
    else if (pr.include_usage) j["usage"] = nullptr;
    return sse_event(j);
  };
  if (chat)
    for (int64_t i = 0; i < pr.n; ++i)
      if (!write(with_usage(chat_chunk_json(s->meta, int(i), ChoiceDelta{}, "", true, tok)))) return s->client_gone();
  bool failed = false;
  auto emit = [&](int i, const ChoiceDelta& d, bool finished) {
    if (failed) return true;
    if (!d.empty()) {
      const ojson j = chat ? chat_chunk_json(s->meta, i, d, "", false, tok) : completion_chunk_json(s->meta, i, d, "", tok);
      if (!write(with_usage(j))) return false;
    }
    if (!finished) return true;
    const std::string reason = s->choices[size_t(i)].finish_reason();
    if (reason == "cancelled" || reason == "error") {
      // After the stream started, an error is one error event and then [DONE] (docs/serving.md, Errors).
      failed = true;
      const ApiError e = *s->failure();
      s->cancel_all();
      for (ChoiceOutput& c : s->choices) c.finish_now(FinishReason::kCancelled);
      return write(sse_event(e.to_json()));
    }
    const ojson j = chat ? chat_chunk_json(s->meta, i, ChoiceDelta{}, reason, false, tok)
                         : completion_chunk_json(s->meta, i, ChoiceDelta{}, reason, tok);
    return write(with_usage(j));
  };
  auto idle = [&] {  // a comment line keeps proxies from timing out during a long prefill
    if (Clock::now() - last_write < std::chrono::duration<double>(s->srv.opt.ping_seconds)) return true;
    return write(": ping\n\n");
  };
  if (!s->pump(emit, idle)) return false;
  if (!failed) {
    s->count_finished();
    if (pr.include_usage && !write(sse_event(usage_chunk_json(s->meta, chat, s->choices)))) return s->client_gone();
  }
  if (!write(kSseDone)) return s->client_gone();
  sink.done();
  return true;
}

}  // namespace

void HttpServer::Impl::handle_generate(const httplib::Request& req, httplib::Response& res, Endpoint endpoint) {
  if (draining) {
    ApiError e(503, "unavailable_error", "the server is shutting down", "", "shutting_down");
    e.retry_after_s = opt.retry_after_s;
    throw e;
  }
  auto model = get_model();
  GenerationBackend* backend = get_backend();
  if (!model || !backend) {
    ApiError e(503, "unavailable_error", "the model is loading; retry when /ready answers 200", "", "model_not_ready");
    e.retry_after_s = opt.retry_after_s;
    throw e;
  }
  const ojson body = parse_body(req.body, opt.limits);
  auto s = std::make_shared<Session>(*this, backend);
  s->model = model;
  s->req = std::make_unique<ParsedRequest>(endpoint == Endpoint::kChat ? parse_chat_request(body, *model, opt.limits)
                                                                      : parse_completion_request(body, *model, opt.limits));
  apply_token_limits(body, *s->req, opt.limits);
  // Tenants do not share cached prefixes: a prefix-cache hit is visible in timing, so with API keys
  // each key gets its own namespace.
  if (!opt.api_keys.empty()) s->req->gen.prefix_salt = std::hash<std::string>{}(bearer_key(req)) | 1;
  s->meta.id = new_response_id(endpoint == Endpoint::kChat ? "chatcmpl-" : "cmpl-");
  s->meta.created = unix_now();
  s->meta.model = model->name;
  s->meta.reasoning = s->req->reasoning;
  if (ConnContext* c = current_conn(); c && c->conn) s->fd = c->conn->fd;  // polled for a client that left
  s->choices.reserve(size_t(s->req->n));
  submit_all(s);
  if (!s->req->stream) {
    respond_whole(s, res);
    return;
  }
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream", [s](size_t, httplib::DataSink& sink) { return stream_events(s, sink); },
      [s](bool) { s->cancel_all(); });
}

}  // namespace frugal::serve
