// Shared by the HTTP/OpenAI-layer tests: the byte-level test tokenizers (tests/data/serve), a
// ServedModel built from them, a scripted GenerationBackend standing in for the engine, an
// in-process server on a free loopback port, and an SSE parser.
#pragma once
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/file.h"
#include "serve/http_backend.h"
#include "serve/http_lib.h"
#include "serve/http_server.h"
#include "serve/openai_model.h"

namespace frugal::test {

inline const std::string kServeData = FRUGAL_TEST_DATA "/serve";

// The byte tokenizer (ids 0-15 DeepSeek specials, BOS 0, EOS 1; 240 byte tokens) with the V3
// ("byte_v3") or an R1-style ("byte_r1") chat template; vocab and context 256 like the fixtures.
inline std::shared_ptr<serve::ServedModel> make_test_model(const std::string& variant = "byte_v3",
                                                          int64_t ctx = 256) {
  auto m = std::make_shared<serve::ServedModel>();
  const std::string dir = kServeData + "/" + variant;
  m->name = "micro";
  m->tokenizer = std::make_shared<const Tokenizer>(Tokenizer::load(dir));
  m->tokenizer_config = TokenizerConfig::load(dir);
  m->vocab_size = 256;
  m->ctx = ctx;
  m->eos_ids = {1};
  m->special_strings = serve::added_token_strings(read_file(dir + "/tokenizer.json"));
  serve::finish_served_model(*m, serve::ReasoningParser::kAuto);
  return m;
}

// Stands in for the engine: each request plays a script of token ids on its own thread, honouring
// max_tokens, stop ids, cancel() and on_event returning false, and ends with exactly one final event.
class FakeBackend : public serve::GenerationBackend {
 public:
  struct Record {
    GenRequest req;  // without on_event
    FinishReason finish = FinishReason::kNone;
    bool cancelled = false;  // by cancel() or on_event returning false
    int events = 0;
  };

  // Tokens to play for a request (default: empty, i.e. an immediate EOS).
  std::function<std::vector<int32_t>(const GenRequest&)> script;
  int delay_ms = 0;          // between tokens
  int first_delay_ms = 0;    // before the first token ("prefill")
  std::atomic<bool> busy{false};  // submit() throws EngineBusy

  ~FakeBackend() override { join(); }

  void join() {
    std::vector<std::thread> ts;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ts.swap(threads_);
    }
    for (auto& t : ts) t.join();
  }

  uint64_t submit(GenRequest req) override {
    if (busy) throw EngineBusy("queue full");
    std::lock_guard<std::mutex> lock(mu_);
    const uint64_t id = next_id_++;
    Record rec;
    rec.req = req;
    rec.req.on_event = nullptr;
    records_[id] = rec;
    cancel_[id] = std::make_shared<std::atomic<bool>>(false);
    std::vector<int32_t> tokens = script ? script(req) : std::vector<int32_t>{1};
    threads_.emplace_back([this, id, req = std::move(req), tokens = std::move(tokens), flag = cancel_[id]] {
      play(id, req, tokens, *flag);
    });
    return id;
  }
  void cancel(uint64_t id) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = cancel_.find(id); it != cancel_.end()) *it->second = true;
  }
  EngineMetrics metrics() const override {
    EngineMetrics m;
    std::lock_guard<std::mutex> lock(mu_);
    m.requests_total = int64_t(records_.size());
    m.ttft_buckets = {0.1, 1};
    m.ttft_counts = {1, 2};
    m.ttft_count = 2;
    return m;
  }

  std::map<uint64_t, Record> records() const {
    std::lock_guard<std::mutex> lock(mu_);
    return records_;
  }
  // Waits until every submitted request got its final event.
  bool wait_all_final(int timeout_ms = 5000) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms), [&] {
      for (const auto& [id, r] : records_)
        if (r.finish == FinishReason::kNone) return false;
      return true;
    });
  }

 private:
  void finish(uint64_t id, FinishReason f, bool cancelled) {
    std::lock_guard<std::mutex> lock(mu_);
    records_[id].finish = f;
    records_[id].cancelled = cancelled;
    cv_.notify_all();
  }

  void play(uint64_t id, const GenRequest& req, const std::vector<int32_t>& tokens, std::atomic<bool>& cancelled) {
    if (first_delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(first_delay_ms));
    int64_t n = 0;
    for (size_t k = 0;; ++k) {
      if (cancelled) {
        TokenEvent ev;
        ev.finish = FinishReason::kCancelled;
        req.on_event(ev);
        return finish(id, FinishReason::kCancelled, true);
      }
      TokenEvent ev;
      ev.prompt_tokens = int64_t(req.prompt.size());
      if (k >= tokens.size()) {  // script over: stop
        ev.finish = FinishReason::kStop;
        ev.completion_tokens = n;
        req.on_event(ev);
        return finish(id, FinishReason::kStop, false);
      }
      ev.token = tokens[k];
      ev.logprob = -0.25f * float(k + 1);
      for (int j = 0; j < req.top_logprobs; ++j) ev.top_logprobs.emplace_back((ev.token + j) % 256, ev.logprob - float(j));
      ++n;
      ev.completion_tokens = n;
      const bool stop = std::find(req.stop_ids.begin(), req.stop_ids.end(), ev.token) != req.stop_ids.end();
      if (stop) ev.finish = FinishReason::kStop;
      else if (n >= req.max_tokens) ev.finish = FinishReason::kLength;
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++records_[id].events;
      }
      const bool go_on = req.on_event(ev);
      if (ev.finish != FinishReason::kNone) return finish(id, ev.finish, false);
      if (!go_on) {
        TokenEvent end;
        end.finish = FinishReason::kCancelled;
        req.on_event(end);
        return finish(id, FinishReason::kCancelled, true);
      }
      if (delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    }
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, Record> records_;
  std::map<uint64_t, std::shared_ptr<std::atomic<bool>>> cancel_;
  std::vector<std::thread> threads_;
};

// The server in-process on a free loopback port, with a FakeBackend.
struct TestServer {
  explicit TestServer(std::shared_ptr<serve::ServedModel> m = make_test_model(), serve::ServerOptions opt = {},
                      bool ready = true)
      : model(std::move(m)) {
    opt.host = "127.0.0.1";
    opt.port = 0;
    if (opt.threads == 0) opt.threads = 16;
    opt.poll_seconds = 0.01;
    server = std::make_unique<serve::HttpServer>(opt);
    port = server->bind();
    server->start();
    server->set_model(model);
    if (ready) server->set_backend(&backend);
  }
  ~TestServer() {
    server->shutdown(0);
    backend.join();
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(10, 0);
    return c;
  }
  // Tokens of `text` in the test tokenizer (to script the fake).
  std::vector<int32_t> ids(const std::string& text) const { return model->tokenizer->encode(text, false); }

  std::shared_ptr<serve::ServedModel> model;
  FakeBackend backend;
  std::unique_ptr<serve::HttpServer> server;
  int port = 0;
};

// The `data:` payloads of an SSE body, in order ("[DONE]" included).
inline std::vector<std::string> sse_data(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) end = body.size();
    const std::string event = body.substr(pos, end - pos);
    if (event.rfind("data: ", 0) == 0) out.push_back(event.substr(6));
    pos = end + 2;
  }
  return out;
}

}  // namespace frugal::test
