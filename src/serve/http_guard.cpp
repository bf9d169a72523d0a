#include "serve/http_guard.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

#include "serve/http_head.h"
#include "core/strings.h"

namespace frugal::serve {

namespace {

std::string lower(std::string_view s) {
  std::string r(s);
  for (char& c : r) c = char(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

bool is_ip_literal(const std::string& name) {
  unsigned char buf[16];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

bool host_allowed(const AccessPolicy& p, const std::string& name) {
  if (name.empty()) return false;
  if (name == "localhost" || name.ends_with(".localhost") || is_ip_literal(name)) return true;
  if (name == host_name(p.bind_host)) return true;
  for (const std::string& a : p.allowed_hosts) {
    const std::string want = lower(a);
    if (want == "*" || want == name) return true;
    if (want.rfind("*.", 0) == 0 && name.ends_with(want.substr(1))) return true;
  }
  return false;
}

}  // namespace

std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    const size_t comma = s.find(',');
    const std::string_view item = trim(s.substr(0, comma));
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

std::string host_name(std::string_view h) {
  h = trim(h);
  std::string_view name;
  if (!h.empty() && h.front() == '[') {  // [v6]:port
    const size_t close = h.find(']');
    if (close == std::string_view::npos) return "";
    name = h.substr(1, close - 1);
    h.remove_prefix(close + 1);
    if (!h.empty() && h.front() != ':') return "";
  } else {
    const size_t colon = h.find(':');
    name = h.substr(0, colon);
  }
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);  // "localhost." is localhost
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_' || c == ':')) return "";
  return lower(name);
}

bool cors_origin_allowed(const AccessPolicy& p, std::string_view origin) {
  const std::string o = lower(trim(origin));
  for (const std::string& a : p.allowed_origins) {
    std::string want = lower(a);
    while (!want.empty() && want.back() == '/') want.pop_back();
    if (want == "*" || want == o) return true;
  }
  return false;
}

std::optional<ApiError> check_access(const AccessPolicy& p, const std::string* host, const std::string* origin) {
  if (host && !host_allowed(p, host_name(*host)))
    return ApiError(421, "invalid_request_error",
                    "the Host header '" + std::string(host->substr(0, 200)) +
                        "' is not a name this server answers to; add it with --allowed-hosts",
                    "", "host_not_allowed");
  if (origin) {
    const std::string o = lower(trim(*origin));
    // The server's own origin: the chat page it serves at /.
    const bool same = host && (o == "http://" + lower(trim(*host)) || o == "https://" + lower(trim(*host)));
    if (!same && !cors_origin_allowed(p, o))
      return ApiError(403, "invalid_request_error",
                      "requests from the web origin '" + std::string(origin->substr(0, 200)) +
                          "' are not allowed; add it with --allowed-origins",
                      "", "origin_not_allowed");
  }
  return std::nullopt;
}

bool is_json_content_type(std::string_view ct) {
  const size_t semi = ct.find(';');
  if (lower(trim(ct.substr(0, semi))) != "application/json") return false;
  for (std::string_view rest = semi == std::string_view::npos ? "" : ct.substr(semi + 1); !rest.empty();) {
    const size_t next = rest.find(';');
    const std::string param = lower(trim(rest.substr(0, next)));
    if (param.rfind("charset=", 0) == 0) {
      std::string cs = param.substr(8);
      cs.erase(std::remove(cs.begin(), cs.end(), '"'), cs.end());
      if (cs != "utf-8" && cs != "utf8") return false;  // our JSON is UTF-8; another charset would be misread
    }
    if (next == std::string_view::npos) break;
    rest.remove_prefix(next + 1);
  }
  return true;
}

bool is_known_content_encoding(std::string_view e) {
  // Exactly the spellings cpp-httplib 0.11 acts on; "GZIP" or "gzip, br" would reach us undecoded.
  return e.empty() || e == "identity" || e == "gzip" || e == "deflate" || e == "br";
}

}  // namespace frugal::serve
