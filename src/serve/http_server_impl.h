// Internal state of HttpServer, shared by http_server.cpp (routes, lifecycle) and
// http_generate.cpp (the generation endpoints).
#pragma once
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "serve/http_lib.h"
#include "serve/http_metrics.h"
#include "serve/http_server.h"
#include "serve/openai_error.h"

namespace frugal::serve {

struct HttpServer::Impl {
  explicit Impl(ServerOptions o) : opt(std::move(o)) {}

  ServerOptions opt;
  httplib::Server svr;
  std::thread thread;
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

  void routes();
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
