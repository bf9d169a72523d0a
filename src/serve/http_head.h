// The head of an HTTP/1.x request (request line and header fields), parsed from the bytes the
// front door has read. The front door only needs a few facts from it: where the head ends, the
// method and path (to answer /health and /ready itself), the framing of the body and whether the
// client keeps the connection. Everything else, and the final word on malformed requests, is
// cpp-httplib's, which parses the same bytes again on a worker.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace frugal::serve {

struct RequestHead {
  std::string method, target, version;  // "GET", "/ready?x=1", "HTTP/1.1"
  std::string path;                     // target up to '?'
  std::vector<std::pair<std::string, std::string>> headers;  // as sent, values trimmed
  size_t size = 0;                      // bytes of the head, the blank line included

  // The first value of a field (case-insensitive name), or nullptr.
  const std::string* header(std::string_view name) const;
  // Content-Length > 0, or any Transfer-Encoding: bytes follow the head.
  bool has_body() const;
  // HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with "Connection: keep-alive".
  bool keep_alive() const;
};

// The offset just past the "\r\n\r\n" that ends the head, or npos. `from` is where the previous
// search stopped (bytes before it held no terminator), so a head that arrives one byte at a time
// is scanned once overall.
size_t find_head_end(std::string_view buf, size_t from = 0);

// Parses a complete head (through its blank line). False when the request line or a field is
// malformed; the caller then lets cpp-httplib answer 400.
bool parse_head(std::string_view head, RequestHead& out);

bool iequals(std::string_view a, std::string_view b);

}  // namespace frugal::serve
