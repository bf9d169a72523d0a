// Who may talk to the server from a browser, and what a JSON route accepts
// (docs/serving.md, Resource model).
//
// DNS rebinding: a web page on evil.example can make its own name resolve to 127.0.0.1 and then
// read a local server's answers as same-origin. The browser still sends "Host: evil.example", so
// the server answers only Host names it knows: localhost names, IP literals (a literal cannot be
// rebound), the name it was bound to and the configured ones. Cross-site requests from pages the
// browser does show (CSRF) carry an Origin header: it must be the server's own origin (the chat
// page at /) or a configured one. Clients that are not browsers send no Origin and pass.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "serve/openai_error.h"

namespace frugal::serve {

struct AccessPolicy {
  std::string bind_host;                     // --host: its own name is always allowed
  std::vector<std::string> allowed_hosts;    // more Host names; "*" any; "*.lan" any subdomain of lan
  std::vector<std::string> allowed_origins;  // more origins ("http://app.lan:3000"); "*" any
};

// nullopt when the request may proceed; else 421 (Host not served) or 403 (foreign Origin).
// A missing header (nullptr) passes: browsers always send Host, and Origin on every cross-site request.
std::optional<ApiError> check_access(const AccessPolicy& p, const std::string* host, const std::string* origin);

// An Origin allowed by the configuration (not merely same-origin): such a page also gets the
// CORS headers that let its scripts read the answer.
bool cors_origin_allowed(const AccessPolicy& p, std::string_view origin);

// The name of a Host header value: lowercase, without port, brackets or a trailing dot; "" when
// the value is not a host[:port] at all.
std::string host_name(std::string_view host_header);

// application/json, optionally with parameters; a charset parameter must be utf-8.
bool is_json_content_type(std::string_view content_type);

// The Content-Encodings cpp-httplib decodes (identity, gzip, deflate, br); anything else is a 415.
bool is_known_content_encoding(std::string_view encoding);

// "a, b ,c" -> {"a", "b", "c"} (empty items dropped).
std::vector<std::string> split_list(std::string_view s);

}  // namespace frugal::serve
