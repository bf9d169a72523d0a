// HttpServer: lifecycle, authentication, error envelopes and the routes that do not generate.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <thread>

#include "core/error.h"
#include "serve/chat_page.h"
#include "serve/http_server_impl.h"
#include "serve/openai_fields.h"
#include "serve/openai_response.h"
#include "serve/openai_tokenize.h"

namespace frugal::serve {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kKeepAliveMax = 100;  // requests per connection before it is closed

// Routes named in metrics; anything else is "other" (so random paths cannot grow the label set).
std::string route_label(const std::string& path) {
  static const char* kRoutes[] = {"/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/ready",
                                  "/metrics", "/", "/tokenize", "/detokenize", "/apply-template"};
  for (const char* r : kRoutes)
    if (path == r) return r;
  if (path.rfind("/v1/models/", 0) == 0) return "/v1/models/{id}";
  return "other";
}

bool is_public(const std::string& path) { return path == "/health" || path == "/ready" || path == "/"; }

ApiError not_ready(const char* what, int retry_after_s) {
  ApiError e(503, "unavailable_error", what, "", "model_not_ready");
  e.retry_after_s = retry_after_s;
  return e;
}

}  // namespace

void set_json(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, "application/json");
}

bool api_key_matches(const std::string& presented, const std::vector<std::string>& keys) {
  // Time depends on the configured keys' lengths only, never on where the first mismatch is.
  bool any = false;
  for (const std::string& key : keys) {
    unsigned diff = presented.size() == key.size() ? 0u : 1u;
    for (size_t i = 0; i < key.size(); ++i) {
      const unsigned char p = presented.empty() ? 0 : static_cast<unsigned char>(presented[i % presented.size()]);
      diff |= p ^ static_cast<unsigned char>(key[i]);
    }
    any |= (diff == 0) & !key.empty();
  }
  return any;
}

void HttpServer::Impl::send_error(httplib::Response& res, const ApiError& e) {
  set_json(res, e.status, dump_json(e.to_json()));
  if (e.retry_after_s > 0) res.set_header("Retry-After", std::to_string(e.retry_after_s));
}

std::string bearer_key(const httplib::Request& req) {
  const std::string h = req.get_header_value("Authorization");
  const std::string prefix = "Bearer ";
  return h.rfind(prefix, 0) == 0 ? h.substr(prefix.size()) : std::string();
}

bool HttpServer::Impl::authorized(const httplib::Request& req, httplib::Response& res) {
  if (opt.api_keys.empty() || is_public(req.path)) return true;
  const std::string h = req.get_header_value("Authorization");
  if (api_key_matches(bearer_key(req), opt.api_keys)) return true;
  metrics.rejected("unauthorized");
  send_error(res, ApiError(401, "authentication_error",
                           h.empty() ? "missing API key: send 'Authorization: Bearer <key>'" : "invalid API key", "",
                           "invalid_api_key"));
  res.set_header("WWW-Authenticate", "Bearer");
  return false;
}

void HttpServer::Impl::guarded(httplib::Response& res, const std::function<void()>& fn) {
  // Every handler answers errors in OpenAI's envelope; an exception that escapes is a bug: 500.
  try {
    fn();
  } catch (const ApiError& e) {
    if (e.status == 400) metrics.rejected("invalid");
    send_error(res, e);
  } catch (const Error& e) {
    send_error(res, ApiError(e.kind() == ErrorKind::kInvalidArgument ? 400 : 500,
                             e.kind() == ErrorKind::kInvalidArgument ? "invalid_request_error" : "server_error",
                             e.what()));
  } catch (const std::exception& e) {
    send_error(res, ApiError(500, "server_error", std::string("internal error: ") + e.what()));
  }
}

void HttpServer::Impl::routes() {
  auto wrap = [this](Handler fn) {
    return [this, fn](const httplib::Request& req, httplib::Response& res) { guarded(res, [&] { fn(req, res); }); };
  };
  // GET /health and /ready: answered by the front door (probe()), never waiting for a worker.
  svr.Get("/", wrap([](const httplib::Request&, httplib::Response& res) {
    res.set_content(chat_page_html(), "text/html; charset=utf-8");
    // The page loads nothing from elsewhere, and the browser is told to refuse if it ever tried.
    res.set_header("Content-Security-Policy",
                   "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
                   "img-src data:; base-uri 'none'; form-action 'none'");
    res.set_header("X-Content-Type-Options", "nosniff");
  }));
  svr.Get("/metrics", wrap([this](const httplib::Request&, httplib::Response& res) {
    auto model = get_model();
    GenerationBackend* b = get_backend();
    EngineMetrics em;
    if (b) em = b->metrics();
    res.set_content(metrics.render(model ? model->name : "", b ? &em : nullptr), "text/plain; version=0.0.4");
  }));
  auto model_entry = [](const ServedModel& m) {
    return ojson{{"id", m.name},      {"object", "model"},          {"created", 0},
                 {"owned_by", "frugal"}, {"max_model_len", m.ctx}, {"meta", ojson(m.meta)}};
  };
  svr.Get("/v1/models", wrap([this, model_entry](const httplib::Request&, httplib::Response& res) {
    auto m = get_model();
    if (!m) throw not_ready("the model is loading", opt.retry_after_s);
    set_json(res, 200, dump_json(ojson{{"object", "list"}, {"data", ojson::array({model_entry(*m)})}}));
  }));
  svr.Get("/v1/models/(.+)", wrap([this, model_entry](const httplib::Request& req, httplib::Response& res) {
    auto m = get_model();
    if (!m) throw not_ready("the model is loading", opt.retry_after_s);
    if (req.matches[1] != m->name)
      throw ApiError(404, "not_found_error", fmt::format("the model '{}' does not exist", std::string(req.matches[1])),
                     "model", "model_not_found");
    set_json(res, 200, dump_json(model_entry(*m)));
  }));
  post_json("/tokenize", [this](const httplib::Request& req, httplib::Response& res) {
    auto m = get_model();
    if (!m) throw not_ready("the model is loading", opt.retry_after_s);
    res.status = 200;  // the body moved in, not copied: it can be tens of bytes per input byte
    res.body = tokenize_response(parse_body(req.body, opt.limits), *m, opt.limits.cancel);
    res.set_header("Content-Type", "application/json");
  });
  post_json("/detokenize", [this](const httplib::Request& req, httplib::Response& res) {
    auto m = get_model();
    if (!m) throw not_ready("the model is loading", opt.retry_after_s);
    set_json(res, 200, detokenize_response(parse_body(req.body, opt.limits), *m));
  });
  post_json("/apply-template", [this](const httplib::Request& req, httplib::Response& res) {
    auto m = get_model();
    if (!m) throw not_ready("the model is loading", opt.retry_after_s);
    set_json(res, 200, apply_template_response(parse_body(req.body, opt.limits), *m, opt.limits.cancel));
  });
  post_json("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    handle_generate(req, res, Endpoint::kChat);
  });
  post_json("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    handle_generate(req, res, Endpoint::kCompletions);
  });

  svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    return admit(req, res) ? httplib::Server::HandlerResponse::Unhandled : httplib::Server::HandlerResponse::Handled;
  });
  svr.set_post_routing_handler([this](const httplib::Request& req, httplib::Response& res) { finish_headers(req, res); });
  // Errors httplib produces itself (unknown route, oversized body, malformed request) get the envelope too.
  svr.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& req,
                                                                     httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    if (res.status == 404) {
      send_error(res, ApiError(404, "not_found_error", fmt::format("no route {} {}", req.method, req.path), "",
                               "not_found"));
    } else if (res.status == 413) {
      metrics.rejected("too_large");
      send_error(res, ApiError(413, "invalid_request_error",
                               fmt::format("the request body is larger than {} bytes (--max-body-bytes)",
                                           opt.limits.max_body_bytes),
                               "", "request_too_large"));
    } else {
      send_error(res, ApiError(res.status, res.status < 500 ? "invalid_request_error" : "server_error",
                               fmt::format("HTTP {}", res.status)));
    }
    return httplib::Server::HandlerResponse::Handled;
  }));
  svr.set_exception_handler([this](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(res, ApiError(500, "server_error", "internal error: " + what));
  });
  svr.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    metrics.request(route_label(req.path), res.status);
    if (opt.log_requests)
      std::fprintf(stderr, "%s %s %s:%d -> %d\n", req.method.c_str(), req.path.c_str(), req.remote_addr.c_str(),
                   req.remote_port, res.status);
  });
}

void RoutedServer::close_listener() {
  const socket_t sock = svr_sock_.exchange(INVALID_SOCKET);
  if (sock != INVALID_SOCKET) {
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
  }
}

HttpServer::HttpServer(ServerOptions opt) : impl_(std::make_unique<Impl>(std::move(opt))) {
  // A client that closes its socket mid-response must not kill the process with SIGPIPE (our
  // streams send with MSG_NOSIGNAL; this covers anything else that writes to a socket).
  std::signal(SIGPIPE, SIG_IGN);
  Impl& s = *impl_;
  s.opt.limits.cancel = &s.abort_all;  // shutdown's abort also ends chat-template renders
  s.access = AccessPolicy{s.opt.host, s.opt.allowed_hosts, s.opt.allowed_origins};
  // A declared Content-Length past the cap is refused by our reader before reading; this is
  // cpp-httplib's own check of the same header, kept as a second line.
  s.svr.set_payload_max_length(size_t(s.opt.limits.max_body_bytes));
  s.svr.set_keep_alive_timeout(time_t(std::max(1.0, s.opt.idle_timeout)));  // what its Keep-Alive header says
  s.svr.set_keep_alive_max_count(kKeepAliveMax);
  // httplib's default sets SO_REUSEPORT, which lets a second server bind the same port and silently
  // take half the connections. SO_REUSEADDR alone allows a quick restart but refuses a busy port.
  s.svr.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  s.routes();
}

HttpServer::~HttpServer() { shutdown(0); }

int HttpServer::bind() {
  Impl& s = *impl_;
  if (s.opt.port == 0) {
    s.port = s.svr.bind_to_any_port(s.opt.host);
    if (s.port < 0) fail(ErrorKind::kIo, "cannot bind {} (any port): {}", s.opt.host, std::strerror(errno));
  } else {
    if (!s.svr.bind_to_port(s.opt.host, s.opt.port))
      fail(ErrorKind::kIo, "cannot bind {}:{}: {} (is another server using the port?)", s.opt.host, s.opt.port,
           std::strerror(errno));
    s.port = s.opt.port;
  }
  // cpp-httplib 0.11 listens with a backlog of 5: a burst of clients would wait a second for a SYN
  // retry. Listening again only raises the backlog.
  ::listen(s.svr.listener(), SOMAXCONN);
  return s.port;
}

void HttpServer::start() {
  Impl& s = *impl_;
  FrontOptions fo;
  fo.max_connections = s.opt.max_connections;
  fo.workers = s.opt.threads > 0 ? s.opt.threads : int(s.opt.max_batch + s.opt.max_queue + 16);
  fo.header_timeout = s.opt.header_timeout;
  fo.idle_timeout = s.opt.idle_timeout;
  fo.body_timeout = s.opt.body_timeout;
  fo.write_stall = s.opt.write_timeout;
  // A worker's whole stay on one request: the body, the generation's deadline, the last writes.
  fo.request_seconds = s.opt.body_timeout + s.opt.limits.request_timeout + s.opt.write_timeout;
  fo.keep_alive_max = kKeepAliveMax;
  FrontHooks hooks;
  hooks.fast = [&s](const RequestHead& h) { return s.probe(h); };
  hooks.serve = [&s](httplib::Stream& strm, bool close, bool& closed) {
    return s.svr.process_request(strm, close, closed, nullptr);
  };
  hooks.rejected = [&s](const char* reason) { s.metrics.rejected(reason); };
  hooks.closing = [&s] { return s.draining.load(); };
  s.front = std::make_unique<FrontDoor>(s.svr.listener(), fo, std::move(hooks));
  s.front->start();
}

void HttpServer::set_model(std::shared_ptr<const ServedModel> model) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->model = std::move(model);
}

void HttpServer::set_backend(GenerationBackend* backend) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->backend = backend;
}

void HttpServer::shutdown(double drain_seconds) {
  Impl& s = *impl_;
  if (s.stopped.exchange(true)) return;
  s.draining = true;  // new generations get 503, connections close after their answer
  auto wait_idle = [&s](double seconds) {
    const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
    while (s.active > 0 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  };
  wait_idle(drain_seconds);
  if (s.active > 0) {
    s.abort_all = true;  // handlers end their choices and tell the client
    wait_idle(kAbortSeconds);
  }
  // Every connection closes now, a slow client's too: workers blocked on one see their socket fail.
  if (s.front) s.front->stop();
  s.svr.close_listener();
}

int HttpServer::port() const { return impl_->port; }
bool HttpServer::ready() const { return impl_->get_backend() != nullptr && !impl_->draining; }
int64_t HttpServer::active_generations() const { return impl_->active; }

}  // namespace frugal::serve
