// The front door's head parser and the access rules (Host, Origin, Content-Type), as plain
// functions; the same rules over sockets are in test_http_resources.cpp.
#include <gtest/gtest.h>

#include "serve/http_guard.h"
#include "serve/http_head.h"

namespace frugal::serve {
namespace {

TEST(HttpHead, FindsTheEndAcrossPieces) {
  const std::string head = "GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY";
  EXPECT_EQ(find_head_end(head), head.size() - 4);
  // Arriving a byte at a time, scanning only the new bytes (and the 3 before them) each time.
  size_t scanned = 0, found = std::string::npos;
  for (size_t n = 1; n <= head.size() && found == std::string::npos; ++n) {
    found = find_head_end(std::string_view(head).substr(0, n), scanned);
    scanned = n;
  }
  EXPECT_EQ(found, head.size() - 4);
  EXPECT_EQ(find_head_end("GET / HTTP/1.1\r\nHost: a\r\n"), std::string::npos);
}

TEST(HttpHead, Parses) {
  RequestHead h;
  ASSERT_TRUE(parse_head("POST /v1/completions?x=1 HTTP/1.1\r\nhost: a:1\r\nContent-Length:  12 \r\n\r\n", h));
  EXPECT_EQ(h.method, "POST");
  EXPECT_EQ(h.path, "/v1/completions");
  EXPECT_EQ(*h.header("HOST"), "a:1");
  EXPECT_TRUE(h.has_body());
  EXPECT_TRUE(h.keep_alive());
  ASSERT_TRUE(parse_head("GET / HTTP/1.0\r\nContent-Length: 0\r\n\r\n", h));
  EXPECT_FALSE(h.has_body());
  EXPECT_FALSE(h.keep_alive());  // HTTP/1.0 without keep-alive
  ASSERT_TRUE(parse_head("GET / HTTP/1.1\r\nConnection: Close\r\nTransfer-Encoding: chunked\r\n\r\n", h));
  EXPECT_FALSE(h.keep_alive());
  EXPECT_TRUE(h.has_body());
  ASSERT_TRUE(parse_head("POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", h));
  EXPECT_TRUE(h.has_body());  // a length we cannot read: treat as a body
  for (const char* bad : {"GET /\r\n\r\n", "GET  HTTP/1.1\r\n\r\n", "GET / HTTP/2\r\n\r\n", "G(T / HTTP/1.1\r\n\r\n",
                          "GET / HTTP/1.1\r\nno colon\r\n\r\n", "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"})
    EXPECT_FALSE(parse_head(bad, h)) << bad;
}

TEST(HttpGuard, HostNames) {
  EXPECT_EQ(host_name("Example.COM.:8080"), "example.com");
  EXPECT_EQ(host_name("[::1]:8080"), "::1");
  EXPECT_EQ(host_name("127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(host_name("a b"), "");
  EXPECT_EQ(host_name("[::1"), "");
  EXPECT_EQ(host_name("a/b"), "");
}

TEST(HttpGuard, Access) {
  AccessPolicy p{"myhost", {"gpu.lan", "*.corp"}, {"http://app.lan:3000/"}};
  auto allowed = [&](const char* host, const char* origin = nullptr) {
    const std::string h = host ? host : "", o = origin ? origin : "";
    return !check_access(p, host ? &h : nullptr, origin ? &o : nullptr).has_value();
  };
  for (const char* ok : {"localhost", "localhost:1", "a.localhost", "127.0.0.1:8080", "10.0.0.7", "[::1]:80",
                         "[fe80::1]", "myhost:8080", "GPU.lan", "x.corp", "a.b.corp"})
    EXPECT_TRUE(allowed(ok)) << ok;
  for (const char* bad : {"evil.example", "localhost.evil.example", "corp", "gpu.lan.evil", "127.0.0.1.nip.io", "",
                          "a b"})
    EXPECT_FALSE(allowed(bad)) << bad;
  EXPECT_EQ(check_access(p, nullptr, nullptr), std::nullopt);  // no Host: not a browser
  const std::string evil = "evil.example";
  EXPECT_EQ(check_access(p, &evil, nullptr)->status, 421);
  // Origins: the server's own, the configured one, nothing else.
  EXPECT_TRUE(allowed("127.0.0.1:8080", "http://127.0.0.1:8080"));
  EXPECT_TRUE(allowed("localhost:8080", "https://LOCALHOST:8080"));
  EXPECT_TRUE(allowed("127.0.0.1:8080", "http://app.lan:3000"));
  EXPECT_FALSE(allowed("127.0.0.1:8080", "http://127.0.0.1:9999"));
  EXPECT_FALSE(allowed("127.0.0.1:8080", "http://evil.example"));
  EXPECT_FALSE(allowed("127.0.0.1:8080", "null"));
  EXPECT_FALSE(allowed(nullptr, "http://127.0.0.1:8080"));  // no Host to be the same origin as
  const std::string h = "127.0.0.1", o = "http://evil.example";
  EXPECT_EQ(check_access(p, &h, &o)->status, 403);
  EXPECT_TRUE(cors_origin_allowed(p, "http://app.lan:3000"));
  EXPECT_FALSE(cors_origin_allowed(p, "http://127.0.0.1:8080"));  // same-origin needs no CORS
  AccessPolicy any{"127.0.0.1", {"*"}, {"*"}};
  const std::string anyhost = "whatever.example";
  EXPECT_EQ(check_access(any, &anyhost, &o), std::nullopt);
}

TEST(HttpGuard, ContentTypes) {
  for (const char* ok : {"application/json", "application/json; charset=utf-8", "Application/JSON;charset=\"UTF-8\"",
                         " application/json ; foo=bar"})
    EXPECT_TRUE(is_json_content_type(ok)) << ok;
  for (const char* bad : {"", "text/plain", "application/x-www-form-urlencoded", "application/jsonx",
                          "application/json; charset=latin1", "multipart/form-data; boundary=a"})
    EXPECT_FALSE(is_json_content_type(bad)) << bad;
  for (const char* ok : {"", "identity", "gzip", "deflate", "br"}) EXPECT_TRUE(is_known_content_encoding(ok)) << ok;
  for (const char* bad : {"GZIP", "gzip, br", "zstd", "x-gzip"}) EXPECT_FALSE(is_known_content_encoding(bad)) << bad;
  EXPECT_EQ(split_list(" a, b ,,c "), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(split_list("").empty());
}

}  // namespace
}  // namespace frugal::serve
