// What the server lets in (docs/serving.md, Resource model): Host and Origin checks, CORS for
// configured origins, JSON bodies read with a cap, and the probes the front door answers itself.
//
// The body cap: cpp-httplib 0.11 checks set_payload_max_length only against a Content-Length
// header; a chunked body, one without a length, or a compressed one (it inflates gzip, deflate and
// br on the fly) is appended to Request::body without any bound. So every JSON route is a
// content-reader route: cpp-httplib hands us the decoded body in pieces of at most 16 KiB, and our
// receiver stops the read at the first byte past --max-body-bytes. Other methods with a body
// are refused before routing, because cpp-httplib would read their bodies unbounded too.
#include <charconv>

#include "core/error.h"
#include "serve/http_conn.h"
#include "serve/http_server_impl.h"
#include "serve/openai_fields.h"
#include "serve/openai_response.h"

namespace frugal::serve {

namespace {

constexpr const char* kJsonRoutes[] = {"/v1/chat/completions", "/v1/completions", "/tokenize", "/detokenize",
                                       "/apply-template"};
constexpr const char* kGetRoutes[] = {"/", "/health", "/ready", "/metrics", "/v1/models"};

bool is_json_route(const std::string& path) {
  for (const char* r : kJsonRoutes)
    if (path == r) return true;
  return false;
}

bool is_get_route(const std::string& path) {
  for (const char* r : kGetRoutes)
    if (path == r) return true;
  return path.rfind("/v1/models/", 0) == 0;
}

const std::string* header_of(const httplib::Request& req, const char* name, std::string& storage) {
  if (!req.has_header(name)) return nullptr;
  storage = req.get_header_value(name);
  return &storage;
}

}  // namespace

void HttpServer::Impl::post_json(const std::string& pattern, Handler fn) {
  svr.Post(pattern, [this, fn](const httplib::Request& req, httplib::Response& res, const httplib::ContentReader& r) {
    guarded(res, [&] {
      read_json_body(req, r);
      fn(req, res);
    });
  });
}

void HttpServer::Impl::read_json_body(const httplib::Request& req, const httplib::ContentReader& reader) {
  const std::string type = req.get_header_value("Content-Type");
  if (!is_json_content_type(type)) {
    metrics.rejected("media_type");
    throw ApiError(415, "invalid_request_error",
                   type.empty() ? "the request body must be JSON, sent with 'Content-Type: application/json'"
                                : fmt::format("the request body must be JSON, sent with 'Content-Type: "
                                              "application/json', not '{}'",
                                              type.substr(0, 200)),
                   "", "unsupported_media_type");
  }
  const std::string encoding = req.get_header_value("Content-Encoding");
  if (req.get_header_value_count("Content-Encoding") > 1 || !is_known_content_encoding(encoding)) {
    metrics.rejected("media_type");
    throw ApiError(415, "invalid_request_error",
                   fmt::format("unsupported Content-Encoding '{}' (gzip, deflate, br or none)", encoding.substr(0, 200)),
                   "", "unsupported_media_type");
  }
  const int64_t cap = opt.limits.max_body_bytes;
  auto too_large = [&] {
    metrics.rejected("too_large");
    return ApiError(413, "invalid_request_error",
                    fmt::format("the request body is larger than {} bytes (--max-body-bytes; a compressed body "
                                "counts as its decompressed size)",
                                cap),
                    "", "request_too_large");
  };
  const bool has_te = req.has_header("Transfer-Encoding");
  if (has_te && !iequals(req.get_header_value("Transfer-Encoding"), "chunked"))
    throw ApiError(400, "invalid_request_error", "unsupported Transfer-Encoding (only chunked is accepted)");
  std::string body;
  if (!has_te && req.has_header("Content-Length")) {
    const std::string cl = req.get_header_value("Content-Length");
    uint64_t n = 0;
    auto [p, ec] = std::from_chars(cl.data(), cl.data() + cl.size(), n);
    if (ec != std::errc() || p != cl.data() + cl.size())
      throw ApiError(400, "invalid_request_error", "the Content-Length header is not a number");
    if (n > uint64_t(cap)) throw too_large();  // refused before a byte of it is read
  } else if (!has_te) {
    // No length and not chunked: HTTP/1.1 says there is no body (cpp-httplib would read to EOF).
    if (ConnContext* c = current_conn()) c->body_read = true;
    const_cast<httplib::Request&>(req).body.clear();
    return;
  }
  bool over = false;
  const bool ok = reader([&](const char* data, size_t n) {
    if (int64_t(body.size() + n) > cap) {
      over = true;  // stop reading: nothing past the cap is ever buffered
      return false;
    }
    body.append(data, n);
    return true;
  });
  if (over) throw too_large();
  if (!ok)
    throw ApiError(400, "invalid_request_error",
                   fmt::format("the request body could not be read: it was cut short, did not arrive within {} s "
                               "(--body-timeout), or its chunked or compressed encoding is malformed",
                               opt.body_timeout));
  if (ConnContext* c = current_conn()) c->body_read = true;
  // cpp-httplib's Request is not const; only the handler's view of it is. The routes read req.body.
  const_cast<httplib::Request&>(req).body = std::move(body);
}

bool HttpServer::Impl::admit(const httplib::Request& req, httplib::Response& res) {
  std::string host_v, origin_v;
  const std::string* host = header_of(req, "Host", host_v);
  const std::string* origin = header_of(req, "Origin", origin_v);
  if (auto e = check_access(access, host, origin)) {
    metrics.rejected(e->code == "host_not_allowed" ? "host" : "origin");
    send_error(res, *e);
    return false;
  }
  if (req.method == "OPTIONS") {  // a CORS preflight (a foreign origin was refused above)
    res.status = 204;
    res.set_header("Allow", "GET, POST, OPTIONS");
    if (origin) {
      res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
      res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
      res.set_header("Access-Control-Max-Age", "600");
    }
    return false;
  }
  if (req.method != "GET" && req.method != "HEAD" && !(req.method == "POST" && is_json_route(req.path))) {
    const bool known = is_json_route(req.path) || is_get_route(req.path);
    send_error(res, known ? ApiError(405, "invalid_request_error",
                                     fmt::format("{} is not allowed on {}", req.method, req.path), "",
                                     "method_not_allowed")
                          : ApiError(404, "not_found_error", fmt::format("no route {} {}", req.method, req.path), "",
                                     "not_found"));
    return false;
  }
  return authorized(req, res);
}

void HttpServer::Impl::finish_headers(const httplib::Request& req, httplib::Response& res) {
  if (ConnContext* c = current_conn(); c && c->must_close()) {
    // The body was not read (refused first): the connection cannot carry another request.
    res.headers.erase("Connection");
    res.headers.erase("Keep-Alive");
    res.set_header("Connection", "close");
  }
  const std::string origin = req.get_header_value("Origin");
  if (!origin.empty() && cors_origin_allowed(access, origin)) {
    res.set_header("Access-Control-Allow-Origin", origin);
    res.set_header("Vary", "Origin");
  }
}

std::optional<FastReply> HttpServer::Impl::probe(const RequestHead& h) {
  if ((h.method != "GET" && h.method != "HEAD") || (h.path != "/health" && h.path != "/ready")) return std::nullopt;
  std::optional<ApiError> e = check_access(access, h.header("Host"), h.header("Origin"));
  FastReply r;
  if (!e && h.path == "/health") {
    r.body = R"({"status":"ok"})";
  } else if (!e) {
    auto m = get_model();
    if (draining || !get_backend() || !m) {
      e = ApiError(503, "unavailable_error", draining ? "the server is shutting down" : "the model is loading", "",
                   "model_not_ready");
      e->retry_after_s = opt.retry_after_s;
    } else {
      r.body = dump_json(ojson{{"status", "ready"}, {"model", m->name}});
    }
  }
  if (e) {
    r.status = e->status;
    r.body = dump_json(e->to_json());
    if (e->retry_after_s > 0) r.headers.emplace_back("Retry-After", std::to_string(e->retry_after_s));
  }
  metrics.request(h.path, r.status);
  if (opt.log_requests) std::fprintf(stderr, "%s %s (probe) -> %d\n", h.method.c_str(), h.path.c_str(), r.status);
  return r;
}

}  // namespace frugal::serve
