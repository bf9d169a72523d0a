// frugal serve MODEL_DIR [--host 127.0.0.1] [--port 8080] [--api-key KEY | --api-key-file FILE]
//              [--max-batch N] [--max-queue N] [--ctx N] [--kv-cache-dtype f32] [--tokenizer PATH] ...
// An OpenAI-compatible server (src/serve/http_server.h) over the continuous-batching engine. It
// listens at once (/health answers, /ready says 503 while loading), loads the model and tokenizer,
// runs a one-token warm-up through the engine, then turns /ready to 200. SIGTERM or SIGINT stop it
// gracefully: new requests get 503, running ones get --drain-seconds to finish, then are cancelled
// (streams end with an error event and data: [DONE]).
#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <thread>

#include "cli/commands.h"
#include "core/error.h"
#include "infer/engine.h"
#include "infer/model_info.h"
#include "io/hf_loader.h"
#include "model/transformer.h"
#include "serve/http_backend.h"
#include "serve/http_server.h"
#include "serve/openai_model.h"

namespace frugal::cli {

namespace {

struct ServeOpts {
  std::string model, tokenizer, host = "127.0.0.1", api_key, api_key_file, kv_cache_dtype = "f32";
  std::string reasoning_parser = "auto";
  int port = 8080, http_threads = 0;
  int64_t max_batch = 8, max_queue = 64, ctx = 0, prefill_chunk = 512, prefix_cache_tokens = 65536;
  serve::RequestLimits limits;
  double drain_seconds = 10;
  bool log_requests = false, check_tensors = false;
};

std::vector<std::string> read_api_keys(const ServeOpts& o) {
  std::vector<std::string> keys;
  if (!o.api_key.empty()) keys.push_back(o.api_key);
  if (const char* env = std::getenv("FRUGAL_API_KEY"); env && *env && o.api_key.empty()) keys.push_back(env);
  if (!o.api_key_file.empty()) {
    std::ifstream f(o.api_key_file);
    if (!f) fail(ErrorKind::kIo, "--api-key-file {}: cannot read it", o.api_key_file);
    for (std::string line; std::getline(f, line);) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
      if (!line.empty() && line[0] != '#') keys.push_back(line);
    }
    if (keys.empty()) fail(ErrorKind::kInvalidArgument, "--api-key-file {}: holds no key", o.api_key_file);
  }
  return keys;
}

// SIGTERM/SIGINT are blocked in every thread and taken by this one with sigwait, so the stop runs as
// ordinary code (no async-signal-safety limits). A signal while the model is still loading exits
// at once: nothing is being served yet.
class StopSignal {
 public:
  StopSignal() {
    sigemptyset(&set_);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);  // before any other thread starts: they inherit it
    thread_ = std::thread([this] {
      int sig = 0;
      sigwait(&set_, &sig);
      if (quitting_) return;  // woken by the destructor
      if (!loaded_) {
        std::fprintf(stderr, "frugal serve: signal %d while loading; exiting\n", sig);
        std::_Exit(1);
      }
      std::fprintf(stderr, "frugal serve: signal %d: stopping (new requests get 503)\n", sig);
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      cv_.notify_all();
    });
  }
  ~StopSignal() {
    bool waiting;
    {
      std::lock_guard<std::mutex> lock(mu_);
      waiting = !stop_;
    }
    if (waiting) {  // an error ended run_serve: release the waiting thread
      quitting_ = true;
      pthread_kill(thread_.native_handle(), SIGTERM);
    }
    thread_.join();
  }
  void loaded() { loaded_ = true; }
  void wait() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return stop_; });
  }

 private:
  sigset_t set_;
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::atomic<bool> loaded_{false}, quitting_{false};
};

// One greedy token through the whole engine path, so that the first user request does not pay for
// first-touch page faults of the weights and the KV cache.
void warm_up(Engine& engine, const serve::ServedModel& m) {
  std::mutex mu;
  std::condition_variable cv;
  FinishReason finish = FinishReason::kNone;
  std::string error;
  GenRequest g;
  g.prompt = {m.eos_ids.empty() ? 0 : m.eos_ids[0]};
  g.sampling.temperature = 0;
  g.max_tokens = 1;
  g.on_event = [&](const TokenEvent& ev) {
    if (ev.finish != FinishReason::kNone) {
      std::lock_guard<std::mutex> lock(mu);
      finish = ev.finish;
      error = ev.error;
      cv.notify_all();
    }
    return true;
  };
  engine.submit(std::move(g));
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return finish != FinishReason::kNone; });
  if (finish == FinishReason::kError) fail(ErrorKind::kInternal, "warm-up generation failed: {}", error);
}

void run_serve(const ServeOpts& o) {
  const serve::ReasoningParser reasoning = serve::parse_reasoning_parser(o.reasoning_parser);
  serve::ServerOptions so;
  so.host = o.host;
  so.port = o.port;
  so.api_keys = read_api_keys(o);
  so.limits = o.limits;
  so.threads = o.http_threads;
  so.max_batch = o.max_batch;
  so.max_queue = o.max_queue;
  so.log_requests = o.log_requests;

  StopSignal stop;
  serve::HttpServer server(so);
  const int port = server.bind();
  server.start();
  std::fprintf(stderr, "frugal serve: listening on http://%s:%d (loading %s)%s\n", o.host.c_str(), port,
               o.model.c_str(), so.api_keys.empty() ? "" : " [API key required]");

  LoadOptions lo;
  lo.check_finite = o.check_tensors;
  auto loaded = load_model(o.model, lo);
  auto served = std::make_shared<serve::ServedModel>(
      serve::load_served_model(o.model, o.tokenizer, model_info(loaded->config), o.ctx, reasoning));
  Transformer model(loaded->config, loaded->weights);
  EngineOptions eo;
  eo.max_batch = o.max_batch;
  eo.max_queue = o.max_queue;
  eo.ctx = served->ctx;
  eo.prefill_chunk = o.prefill_chunk;
  eo.prefix_cache_tokens = o.prefix_cache_tokens;
  Engine engine(model, eo);
  served->ctx = std::min(served->ctx, engine.context_tokens());
  server.set_model(served);
  warm_up(engine, *served);
  serve::EngineBackend backend(engine);
  server.set_backend(&backend);
  stop.loaded();
  std::fprintf(stderr, "frugal serve: ready: model '%s', context %lld, max batch %lld%s\n", served->name.c_str(),
               (long long)served->ctx, (long long)o.max_batch, served->reasoning ? ", reasoning split on" : "");

  stop.wait();
  server.shutdown(o.drain_seconds);
  engine.shutdown(true);
  std::fprintf(stderr, "frugal serve: stopped\n");
}

}  // namespace

void register_serve(CLI::App& app) {
  auto o = std::make_shared<ServeOpts>();
  CLI::App* c = app.add_subcommand("serve", "OpenAI-compatible HTTP server (chat, completions, a chat page at /)");
  c->add_option("MODEL_DIR", o->model, "Hugging Face checkpoint directory (with tokenizer.json, or see --tokenizer)")
      ->required();
  c->add_option("--tokenizer", o->tokenizer, "tokenizer.json, its folder or .gz (default: MODEL_DIR)");
  c->add_option("--host", o->host, "address to bind; 0.0.0.0 exposes the server to the network")->capture_default_str();
  c->add_option("--port", o->port, "TCP port (0: any free port, printed at start)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  c->add_option("--api-key", o->api_key, "require 'Authorization: Bearer KEY' (also FRUGAL_API_KEY)");
  c->add_option("--api-key-file", o->api_key_file, "file with one accepted key per line");
  c->add_option("--max-batch", o->max_batch, "sequences decoded together")->check(CLI::Range(1, 4096))->capture_default_str();
  c->add_option("--max-queue", o->max_queue, "waiting requests before 503")->check(CLI::Range(1, 1 << 20))->capture_default_str();
  c->add_option("--ctx", o->ctx, "per-sequence context in tokens (default: min(4096, max_position_embeddings))")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--kv-cache-dtype", o->kv_cache_dtype, "latent KV cache dtype (f32)")
      ->check(CLI::Validator(
          [](std::string& v) {
            return v == "f32" ? std::string()
                              : "'" + v + "': this build keeps the latent KV cache in f32 only (allowed values: f32)";
          },
          "f32"))
      ->capture_default_str();
  c->add_option("--prefill-chunk", o->prefill_chunk, "prompt tokens per forward pass")->check(CLI::PositiveNumber)->capture_default_str();
  c->add_option("--prefix-cache-tokens", o->prefix_cache_tokens, "latent-KV tokens kept for prefix reuse (0: off)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  c->add_option("--reasoning-parser", o->reasoning_parser,
                "auto | deepseek_r1 | none: split <think> blocks into reasoning_content (auto: when the chat "
                "template mentions </think>)")
      ->check(CLI::IsMember({"auto", "deepseek_r1", "none"}))
      ->capture_default_str();
  c->add_option("--max-n", o->limits.max_n, "largest n (choices per request)")->check(CLI::Range(1, 128))->capture_default_str();
  c->add_option("--max-top-logprobs", o->limits.max_top_logprobs, "largest top_logprobs")->check(CLI::Range(0, 100))->capture_default_str();
  c->add_option("--max-stop-strings", o->limits.max_stop_strings, "most stop strings per request")
      ->check(CLI::Range(0, 1024))->capture_default_str();
  c->add_option("--max-body-bytes", o->limits.max_body_bytes, "largest request body (413 beyond)")
      ->check(CLI::Range(int64_t(1024), int64_t(1) << 30))->capture_default_str();
  c->add_option("--http-threads", o->http_threads, "HTTP worker threads (default: max-batch + max-queue + 16)")
      ->check(CLI::NonNegativeNumber);
  c->add_option("--drain-seconds", o->drain_seconds, "on SIGTERM, time running requests get to finish")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  c->add_flag("--log-requests", o->log_requests, "one line per request on stderr");
  c->add_flag("--check-tensors", o->check_tensors, "scan every weight for NaN/Inf while loading (slow)");
  c->callback([o] { run_serve(*o); });
}

static CommandRegistrar reg(60, &register_serve);

}  // namespace frugal::cli
