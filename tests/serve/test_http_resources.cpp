// The server's resource model (docs/serving.md, Resource model) over real sockets: the body cap
// for chunked and compressed bodies, slow clients, the connection cap, the per-request deadline,
// Host / Origin / Content-Type checks, prompt and output caps, and a bounded shutdown.
#include <gtest/gtest.h>
#include <zlib.h>

#include <thread>

#include "test_http_util.h"
#include "test_raw_client.h"

namespace frugal::test {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

std::string head(const std::string& path, const std::string& fields) {
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + fields + "\r\n";
}

// Sends `total` bytes of JSON whitespace as a chunked body (64 KiB chunks), then the last chunk.
void send_chunked(RawConn& c, size_t total) {
  const std::string piece(64 << 10, ' ');
  char size_line[32];
  for (size_t sent = 0; sent < total;) {
    const size_t n = std::min(piece.size(), total - sent);
    std::snprintf(size_line, sizeof size_line, "%zx\r\n", n);
    if (!c.send(size_line + piece.substr(0, n) + "\r\n")) return;  // the server stopped reading
    sent += n;
  }
  c.send("0\r\n\r\n");
}

// gzip of `text` followed by `zeros` zero bytes, compressed 1 MiB at a time.
std::string gzip(const std::string& text, size_t zeros) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out;
  auto feed = [&](const char* data, size_t n, int flush) {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
    z.avail_in = uInt(n);
    char buf[65536];
    do {
      z.next_out = reinterpret_cast<Bytef*>(buf);
      z.avail_out = sizeof buf;
      deflate(&z, flush);
      out.append(buf, sizeof buf - z.avail_out);
    } while (z.avail_out == 0);
  };
  feed(text.data(), text.size(), Z_NO_FLUSH);
  const std::string block(1 << 20, '\0');
  for (size_t left = zeros; left > 0;) {
    const size_t n = std::min(left, block.size());
    feed(block.data(), n, Z_NO_FLUSH);
    left -= n;
  }
  feed(nullptr, 0, Z_FINISH);
  deflateEnd(&z);
  return out;
}

std::string error_code(const std::string& response) {
  const size_t body = response.find("\r\n\r\n");
  if (body == std::string::npos) return "";
  const json j = json::parse(response.substr(body + 4), nullptr, false);
  return j.is_object() && j.contains("error") && j["error"]["code"].is_string() ? j["error"]["code"].get<std::string>()
                                                                                 : "";
}

constexpr int64_t kCap = 1 << 20;

serve::ServerOptions capped() {
  serve::ServerOptions o;
  o.limits.max_body_bytes = kCap;
  return o;
}

TEST(HttpResources, ChunkedBodyPastTheCapIs413WithoutBuffering) {
  TestServer s(make_test_model(), capped());
  {  // limit + 1 MiB: refused, and the client still gets the answer (the rest of its body is drained)
    RawConn c(s.port);
    ASSERT_TRUE(c.send(head("/v1/completions", "Transfer-Encoding: chunked\r\n")));
    send_chunked(c, kCap + (1 << 20));
    const std::string r = c.read_response();
    EXPECT_EQ(status_of(r), 413) << r;
    EXPECT_EQ(error_code(r), "request_too_large");
    EXPECT_NE(r.find("Connection: close"), std::string::npos) << r;
  }
  // 64 MiB more: the server reads no further than the cap, so its memory does not follow the body.
  HeapPeak heap;
  RawConn c(s.port);
  ASSERT_TRUE(c.send(head("/v1/completions", "Transfer-Encoding: chunked\r\n")));
  send_chunked(c, size_t(64) << 20);
  EXPECT_EQ(status_of(c.read_response()), 413);
  EXPECT_LT(heap.growth_kib(), 8 << 10) << "KiB of peak heap growth for a 64 MiB chunked body";
  auto h = s.client().Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
}

TEST(HttpResources, CompressedBodyCountsDecompressed) {
  TestServer s(make_test_model(), capped());
  // A gzip bomb: 64 KiB on the wire, 64 MiB inflated.
  const std::string bomb = gzip("{\"prompt\": \"", size_t(64) << 20);
  ASSERT_LT(int64_t(bomb.size()), kCap);
  HeapPeak heap;
  for (const char* framing : {"Content-Length", "chunked"}) {
    RawConn c(s.port);
    if (std::string(framing) == "chunked") {
      char size_line[32];
      std::snprintf(size_line, sizeof size_line, "%zx\r\n", bomb.size());
      c.send(head("/v1/completions", "Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n") + size_line + bomb +
             "\r\n0\r\n\r\n");
    } else {
      c.send(head("/v1/completions",
                  "Content-Encoding: gzip\r\nContent-Length: " + std::to_string(bomb.size()) + "\r\n") +
             bomb);
    }
    const std::string r = c.read_response();
    EXPECT_EQ(status_of(r), 413) << framing << ": " << r.substr(0, 300);
    EXPECT_EQ(error_code(r), "request_too_large") << framing;
  }
  EXPECT_LT(heap.growth_kib(), 8 << 10) << "KiB of peak heap growth for two 64 MiB gzip bombs";
  // Compressed bodies within the cap still work.
  const std::string ok = gzip(json{{"prompt", "hi"}, {"max_tokens", 2}}.dump(), 0);
  RawConn c(s.port);
  c.send(head("/v1/completions", "Content-Encoding: gzip\r\nContent-Length: " + std::to_string(ok.size()) + "\r\n") + ok);
  const std::string r = c.read_response();
  EXPECT_EQ(status_of(r), 200) << r;
  RawConn z(s.port);  // an encoding cpp-httplib would pass through undecoded
  z.send(head("/v1/completions", "Content-Encoding: zstd\r\nContent-Length: 2\r\n") + "{}");
  EXPECT_EQ(status_of(z.read_response()), 415);
}

TEST(HttpResources, SlowDripClientsDoNotStallProbes) {
  serve::ServerOptions o;
  o.threads = 8;
  o.header_timeout = 1.5;
  TestServer s(make_test_model(), o);
  RawConn silent(s.port);  // sends nothing at all
  // Nine clients (more than the workers) drip a request head one byte every 100 ms, for 3 s.
  std::vector<std::unique_ptr<RawConn>> drips;
  for (int i = 0; i < 9; ++i) drips.push_back(std::make_unique<RawConn>(s.port));
  std::atomic<bool> done{false};
  std::thread dripper([&] {
    const std::string text = "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + std::string(200, 'a');
    for (size_t k = 0; k < 30 && !done; ++k) {
      for (auto& d : drips) d->send(text.substr(k, 1));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  for (int i = 0; i < 5; ++i) {
    httplib::Client c("127.0.0.1", s.port);
    c.set_connection_timeout(1, 0);
    c.set_read_timeout(1, 0);
    const auto t0 = Clock::now();
    auto h = c.Get(i % 2 ? "/ready" : "/health");
    ASSERT_TRUE(h) << "probe " << i << " got no answer within 1 s";
    EXPECT_EQ(h->status, 200);
    EXPECT_LT(since(t0), 1.0);
    auto m = c.Get("/v1/models");  // a worker's route: the workers are free too
    ASSERT_TRUE(m);
    EXPECT_EQ(m->status, 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  // The drips outlast --header-timeout: each gets a 408 and is closed.
  for (auto& d : drips) {
    const std::string r = d->read_response(3);
    EXPECT_EQ(status_of(r), 408) << r;
    EXPECT_EQ(error_code(r), "header_timeout");
  }
  done = true;
  dripper.join();
  // The silent one is closed at --header-timeout too, without an answer (a browser's preconnect).
  const auto t0 = Clock::now();
  EXPECT_EQ(silent.read_response(3), "");
  EXPECT_LT(since(t0), 2.5);
}

TEST(HttpResources, SlowBodyFreesItsWorker) {
  serve::ServerOptions o;
  o.threads = 1;
  o.body_timeout = 0.5;
  TestServer s(make_test_model(), o);
  RawConn slow(s.port);
  slow.send(head("/v1/completions", "Content-Length: 1000\r\n") + "{\"prompt\":");
  const auto t0 = Clock::now();
  const std::string r = slow.read_response(3);
  EXPECT_EQ(status_of(r), 400) << r;
  EXPECT_LT(since(t0), 2.0);
  auto m = s.client().Get("/v1/models");  // the only worker is free again
  ASSERT_TRUE(m);
  EXPECT_EQ(m->status, 200);
}

TEST(HttpResources, ConnectionCap) {
  serve::ServerOptions o;
  o.max_connections = 4;
  TestServer s(make_test_model(), o);
  std::vector<std::unique_ptr<RawConn>> idle;
  for (int i = 0; i < 4; ++i) idle.push_back(std::make_unique<RawConn>(s.port));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // accepted
  RawConn extra(s.port);
  const auto t0 = Clock::now();
  const std::string r = extra.read_response(2);
  EXPECT_EQ(status_of(r), 503) << r;
  EXPECT_EQ(error_code(r), "too_many_connections");
  EXPECT_NE(r.find("Retry-After: 1"), std::string::npos);
  EXPECT_LT(since(t0), 1.0);
  EXPECT_TRUE(extra.closed_by_peer(2));
  idle.clear();  // the slots free up
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto h = s.client().Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
}

TEST(HttpResources, RequestDeadline) {
  serve::ServerOptions o;
  o.limits.request_timeout = 0.3;
  TestServer s(make_test_model(), o);
  s.backend.delay_ms = 5;
  s.backend.script = [&](const GenRequest&) { return std::vector<int32_t>(5000, 100); };
  auto c = s.client();
  const json body{{"prompt", "hi"}, {"max_tokens", 200}};
  const auto t0 = Clock::now();
  auto res = c.Post("/v1/completions", body.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 504);
  EXPECT_EQ(json::parse(res->body)["error"]["code"], "request_timeout");
  EXPECT_LT(since(t0), 1.5);
  json streamed = body;
  streamed["stream"] = true;
  res = c.Post("/v1/completions", streamed.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  auto events = sse_data(res->body);
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.back(), "[DONE]");
  EXPECT_EQ(json::parse(events[events.size() - 2])["error"]["code"], "request_timeout");
  ASSERT_TRUE(s.backend.wait_all_final());
  for (const auto& [id, rec] : s.backend.records()) EXPECT_TRUE(rec.cancelled);  // the engine stopped too
}

TEST(HttpResources, HostAndOriginChecks) {
  serve::ServerOptions o;
  o.allowed_hosts = {"gpu.lan"};
  o.allowed_origins = {"http://app.lan:3000"};
  TestServer s(make_test_model(), o);
  auto c = s.client();
  const std::string self = "127.0.0.1:" + std::to_string(s.port);
  auto get = [&](const char* path, httplib::Headers h) { return c.Get(path, h); };
  for (const char* host : {"evil.example", "evil.example:8080", "localhost.evil.example", "127.0.0.1.nip.io"}) {
    auto r = get("/v1/models", {{"Host", host}});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 421) << host;
    EXPECT_EQ(json::parse(r->body)["error"]["code"], "host_not_allowed");
    EXPECT_EQ(get("/health", {{"Host", host}})->status, 421) << host;  // the probes too
  }
  for (const char* host : {"localhost", "LOCALHOST:8080", "chat.localhost", "127.0.0.1", "[::1]:8080", "10.1.2.3",
                           "gpu.lan:8080"})
    EXPECT_EQ(get("/v1/models", {{"Host", host}})->status, 200) << host;
  // A page from elsewhere cannot post; the chat page (same origin) and configured origins can.
  const std::string chat = json{{"messages", json::array({{{"role", "user"}, {"content", "Hi"}}})}}.dump();
  auto post = [&](httplib::Headers h) { return c.Post("/v1/chat/completions", h, chat, "application/json"); };
  auto r = post({{"Origin", "http://evil.example"}});
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(json::parse(r->body)["error"]["code"], "origin_not_allowed");
  EXPECT_EQ(post({{"Origin", "null"}})->status, 403);
  EXPECT_EQ(post({{"Origin", "http://" + self}})->status, 200);
  r = post({{"Origin", "http://app.lan:3000"}});
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Access-Control-Allow-Origin"), "http://app.lan:3000");
  auto pre = c.Options("/v1/chat/completions", {{"Origin", "http://app.lan:3000"},
                                                {"Access-Control-Request-Method", "POST"}});
  ASSERT_TRUE(pre);
  EXPECT_EQ(pre->status, 204);
  EXPECT_NE(pre->get_header_value("Access-Control-Allow-Headers").find("Content-Type"), std::string::npos);
  EXPECT_EQ(c.Options("/v1/chat/completions", {{"Origin", "http://evil.example"}})->status, 403);
}

TEST(HttpResources, JsonRoutesNeedJson) {
  TestServer s;
  auto c = s.client();
  const std::string body = json{{"prompt", "hi"}, {"max_tokens", 2}}.dump();
  for (const char* type : {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                           "application/json; charset=latin1", "application/jsonp"}) {
    auto r = c.Post("/v1/completions", body, type);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 415) << type;
    EXPECT_EQ(json::parse(r->body)["error"]["code"], "unsupported_media_type") << type;
  }
  for (const char* type : {"application/json", "application/json; charset=utf-8", "Application/JSON;charset=\"UTF-8\""})
    EXPECT_EQ(c.Post("/v1/completions", body, type)->status, 200) << type;
  RawConn raw(s.port);  // no Content-Type at all
  raw.send("POST /tokenize HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}");
  EXPECT_EQ(status_of(raw.read_response()), 415);
  // Bodies on other routes and methods are refused before a byte of them is read.
  EXPECT_EQ(c.Post("/v1/embeddings", body, "application/json")->status, 404);
  EXPECT_EQ(c.Put("/v1/models", body, "application/json")->status, 405);
  EXPECT_EQ(c.Delete("/v1/completions")->status, 405);
}

TEST(HttpResources, PromptAndOutputCaps) {
  serve::ServerOptions o;
  o.limits.max_prompt_bytes = 100;
  o.limits.max_prompt_tokens = 8;
  o.limits.max_output_tokens = 5;
  TestServer s(make_test_model(), o);
  auto c = s.client();
  auto post = [&](const json& j) { return c.Post("/v1/completions", j.dump(), "application/json"); };
  auto r = post({{"prompt", std::string(101, 'a')}});
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(json::parse(r->body)["error"]["code"], "prompt_too_long");
  EXPECT_EQ(c.Post("/tokenize", json{{"content", std::string(101, 'a')}}.dump(), "application/json")->status, 400);
  r = post({{"prompt", std::string(20, 'a')}});  // 20 tokens (and BOS) in the byte tokenizer
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(json::parse(r->body)["error"]["param"], "prompt");
  r = post({{"prompt", "hi"}, {"max_tokens", 6}});
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(json::parse(r->body)["error"]["param"], "max_tokens");
  EXPECT_EQ(post({{"prompt", "hi"}})->status, 200);
  ASSERT_TRUE(s.backend.wait_all_final());
  const auto recs = s.backend.records();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs.begin()->second.req.max_tokens, 5);  // not the rest of the context
}

TEST(HttpResources, KeepAliveAndPipelining) {
  TestServer s;
  RawConn c(s.port);
  // Two probes, a worker's request and a probe again, all sent at once on one connection.
  const std::string get_health = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  c.send(get_health + get_health + "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" + get_health);
  const std::string all = c.read_until(5, [](const std::string& t) {
    size_t n = 0;
    for (size_t p = 0; (p = t.find("HTTP/1.1 200", p)) != std::string::npos; ++p) ++n;
    return n == 4 && t.size() > 4 && t.substr(t.size() - 4) == "ok\"}";
  });
  size_t n = 0;
  for (size_t p = 0; (p = all.find("HTTP/1.1 200", p)) != std::string::npos; ++p) ++n;
  EXPECT_EQ(n, 4u) << all;
  EXPECT_NE(all.find("\"object\":\"list\""), std::string::npos);
  RawConn big(s.port);  // a head past the front door's limit
  big.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + std::string(40 << 10, 'a') + "\r\n\r\n");
  EXPECT_EQ(status_of(big.read_response()), 431);
}

TEST(HttpResources, ShutdownIsBoundedWithSlowClients) {
  serve::ServerOptions o;
  o.threads = 4;
  auto s = std::make_unique<TestServer>(make_test_model(), o);
  s->backend.delay_ms = 50;
  s->backend.script = [&](const GenRequest&) { return std::vector<int32_t>(200, 100); };
  std::vector<std::unique_ptr<RawConn>> slow;
  for (int i = 0; i < 9; ++i) {  // dripping heads
    slow.push_back(std::make_unique<RawConn>(s->port));
    slow.back()->send("GET /v1/models HTTP/1.1\r\n");
  }
  for (int i = 0; i < 3; ++i) {  // bodies that never finish, holding workers
    slow.push_back(std::make_unique<RawConn>(s->port));
    slow.back()->send(head("/v1/completions", "Content-Length: 1000\r\n") + "{");
  }
  std::thread client([&] {  // a stream that would run for 10 s
    RawConn c(s->port);
    const std::string b = json{{"prompt", "x"}, {"max_tokens", 200}, {"stream", true}}.dump();
    c.send(head("/v1/completions", "Content-Length: " + std::to_string(b.size()) + "\r\n") + b);
    c.read_until(15, [](const std::string&) { return false; });
  });
  for (int i = 0; i < 1000 && s->server->active_generations() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_EQ(s->server->active_generations(), 1);
  const auto t0 = Clock::now();
  s->server->shutdown(0);
  EXPECT_LT(since(t0), serve::HttpServer::kAbortSeconds + 1.5);
  for (auto& c : slow) EXPECT_TRUE(c->closed_by_peer(1));
  client.join();
  s.reset();
}

}  // namespace
}  // namespace frugal::test
