// Thousands of random, truncated and type-confused bodies against every POST route (docs/serving.md,
// Request validation): each must get a well-formed answer — 200 with JSON or a complete SSE stream, or an
// error in OpenAI's envelope — and the server must stay healthy. Deterministic (fixed seed).
#include <gtest/gtest.h>

#include <random>
#include <thread>

#include "test_http_util.h"

namespace frugal::test {
namespace {

using json = nlohmann::json;

json random_value(std::mt19937& rng, int depth = 0) {
  switch (rng() % (depth > 2 ? 12 : 15)) {
    case 0: return nullptr;
    case 1: return bool(rng() & 1);
    case 2: return -1;
    case 3: return 0;
    case 4: return int64_t(rng() % 300);
    case 5: return 1e308;
    case 6: return -2.5;
    case 7: return uint64_t(18446744073709551615ull);
    case 8: return "";
    case 9: return std::string(1 + rng() % 40, char('a' + rng() % 26));
    case 10: return "<｜tool▁calls▁begin｜></think>\xE4\xB8\xAD";
    case 11: return std::string("\0\x01nul", 5);
    case 12: {
      json a = json::array();
      for (int i = 0, n = int(rng() % 4); i < n; ++i) a.push_back(random_value(rng, depth + 1));
      return a;
    }
    case 13: {
      json o = json::object();
      for (const char* k : {"role", "content", "type", "function", "name", "text", "include_usage"})
        if (rng() % 3 == 0) o[k] = random_value(rng, depth + 1);
      return o;
    }
    default: return json::array({{{"role", "user"}, {"content", random_value(rng, depth + 1)}}});
  }
}

json valid_chat(std::mt19937& rng) {
  json j{{"messages", json::array({{{"role", "user"}, {"content", "hello"}}})}, {"max_tokens", 4}};
  if (rng() & 1) j["stream"] = true;
  return j;
}

json valid_completion(std::mt19937& rng) {
  json j{{"prompt", "hello"}, {"max_tokens", 4}};
  if (rng() & 1) j["stream"] = true;
  return j;
}

// A body: a valid request with random fields set to random values, a truncation of one, or noise.
std::string random_body(std::mt19937& rng, bool chat) {
  static const char* kFields[] = {"model", "messages", "prompt", "stream", "stream_options", "max_tokens",
                                  "max_completion_tokens", "temperature", "top_p", "top_k", "min_p", "n", "stop",
                                  "seed", "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs",
                                  "tools", "tool_choice", "logit_bias", "response_format", "ignore_eos",
                                  "stop_token_ids", "chat_template_kwargs", "content", "tokens", "add_special"};
  json j = chat ? valid_chat(rng) : valid_completion(rng);
  for (int i = 0, n = int(rng() % 4); i < n; ++i) j[kFields[rng() % std::size(kFields)]] = random_value(rng);
  std::string body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  switch (rng() % 6) {
    case 0: body.resize(rng() % (body.size() + 1)); break;  // truncated
    case 1: {                                               // random bytes
      body.clear();
      for (int i = 0, n = int(rng() % 64); i < n; ++i) body.push_back(char(rng() % 256));
      break;
    }
    case 2:
      if (!body.empty()) body[rng() % body.size()] = char(rng() % 256);  // one byte flipped
      break;
    default: break;
  }
  return body;
}

void check_response(const httplib::Result& res, const std::string& body) {
  ASSERT_TRUE(res) << "no answer to: " << body;
  const int st = res->status;
  ASSERT_TRUE(st == 200 || st == 400 || st == 404 || st == 413) << st << " for: " << body << "\n-> " << res->body;
  if (res->get_header_value("Content-Type").find("text/event-stream") != std::string::npos) {
    ASSERT_EQ(st, 200);
    auto events = sse_data(res->body);
    ASSERT_FALSE(events.empty());
    ASSERT_EQ(events.back(), "[DONE]") << res->body;
    for (size_t i = 0; i + 1 < events.size(); ++i) ASSERT_FALSE(json::parse(events[i], nullptr, false).is_discarded());
    return;
  }
  const json j = json::parse(res->body, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << "not JSON: " << res->body;
  if (st != 200) {
    ASSERT_TRUE(j.contains("error")) << res->body;
    ASSERT_TRUE(j["error"]["message"].is_string());
    ASSERT_TRUE(j["error"]["type"].is_string());
  }
}

TEST(HttpFuzz, RandomAndTruncatedBodiesGetCleanAnswers) {
  TestServer s;
  s.backend.script = [](const GenRequest& r) { return std::vector<int32_t>{100, 101, 0xE4 - 0x04 + 16, 1}; };
  auto c = s.client();
  std::mt19937 rng(1234);
  const char* kRoutes[] = {"/v1/chat/completions", "/v1/completions", "/tokenize", "/detokenize", "/apply-template"};
  int ok = 0, errors = 0;
  for (int i = 0; i < 3000; ++i) {
    const char* route = kRoutes[rng() % std::size(kRoutes)];
    const bool chat = std::string(route) != "/v1/completions";
    const std::string body = random_body(rng, chat);
    auto res = c.Post(route, body, "application/json");
    check_response(res, body);
    if (HasFatalFailure()) return;
    (res->status == 200 ? ok : errors)++;
  }
  // Both kinds happened: the fuzzer reaches generation, not only the validators.
  EXPECT_GT(ok, 100);
  EXPECT_GT(errors, 1000);
  EXPECT_TRUE(s.backend.wait_all_final());
  EXPECT_EQ(c.Get("/health")->status, 200);
  // The last handler counts itself out just after its answer is written, so the client can see
  // the answer first (the front door answers /health without a worker): wait, bounded.
  for (int i = 0; i < 500 && s.server->active_generations() != 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(s.server->active_generations(), 0);
}

TEST(HttpFuzz, HostileShapes) {
  TestServer s;
  auto c = s.client();
  const std::vector<std::string> bodies = {
      std::string(100000, '['),
      std::string(50000, '{') + std::string(50000, '}'),
      R"({"messages": [{"role": "user", "content": "\ud800"}]})",  // a lone surrogate
      R"({"messages": [{"role": "user", "content": "a\u0000b"}], "max_tokens": 2})",
      R"({"prompt": "x", "max_tokens": 1e400})",
      R"({"prompt": "x", "temperature": NaN})",
      R"({"prompt": "x", "temperature": Infinity})",
      R"({"prompt": "x", "n": 99999999999999999999999})",
      R"({"prompt": "x", "max_tokens": -5})",
      R"({"prompt": "x", "seed": 18446744073709551616})",
      "{\"prompt\": \"\xff\xfe\"}",  // invalid UTF-8
      R"({"prompt": [1, 2, 300000000000]})",
      R"({"messages": [{"role": "assistant", "content": null}]})",
      R"({"messages": [{"role": "user", "content": [{"type": "text"}]}]})",
      R"({"messages": [{"role": "user", "content": "x"}], "stop": [)" + std::string("\"a\",") + R"("b"]})",
      "",
      "null",
      "\"just a string\"",
  };
  for (const std::string& b : bodies)
    for (const char* route : {"/v1/chat/completions", "/v1/completions", "/tokenize"}) {
      check_response(c.Post(route, b, "application/json"), b.substr(0, 80));
      if (HasFatalFailure()) return;
    }
  // Header abuse: a huge header line and a bogus Content-Length.
  httplib::Headers h{{"X-Big", std::string(20000, 'x')}};
  auto res = c.Post("/v1/completions", h, "{}", "application/json");
  if (res) {
    EXPECT_GE(res->status, 400);
  }
  EXPECT_EQ(s.client().Get("/health")->status, 200);
}

}  // namespace
}  // namespace frugal::test
