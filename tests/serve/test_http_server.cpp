// The HTTP server end to end over a scripted backend: routes, errors in OpenAI's envelope, API
// keys, streaming and non-streaming responses, stop strings, reasoning and tool-call splitting,
// logprobs, n, busy queue, client disconnects and graceful shutdown.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <set>

#include "serve/openai_output.h"
#include "test_http_util.h"
#include "test_util.h"

namespace frugal::test {
namespace {

using json = nlohmann::json;
using serve::kToolCallBegin;
using serve::kToolCallEnd;
using serve::kToolCallsBegin;
using serve::kToolCallsEnd;
using serve::kToolSep;

json post_json(httplib::Client& c, const std::string& path, const json& body, int* status = nullptr,
               httplib::Headers headers = {}) {
  auto res = c.Post(path.c_str(), headers, body.dump(), "application/json");
  if (!res) {
    ADD_FAILURE() << "no response from " << path;
    return json();
  }
  if (status) *status = res->status;
  return json::parse(res->body, nullptr, false);
}

json chat_body(const std::string& text = "Hi", json extra = json::object()) {
  json j{{"model", "micro"}, {"messages", json::array({{{"role", "user"}, {"content", text}}})}};
  for (auto it = extra.begin(); it != extra.end(); ++it) j[it.key()] = it.value();
  return j;
}

void expect_error_envelope(const json& j, const std::string& type) {
  ASSERT_TRUE(j.contains("error")) << j.dump();
  const json& e = j["error"];
  EXPECT_TRUE(e["message"].is_string());
  EXPECT_EQ(e["type"], type) << j.dump();
  EXPECT_TRUE(e.contains("param"));
  EXPECT_TRUE(e.contains("code"));
}

TEST(HttpServer, HealthReadyModels) {
  TestServer s(make_test_model(), {}, /*ready=*/false);
  auto c = s.client();
  auto res = c.Get("/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  res = c.Get("/ready");
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->get_header_value("Retry-After"), "1");
  expect_error_envelope(json::parse(res->body), "unavailable_error");
  int status = 0;
  post_json(c, "/v1/chat/completions", chat_body(), &status);
  EXPECT_EQ(status, 503);  // generation waits for the warm-up
  s.server->set_backend(&s.backend);
  EXPECT_EQ(c.Get("/ready")->status, 200);
  res = c.Get("/v1/models");
  ASSERT_EQ(res->status, 200);
  json m = json::parse(res->body);
  EXPECT_EQ(m["object"], "list");
  EXPECT_EQ(m["data"][0]["id"], "micro");
  EXPECT_EQ(m["data"][0]["max_model_len"], 256);
  EXPECT_EQ(c.Get("/v1/models/micro")->status, 200);
  res = c.Get("/v1/models/gpt-4");
  EXPECT_EQ(res->status, 404);
  expect_error_envelope(json::parse(res->body), "not_found_error");
  res = c.Get("/v1/embeddings");
  EXPECT_EQ(res->status, 404);
  expect_error_envelope(json::parse(res->body), "not_found_error");
  res = c.Get("/");
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("<title>frugal chat</title>"), std::string::npos);
  EXPECT_NE(res->get_header_value("Content-Security-Policy").find("default-src 'none'"), std::string::npos);
  EXPECT_EQ(res->body.find("http://"), std::string::npos);  // the page loads nothing from elsewhere
  EXPECT_EQ(res->body.find("https://"), std::string::npos);
  res = c.Get("/metrics");
  ASSERT_EQ(res->status, 200);
  EXPECT_NE(res->body.find("frugal:num_requests_running{model_name=\"micro\"}"), std::string::npos);
  EXPECT_NE(res->body.find("frugal:time_to_first_token_seconds_bucket{model_name=\"micro\",le=\"+Inf\"} 2"),
            std::string::npos)
      << res->body;
  EXPECT_NE(res->body.find("frugal:http_requests_total{model_name=\"micro\",route=\"/ready\",code=\"503\"} 1"),
            std::string::npos)
      << res->body;
}

TEST(HttpServer, ApiKey) {
  serve::ServerOptions opt;
  opt.api_keys = {"sekrit", "other"};
  TestServer s(make_test_model(), opt);
  auto c = s.client();
  int status = 0;
  json j = post_json(c, "/v1/chat/completions", chat_body(), &status);
  EXPECT_EQ(status, 401);
  expect_error_envelope(j, "authentication_error");
  post_json(c, "/v1/chat/completions", chat_body(), &status, {{"Authorization", "Bearer sekri"}});
  EXPECT_EQ(status, 401);
  post_json(c, "/v1/chat/completions", chat_body(), &status, {{"Authorization", "Bearer sekrit"}});
  EXPECT_EQ(status, 200);
  post_json(c, "/v1/chat/completions", chat_body(), &status, {{"Authorization", "Bearer other"}});
  EXPECT_EQ(status, 200);
  EXPECT_EQ(c.Get("/v1/models")->status, 401);
  EXPECT_EQ(c.Get("/metrics")->status, 401);
  EXPECT_EQ(c.Get("/health")->status, 200);  // probes need no key
  EXPECT_EQ(c.Get("/ready")->status, 200);
  EXPECT_EQ(c.Get("/")->status, 200);
  EXPECT_TRUE(serve::api_key_matches("abc", {"abc"}));
  EXPECT_FALSE(serve::api_key_matches("abcd", {"abc"}));
  EXPECT_FALSE(serve::api_key_matches("ab", {"abc"}));
  EXPECT_FALSE(serve::api_key_matches("", {"abc"}));
  EXPECT_FALSE(serve::api_key_matches("", {""}));  // an empty configured key never matches
}

TEST(HttpServer, ChatNonStreaming) {
  TestServer s;
  s.backend.script = [&](const GenRequest&) {
    auto ids = s.ids("Hello, wörld! 中文");
    ids.push_back(1);  // EOS
    return ids;
  };
  auto c = s.client();
  int status = 0;
  json j = post_json(c, "/v1/chat/completions", chat_body("Hi", {{"seed", 5}}), &status);
  ASSERT_EQ(status, 200) << j.dump();
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["model"], "micro");
  EXPECT_EQ(j["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "Hello, wörld! 中文");
  EXPECT_FALSE(j["choices"][0]["message"].contains("reasoning_content"));  // not a reasoning model
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_TRUE(j["choices"][0]["logprobs"].is_null());
  const int64_t n_ids = int64_t(s.ids("Hello, wörld! 中文").size()) + 1;
  EXPECT_EQ(j["usage"]["completion_tokens"], n_ids);  // EOS counts as generated
  EXPECT_EQ(j["usage"]["prompt_tokens"], 5);          // BOS <｜User｜> H i <｜Assistant｜>
  EXPECT_EQ(j["usage"]["total_tokens"], n_ids + 5);
  EXPECT_TRUE(j.contains("timings"));
  // max_tokens cuts it: finish_reason length
  j = post_json(c, "/v1/chat/completions", chat_body("Hi", {{"max_tokens", 5}}), &status);
  EXPECT_EQ(j["choices"][0]["message"]["content"], "Hello");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  auto recs = s.backend.records();
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs.begin()->second.req.sampling.seed, 5u);
}

TEST(HttpServer, ChatStreaming) {
  TestServer s;
  s.backend.script = [&](const GenRequest&) {
    auto ids = s.ids("Hi 中文!");
    ids.push_back(1);
    return ids;
  };
  auto c = s.client();
  for (bool usage : {false, true}) {
    json body = chat_body("Hi", {{"stream", true}});
    if (usage) body["stream_options"] = {{"include_usage", true}};
    auto res = c.Post("/v1/chat/completions", body.dump(), "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200);
    EXPECT_NE(res->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
    auto events = sse_data(res->body);
    ASSERT_GE(events.size(), 3u);
    EXPECT_EQ(events.back(), "[DONE]");
    std::string content;
    int finishes = 0, usage_chunks = 0;
    for (size_t i = 0; i + 1 < events.size(); ++i) {
      json j = json::parse(events[i]);
      EXPECT_EQ(j["object"], "chat.completion.chunk");
      if (i == 0) {
        EXPECT_EQ(j["choices"][0]["delta"]["role"], "assistant");
      }
      if (j.contains("usage") && !j["usage"].is_null()) {
        ++usage_chunks;
        EXPECT_TRUE(j["choices"].empty());
        EXPECT_EQ(j["usage"]["completion_tokens"], int64_t(s.ids("Hi 中文!").size()) + 1);
        continue;
      }
      EXPECT_EQ(j.contains("usage"), usage);  // null on the others when asked, absent otherwise
      if (usage) {
        EXPECT_TRUE(j["usage"].is_null());
      }
      const json& ch = j["choices"][0];
      if (ch["delta"].contains("content")) content += ch["delta"]["content"].get<std::string>();
      if (!ch["finish_reason"].is_null()) {
        ++finishes;
        EXPECT_EQ(ch["finish_reason"], "stop");
      }
    }
    EXPECT_EQ(content, "Hi 中文!");
    EXPECT_EQ(finishes, 1);
    EXPECT_EQ(usage_chunks, usage ? 1 : 0);
  }
}

TEST(HttpServer, StopStringsAreNeverSent) {
  TestServer s;
  s.backend.delay_ms = 2;  // slow enough that the server's cancel arrives before the script ends
  s.backend.script = [&](const GenRequest&) { return s.ids("one two STOP three four five six seven eight nine"); };
  auto c = s.client();
  int status = 0;
  json j = post_json(c, "/v1/chat/completions", chat_body("Hi", {{"stop", {"STOP", "zzz"}}}), &status);
  ASSERT_EQ(status, 200);
  EXPECT_EQ(j["choices"][0]["message"]["content"], "one two ");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  // Streaming: no chunk holds any part of the stop string, even though it arrives a byte a token.
  auto res = c.Post("/v1/completions", json{{"prompt", "x"}, {"stop", "STOP"}, {"stream", true}}.dump(),
                    "application/json");
  ASSERT_TRUE(res);
  std::string text;
  for (const auto& e : sse_data(res->body)) {
    if (e == "[DONE]") continue;
    json k = json::parse(e);
    text += k["choices"][0]["text"].get<std::string>();
    if (!k["choices"][0]["finish_reason"].is_null()) {
      EXPECT_EQ(k["choices"][0]["finish_reason"], "stop");
    }
  }
  EXPECT_EQ(text, "one two ");
  EXPECT_TRUE(s.backend.wait_all_final());
  for (const auto& [id, r] : s.backend.records()) EXPECT_TRUE(r.cancelled) << "the engine was not told to stop";
}

TEST(HttpServer, ReasoningSplit) {
  TestServer s(make_test_model("byte_r1"));
  s.backend.script = [&](const GenRequest&) {
    // The prompt ends in "<think>\n"; the model writes its reasoning, </think> (id 5), the answer.
    auto ids = s.ids("Let me think.");
    ids.push_back(5);
    for (int32_t id : s.ids("\n\nParis.")) ids.push_back(id);
    ids.push_back(1);
    return ids;
  };
  auto c = s.client();
  int status = 0;
  json j = post_json(c, "/v1/chat/completions", chat_body("Capital of France?"), &status);
  ASSERT_EQ(status, 200) << j.dump();
  EXPECT_EQ(j["choices"][0]["message"]["reasoning_content"], "Let me think.");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "Paris.");
  auto res = c.Post("/v1/chat/completions", chat_body("Capital?", {{"stream", true}}).dump(), "application/json");
  std::string reasoning, content;
  for (const auto& e : sse_data(res->body)) {
    if (e == "[DONE]") continue;
    const json d = json::parse(e)["choices"][0]["delta"];
    if (d.contains("reasoning_content")) reasoning += d["reasoning_content"].get<std::string>();
    if (d.contains("content")) content += d["content"].get<std::string>();
  }
  EXPECT_EQ(reasoning, "Let me think.");
  EXPECT_EQ(content, "Paris.");
}

TEST(HttpServer, ToolCalls) {
  TestServer s;
  const std::string call = std::string(kToolCallsBegin) + std::string(kToolCallBegin) + "function" +
                           std::string(kToolSep) + "get_weather\n```json\n{\"city\": \"Paris\"}\n```" +
                           std::string(kToolCallEnd) + std::string(kToolCallsEnd);
  s.backend.script = [&](const GenRequest&) {
    auto ids = s.ids(call);
    ids.push_back(1);
    return ids;
  };
  const json tools = json::array(
      {{{"type", "function"},
        {"function", {{"name", "get_weather"}, {"parameters", {{"type", "object"}, {"properties", json::object()}}}}}}});
  auto c = s.client();
  int status = 0;
  json j = post_json(c, "/v1/chat/completions", chat_body("Weather?", {{"tools", tools}}), &status);
  ASSERT_EQ(status, 200) << j.dump();
  const json& msg = j["choices"][0]["message"];
  EXPECT_TRUE(msg["content"].is_null());
  ASSERT_EQ(msg["tool_calls"].size(), 1u);
  EXPECT_EQ(msg["tool_calls"][0]["type"], "function");
  EXPECT_EQ(msg["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(msg["tool_calls"][0]["function"]["arguments"], "{\"city\": \"Paris\"}");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "tool_calls");
  // Streaming: one tool_calls delta with index 0.
  auto res = c.Post("/v1/chat/completions", chat_body("Weather?", {{"tools", tools}, {"stream", true}}).dump(),
                    "application/json");
  int calls = 0;
  std::string finish;
  for (const auto& e : sse_data(res->body)) {
    if (e == "[DONE]") continue;
    const json ch = json::parse(e)["choices"][0];
    if (ch["delta"].contains("tool_calls")) {
      ++calls;
      EXPECT_EQ(ch["delta"]["tool_calls"][0]["index"], 0);
      EXPECT_EQ(ch["delta"]["tool_calls"][0]["function"]["name"], "get_weather");
    }
    if (!ch["finish_reason"].is_null()) finish = ch["finish_reason"];
  }
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(finish, "tool_calls");
  // Without tools the same text stays content.
  j = post_json(c, "/v1/chat/completions", chat_body("Weather?"), &status);
  EXPECT_EQ(j["choices"][0]["message"]["content"], call);
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
}

TEST(HttpServer, LogprobsAndN) {
  TestServer s;
  s.backend.script = [&](const GenRequest&) { return s.ids("abc"); };
  auto c = s.client();
  int status = 0;
  json j = post_json(c, "/v1/chat/completions",
                     chat_body("Hi", {{"logprobs", true}, {"top_logprobs", 2}, {"n", 3}, {"seed", 10}}), &status);
  ASSERT_EQ(status, 200) << j.dump();
  ASSERT_EQ(j["choices"].size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const json& ch = j["choices"][i];
    EXPECT_EQ(ch["index"], i);
    EXPECT_EQ(ch["message"]["content"], "abc");
    const json& lp = ch["logprobs"]["content"];
    ASSERT_EQ(lp.size(), 3u);
    EXPECT_EQ(lp[0]["token"], "a");
    EXPECT_DOUBLE_EQ(lp[0]["logprob"].get<double>(), -0.25);
    EXPECT_EQ(lp[0]["bytes"], json::array({97}));
    ASSERT_EQ(lp[0]["top_logprobs"].size(), 2u);
    EXPECT_EQ(lp[0]["top_logprobs"][0]["token"], "a");
  }
  EXPECT_EQ(j["usage"]["completion_tokens"], 9);
  std::set<uint64_t> seeds;
  for (const auto& [id, r] : s.backend.records()) seeds.insert(r.req.sampling.seed);
  EXPECT_EQ(seeds, (std::set<uint64_t>{10, 11, 12}));
  // Completions: the legacy shape.
  j = post_json(c, "/v1/completions", {{"prompt", "x"}, {"logprobs", 1}}, &status);
  ASSERT_EQ(status, 200) << j.dump();
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["text"], "abc");
  EXPECT_EQ(j["choices"][0]["logprobs"]["tokens"], json::array({"a", "b", "c"}));
  EXPECT_EQ(j["choices"][0]["logprobs"]["text_offset"], json::array({0, 1, 2}));
  EXPECT_EQ(j["choices"][0]["logprobs"]["top_logprobs"][1], json({{"b", -0.5}}));
}

TEST(HttpServer, BusyQueueIs503WithRetryAfter) {
  TestServer s;
  s.backend.busy = true;
  auto c = s.client();
  auto res = c.Post("/v1/chat/completions", chat_body().dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->get_header_value("Retry-After"), "1");
  json j = json::parse(res->body);
  expect_error_envelope(j, "unavailable_error");
  EXPECT_EQ(j["error"]["code"], "queue_full");
}

TEST(HttpServer, OversizedAndMalformedBodies) {
  serve::ServerOptions opt;
  opt.limits.max_body_bytes = 4096;
  TestServer s(make_test_model(), opt);
  auto c = s.client();
  auto res = c.Post("/v1/completions", std::string(5000, ' '), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  expect_error_envelope(json::parse(res->body), "invalid_request_error");
  // A body over httplib's 8 KiB form limit is ours to judge: a JSON-level answer, not a 413.
  serve::ServerOptions big;
  TestServer s2(make_test_model(), big);
  auto c2 = s2.client();
  res = c2.Post("/v1/completions", json{{"prompt", std::string(9000, 'a')}, {"max_tokens", 1}}.dump(),
                "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);  // 9000 tokens exceed the context
  EXPECT_EQ(json::parse(res->body)["error"]["code"], "context_length_exceeded");
  res = c.Post("/v1/completions", "{\"prompt\": ", "application/json");
  EXPECT_EQ(res->status, 400);
  expect_error_envelope(json::parse(res->body), "invalid_request_error");
}

TEST(HttpServer, TokenizerEndpoints) {
  TestServer s;
  auto c = s.client();
  int status = 0;
  json j = post_json(c, "/tokenize", {{"content", "ab"}, {"add_special", false}}, &status);
  EXPECT_EQ(j["tokens"], json(s.ids("ab")));
  EXPECT_EQ(j["count"], 2);
  j = post_json(c, "/tokenize", {{"content", "ab"}, {"with_pieces", true}}, &status);
  EXPECT_EQ(j["tokens"][0]["id"], 0);  // BOS added by default, as completions do
  EXPECT_EQ(j["tokens"][1]["piece"], "a");
  j = post_json(c, "/detokenize", {{"tokens", json(s.ids("héllo"))}}, &status);
  EXPECT_EQ(j["content"], "héllo");
  post_json(c, "/detokenize", {{"tokens", {1, 999}}}, &status);
  EXPECT_EQ(status, 400);
  j = post_json(c, "/apply-template", {{"messages", json::array({{{"role", "user"}, {"content", "q"}}})}}, &status);
  EXPECT_EQ(j["prompt"], "<｜begin▁of▁sentence｜><｜User｜>q<｜Assistant｜>");
  j = post_json(c, "/tokenize", {{"messages", json::array({{{"role", "user"}, {"content", "q"}}})}}, &status);
  EXPECT_EQ(j["count"], 4);
  post_json(c, "/tokenize", {{"text", "q"}}, &status);
  EXPECT_EQ(status, 400);
}

// A raw client: sends one POST, reads until it has `read_bytes` bytes (0: reads nothing), hangs up.
void request_and_hang_up(int port, const std::string& body, size_t read_bytes) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string req = "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  ASSERT_EQ(::send(fd, req.data(), req.size(), 0), ssize_t(req.size()));
  size_t got = 0;
  char buf[256];
  while (got < read_bytes) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    got += size_t(n);
  }
  ::close(fd);
}

TEST(HttpServer, StreamingClientDisconnectCancels) {
  TestServer s;
  s.backend.delay_ms = 5;
  s.backend.script = [&](const GenRequest&) { return std::vector<int32_t>(5000, 100); };
  request_and_hang_up(s.port, chat_body("Hi", {{"stream", true}, {"max_tokens", 200}}).dump(), 1);
  ASSERT_TRUE(s.backend.wait_all_final(5000));
  auto recs = s.backend.records();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_TRUE(recs.begin()->second.cancelled);
  EXPECT_LT(recs.begin()->second.events, 100);  // stopped long before max_tokens
}

TEST(HttpServer, NonStreamingClientDisconnectCancels) {
  TestServer s;
  s.backend.delay_ms = 5;
  s.backend.script = [&](const GenRequest&) { return std::vector<int32_t>(5000, 100); };
  {
    httplib::Client c("127.0.0.1", s.port);
    c.set_read_timeout(0, 100000);  // gives up after 0.1 s and closes the socket
    auto res = c.Post("/v1/chat/completions", chat_body("Hi", {{"max_tokens", 200}}).dump(), "application/json");
    EXPECT_FALSE(res);
  }
  ASSERT_TRUE(s.backend.wait_all_final(5000));
  auto recs = s.backend.records();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_TRUE(recs.begin()->second.cancelled);
  EXPECT_LT(recs.begin()->second.events, 150);
}

TEST(HttpServer, ShutdownEndsStreamsCleanly) {
  TestServer s;
  s.backend.delay_ms = 5;
  s.backend.script = [&](const GenRequest&) { return std::vector<int32_t>(5000, 100); };
  std::string body;
  std::thread client([&] {
    httplib::Client c("127.0.0.1", s.port);
    c.set_read_timeout(10, 0);
    auto res = c.Post("/v1/chat/completions", chat_body("Hi", {{"stream", true}, {"max_tokens", 250}}).dump(),
                      "application/json");
    if (res) body = res->body;
  });
  while (s.server->active_generations() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  s.server->shutdown(0);  // no drain: cancel at once
  client.join();
  auto events = sse_data(body);
  ASSERT_GE(events.size(), 2u) << body;
  EXPECT_EQ(events.back(), "[DONE]");
  json err = json::parse(events[events.size() - 2]);
  expect_error_envelope(err, "unavailable_error");
  EXPECT_TRUE(s.backend.wait_all_final());
  // New requests after shutdown are refused (or find no listener at all).
  auto c = s.client();
  auto res = c.Post("/v1/chat/completions", chat_body().dump(), "application/json");
  if (res) {
    EXPECT_EQ(res->status, 503);
  }
}

TEST(HttpServer, ShutdownDrainLetsRequestsFinish) {
  TestServer s;
  s.backend.delay_ms = 2;
  s.backend.script = [&](const GenRequest&) { return s.ids("abcdefghijklmnopqrst"); };
  json j;
  std::thread client([&] {
    httplib::Client c("127.0.0.1", s.port);
    auto res = c.Post("/v1/chat/completions", chat_body().dump(), "application/json");
    if (res) j = json::parse(res->body, nullptr, false);
  });
  while (s.server->active_generations() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  s.server->shutdown(5);
  client.join();
  EXPECT_EQ(j["choices"][0]["message"]["content"], "abcdefghijklmnopqrst") << j.dump();
}

}  // namespace
}  // namespace frugal::test

namespace frugal::test {
namespace {

TEST(HttpServer, BusyPortIsAnErrorAndStopRightAfterStartReturns) {
  TestServer s;
  serve::ServerOptions opt;
  opt.port = s.port;
  serve::HttpServer second(opt);
  expect_error([&] { second.bind(); }, ErrorKind::kIo, {"cannot bind", "already in use"});
  // A server stopped at once (a model that fails to load) must not hang.
  for (int i = 0; i < 20; ++i) {
    serve::ServerOptions o;
    o.port = 0;
    o.threads = 2;
    serve::HttpServer quick(o);
    quick.bind();
    quick.start();
    quick.shutdown(0);
  }
}

}  // namespace
}  // namespace frugal::test
