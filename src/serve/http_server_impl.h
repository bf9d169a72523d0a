// Internal state of HttpServer, shared by http_server.cpp (routes, lifecycle), http_admission.cpp
// (what is let in: access checks, JSON bodies, the probes) and http_generate.cpp (the generation
// endpoints).
#pragma once
#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "serve/http_front.h"
#include "serve/http_guard.h"
#include "serve/http_lib.h"
#include "serve/http_metrics.h"
#include "serve/http_server.h"
#include "serve/openai_error.h"

namespace frugal::serve {

// cpp-httplib's router and request processing, driven by our front door instead of its own accept
// loop: process_request (protected) serves one request from a stream we provide.
class RoutedServer : public httplib::Server {
 public:
  using httplib::Server::process_request;
  int listener() const { return svr_sock_; }
  // Also tells cpp-httplib's content providers that the server is shutting down.
  void close_listener();
};

struct HttpServer::Impl {
  explicit Impl(ServerOptions o) : opt(std::move(o)) {}

  ServerOptions opt;
  AccessPolicy access;
  RoutedServer svr;
  std::unique_ptr<FrontDoor> front;
  int port = -1;
  HttpMetrics metrics;

  mutable std::mutex mu;  // guards model, backend
  std::shared_ptr<const ServedModel> model;
  GenerationBackend* backend = nullptr;

  std::atomic<bool> draining{false};   // refuse new generations
  std::atomic<bool> abort_all{false};  // end running generations now
  std::atomic<int64_t> active{0};      // generation handlers in flight
  std::atomic<bool> stopped{false};

  std::shared_ptr<const ServedModel> get_model() const {
    std::lock_guard<std::mutex> lock(mu);
    return model;
  }
  GenerationBackend* get_backend() const {
    std::lock_guard<std::mutex> lock(mu);
    return backend;
  }

  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

  void routes();
  // Runs `fn`; an ApiError or other exception becomes an error answer in OpenAI's envelope.
  void guarded(httplib::Response& res, const std::function<void()>& fn);
  // POST `pattern` with a JSON body: 415 unless Content-Type is application/json, 413 past
  // --max-body-bytes however the body is framed or compressed; `fn` finds the body in req.body.
  void post_json(const std::string& pattern, Handler fn);
  void read_json_body(const httplib::Request& req, const httplib::ContentReader& reader);
  // Before routing: Host / Origin, CORS preflight, methods with bodies, API key. False: answered.
  bool admit(const httplib::Request& req, httplib::Response& res);
  // After routing, on every answer: Connection: close when the body was left unread, CORS headers.
  void finish_headers(const httplib::Request& req, httplib::Response& res);
  // GET /health and /ready, answered by the front door itself.
  std::optional<FastReply> probe(const RequestHead& head);
  // POST /v1/chat/completions and /v1/completions.
  void handle_generate(const httplib::Request& req, httplib::Response& res, Endpoint endpoint);
  void send_error(httplib::Response& res, const ApiError& e);
  bool authorized(const httplib::Request& req, httplib::Response& res);
};

// The key of an "Authorization: Bearer KEY" header ("" without one).
std::string bearer_key(const httplib::Request& req);

// The JSON body of a response.
void set_json(httplib::Response& res, int status, const std::string& body);

}  // namespace frugal::serve
