// The OpenAI-compatible HTTP server (cpp-httplib): routes, API key, limits, SSE streaming,
// readiness and graceful shutdown. No model logic: generation goes through a GenerationBackend,
// and the model's tokenizer/template through a ServedModel.
//
// Routes: POST /v1/chat/completions, POST /v1/completions, GET /v1/models[/{id}], GET /health,
// GET /ready, GET /metrics, GET / (the chat page), POST /tokenize, /detokenize, /apply-template.
// /health, /ready and / need no key; everything else does when keys are set. Connections go
// through a front door (http_front.h) that caps them, times out slow clients and answers /health
// and /ready without waiting for a worker; POST bodies must be JSON and are read with a cap that
// holds for every transfer and content encoding (docs/serving.md, Resource model).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "serve/http_backend.h"
#include "serve/openai_model.h"
#include "serve/openai_request.h"

namespace frugal::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback unless told otherwise
  int port = 8080;                 // 0: any free port (tests)
  std::vector<std::string> api_keys;  // empty: no authentication
  RequestLimits limits;
  int threads = 0;                 // HTTP worker threads; 0: max_batch + max_queue + 16
  // The connection side of docs/serving.md, Resource model (the request side is in `limits`).
  int64_t max_connections = 256;   // open connections; beyond them a quick 503
  double header_timeout = 10;      // seconds for a request head to arrive
  double idle_timeout = 5;         // seconds a kept-alive connection waits for its next request
  double body_timeout = 30;        // seconds for a request body to arrive
  double write_timeout = 30;       // seconds a write may stall before the client is dropped
  std::vector<std::string> allowed_hosts;    // Host names beyond localhost, IP literals and `host`
  std::vector<std::string> allowed_origins;  // browser origins beyond the server's own
  int64_t max_batch = 8, max_queue = 64;  // the engine's, to size the thread pool
  int retry_after_s = 1;           // Retry-After on 503
  double poll_seconds = 0.05;      // how often a waiting handler checks for a gone client / shutdown
  double ping_seconds = 10;        // SSE comment line after this long without a chunk
  bool log_requests = false;       // one line per request on stderr
};

class HttpServer {
 public:
  static constexpr double kAbortSeconds = 2;  // after the drain: for cancelled handlers to answer

  explicit HttpServer(ServerOptions opt);
  ~HttpServer();  // shutdown(0) if still running
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port; returns the port (the chosen one for port 0). Throws frugal::Error (kIo).
  int bind();
  // Serves on a background thread (bind() first). /health answers at once; /ready is 503 until
  // set_backend; generation endpoints answer 503 until then, tokenizer endpoints until set_model.
  void start();
  void set_model(std::shared_ptr<const ServedModel> model);
  // The model is loaded and warmed up: /ready turns 200. The backend must outlive the server's use
  // of it (until shutdown() returns).
  void set_backend(GenerationBackend* backend);

  // Graceful stop: new generations get 503 at once; running ones may finish for drain_seconds, then
  // are cancelled (a stream gets an error event and data: [DONE], a waiting non-stream request a
  // 503); then the listener and every connection close, slow clients' included. Returns within
  // drain_seconds + kAbortSeconds + 1 s (plus any tokenizer call in progress). Idempotent.
  void shutdown(double drain_seconds);

  int port() const;
  bool ready() const;
  int64_t active_generations() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Constant-time comparison of a presented key with each configured key (CVE-2025-59425 class).
bool api_key_matches(const std::string& presented, const std::vector<std::string>& keys);

}  // namespace frugal::serve
