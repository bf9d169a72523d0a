// The server over the real engine and the micro fixture model with the byte test tokenizer: at
// temperature 0 its text equals `frugal generate`'s (the binary, run beside it), streaming equals
// non-streaming, seeds reproduce, and a client that hangs up cancels its engine request.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>

#include "infer/engine.h"
#include "infer/model_info.h"
#include "io/hf_loader.h"
#include "model/transformer.h"
#include "test_http_util.h"
#include "test_util.h"

namespace frugal::test {
namespace {

using json = nlohmann::json;

const std::string kModelDir = FRUGAL_TEST_DATA "/fixtures/micro_f32";
const std::string kTokDir = FRUGAL_TEST_DATA "/serve/byte_v3";

struct EngineServer {
  EngineServer() : loaded(load_model(kModelDir)), model(loaded->config, loaded->weights) {
    served = std::make_shared<serve::ServedModel>(
        serve::load_served_model(kModelDir, kTokDir, model_info(loaded->config), 0, serve::ReasoningParser::kAuto));
    EngineOptions eo;
    eo.max_batch = 4;
    eo.max_queue = 16;
    eo.ctx = served->ctx;
    engine = std::make_unique<Engine>(model, eo);
    backend = std::make_unique<serve::EngineBackend>(*engine);
    serve::ServerOptions so;
    so.port = 0;
    so.threads = 8;
    so.poll_seconds = 0.01;
    server = std::make_unique<serve::HttpServer>(so);
    port = server->bind();
    server->start();
    server->set_model(served);
    server->set_backend(backend.get());
  }
  ~EngineServer() {
    server->shutdown(0);
    engine->shutdown(true);
  }
  httplib::Client client() const {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(30, 0);
    return c;
  }
  json post(const std::string& path, const json& body) {
    auto c = client();
    auto res = c.Post(path.c_str(), body.dump(), "application/json");
    if (!res) return json();
    EXPECT_EQ(res->status, 200) << res->body;
    return json::parse(res->body, nullptr, false);
  }

  std::unique_ptr<LoadedModel> loaded;
  Transformer model;
  std::shared_ptr<serve::ServedModel> served;
  std::unique_ptr<Engine> engine;
  std::unique_ptr<serve::EngineBackend> backend;
  std::unique_ptr<serve::HttpServer> server;
  int port = 0;
};

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// `frugal generate` at temperature 0: its stdout without the final newline it prints.
std::string frugal_generate(const std::string& prompt, int max_tokens, bool chat) {
  const std::string cmd = std::string(FRUGAL_BINARY) + " generate " + kModelDir + " --tokenizer " + kTokDir +
                          " --prompt " + shell_quote(prompt) + " --max-tokens " + std::to_string(max_tokens) +
                          " --temperature 0" + (chat ? " --chat" : "");
  CommandResult r = run_command(cmd);
  EXPECT_EQ(r.rc, 0) << cmd << "\n" << r.out;
  if (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
  return r.out;
}

std::string stream_text(httplib::Client& c, const std::string& path, const json& body, bool chat) {
  auto res = c.Post(path.c_str(), body.dump(), "application/json");
  if (!res) return "<no response>";
  std::string text;
  for (const auto& e : sse_data(res->body)) {
    if (e == "[DONE]") continue;
    const json j = json::parse(e);
    for (const auto& ch : j["choices"]) {
      if (chat && ch["delta"].contains("content")) text += ch["delta"]["content"].get<std::string>();
      if (!chat) text += ch["text"].get<std::string>();
    }
  }
  return text;
}

TEST(HttpEngine, GreedyEqualsFrugalGenerate) {
  ASSERT_TRUE(std::filesystem::exists(FRUGAL_BINARY)) << FRUGAL_BINARY " missing: the test target depends on it";
  EngineServer s;
  const std::string prompt = "Hello, wörld! 中文";
  const std::string want = frugal_generate(prompt, 40, false);
  ASSERT_FALSE(want.empty());
  json j = s.post("/v1/completions", {{"prompt", prompt}, {"max_tokens", 40}, {"temperature", 0}});
  EXPECT_EQ(j["choices"][0]["text"], want);
  auto c = s.client();
  EXPECT_EQ(stream_text(c, "/v1/completions", {{"prompt", prompt}, {"max_tokens", 40}, {"temperature", 0}, {"stream", true}}, false),
            want);
  // Chat: one user turn through the template, as `generate --chat` renders it.
  const std::string want_chat = frugal_generate("What is 2+2?", 30, true);
  j = s.post("/v1/chat/completions", {{"messages", json::array({{{"role", "user"}, {"content", "What is 2+2?"}}})},
                                      {"max_tokens", 30},
                                      {"temperature", 0}});
  EXPECT_EQ(j["choices"][0]["message"]["content"], want_chat);
  EXPECT_EQ(stream_text(c, "/v1/chat/completions",
                        {{"messages", json::array({{{"role", "user"}, {"content", "What is 2+2?"}}})},
                         {"max_tokens", 30},
                         {"temperature", 0},
                         {"stream", true}},
                        true),
            want_chat);
}

TEST(HttpEngine, SeedsChoicesAndLogprobs) {
  EngineServer s;
  const json body{{"prompt", "abc"}, {"max_tokens", 12}, {"temperature", 1.0}, {"seed", 7}, {"n", 2}};
  json a = s.post("/v1/completions", body);
  json b = s.post("/v1/completions", body);
  ASSERT_EQ(a["choices"].size(), 2u);
  EXPECT_EQ(a["choices"][0]["text"], b["choices"][0]["text"]);  // same seed, same text
  EXPECT_EQ(a["choices"][1]["text"], b["choices"][1]["text"]);
  EXPECT_EQ(a["usage"]["prompt_tokens"], 4);  // BOS a b c
  // Greedy with logprobs: the chosen token is the most likely one.
  json g = s.post("/v1/chat/completions", {{"messages", json::array({{{"role", "user"}, {"content", "q"}}})},
                                           {"max_tokens", 5},
                                           {"temperature", 0},
                                           {"logprobs", true},
                                           {"top_logprobs", 3},
                                           {"ignore_eos", true}});
  const json& lp = g["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(lp.size(), 5u) << g.dump();
  for (const auto& e : lp) {
    ASSERT_EQ(e["top_logprobs"].size(), 3u);
    EXPECT_NEAR(e["logprob"].get<double>(), e["top_logprobs"][0]["logprob"].get<double>(), 1e-5);
    EXPECT_LE(e["logprob"].get<double>(), 0.0);
  }
  EXPECT_EQ(g["choices"][0]["finish_reason"], "length");
}

TEST(HttpEngine, HangUpCancelsTheEngineRequest) {
  EngineServer s;
  const std::string body = json{{"prompt", "x"}, {"max_tokens", 200}, {"stream", true}, {"ignore_eos", true}}.dump();
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(uint16_t(s.port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string req = "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          "Content-Length: " + std::to_string(body.size()) +
                          "\r\n\r\n" + body;
  ASSERT_EQ(::send(fd, req.data(), req.size(), 0), ssize_t(req.size()));
  char buf[64];
  ASSERT_GT(::recv(fd, buf, sizeof buf, 0), 0);  // the stream started
  ::close(fd);
  // The engine ends the request as cancelled long before 200 tokens.
  for (int i = 0; i < 500 && s.engine->metrics().finished_cancelled == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const EngineMetrics m = s.engine->metrics();
  EXPECT_EQ(m.finished_cancelled, 1);
  EXPECT_LT(m.generation_tokens_total, 200);
  // /metrics reports the engine's numbers.
  auto res = s.client().Get("/metrics");
  ASSERT_TRUE(res);
  EXPECT_NE(res->body.find("frugal:prompt_tokens_total{model_name=\"micro_f32\"}"), std::string::npos) << res->body;
  EXPECT_NE(res->body.find("frugal:num_aborted_requests_total{model_name=\"micro_f32\"} 1"), std::string::npos)
      << res->body;
}

}  // namespace
}  // namespace frugal::test

namespace frugal::test {
namespace {

TEST(HttpEngine, ServeCommandLineErrors) {
  ASSERT_TRUE(std::filesystem::exists(FRUGAL_BINARY)) << FRUGAL_BINARY " missing: the test target depends on it";
  const std::string serve = std::string(FRUGAL_BINARY) + " serve " + kModelDir + " --port 0 --tokenizer " + kTokDir;
  CommandResult r = run_command(serve + " --kv-cache-dtype bf16 2>&1");
  EXPECT_EQ(r.rc, 2) << r.out;
  EXPECT_NE(r.out.find("allowed values: f32"), std::string::npos) << r.out;
  r = run_command(serve + " --reasoning-parser magic 2>&1");
  EXPECT_EQ(r.rc, 2) << r.out;
  // Load failures end the process with a message, never a hang (timeout guards the test).
  r = run_command("timeout 20 " + std::string(FRUGAL_BINARY) + " serve /nonexistent/model --port 0 2>&1");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("/nonexistent/model"), std::string::npos) << r.out;
  r = run_command("timeout 20 " + serve + " --ctx 100000 2>&1");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_NE(r.out.find("max_position_embeddings"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace frugal::test
