#include "serve/http_head.h"
#include "core/strings.h"

#include <cctype>
#include <charconv>

namespace frugal::serve {

namespace {

// RFC 9110 token characters (method and field names).
bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s)
    if (!(std::isalnum(c) || std::string_view("!#$%&'*+-.^_`|~").find(char(c)) != std::string_view::npos))
      return false;
  return true;
}

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

const std::string* RequestHead::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return &v;
  return nullptr;
}

bool RequestHead::has_body() const {
  if (header("Transfer-Encoding")) return true;
  const std::string* cl = header("Content-Length");
  if (!cl) return false;
  uint64_t n = 0;
  auto [p, ec] = std::from_chars(cl->data(), cl->data() + cl->size(), n);
  return ec != std::errc() || p != cl->data() + cl->size() || n > 0;  // unparsable: assume a body
}

bool RequestHead::keep_alive() const {
  const std::string* c = header("Connection");
  if (version == "HTTP/1.1") return !(c && iequals(*c, "close"));
  return c && iequals(*c, "keep-alive");
}

size_t find_head_end(std::string_view buf, size_t from) {
  const size_t start = from >= 3 ? from - 3 : 0;  // the terminator may straddle the old end
  const size_t at = buf.find("\r\n\r\n", start);
  return at == std::string_view::npos ? at : at + 4;
}

bool parse_head(std::string_view head, RequestHead& out) {
  out = RequestHead{};
  out.size = head.size();
  size_t eol = head.find("\r\n");
  if (eol == std::string_view::npos) return false;
  const std::string_view line = head.substr(0, eol);
  const size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) return false;
  out.method = line.substr(0, sp1);
  out.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  out.version = line.substr(sp2 + 1);
  if (!is_token(out.method) || out.target.empty() || out.target.find(' ') != std::string::npos ||
      (out.version != "HTTP/1.1" && out.version != "HTTP/1.0"))
    return false;
  out.path = out.target.substr(0, out.target.find('?'));
  size_t pos = eol + 2;
  while (pos < head.size()) {
    eol = head.find("\r\n", pos);
    if (eol == std::string_view::npos) return false;
    const std::string_view field = head.substr(pos, eol - pos);
    pos = eol + 2;
    if (field.empty()) break;  // the blank line
    const size_t colon = field.find(':');
    if (colon == std::string_view::npos || !is_token(field.substr(0, colon))) return false;
    out.headers.emplace_back(std::string(field.substr(0, colon)), std::string(trim(field.substr(colon + 1), " \t")));
  }
  return true;
}

}  // namespace frugal::serve
