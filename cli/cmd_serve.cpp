// frugal serve MODEL_DIR [--host 127.0.0.1] [--port 8080] [--api-key KEY | --api-key-file FILE]
//              [--max-batch N] [--max-queue N] [--ctx N] [--kv-cache-dtype f32] [--tokenizer PATH] ...
//              [--config FILE.toml] [--section.key=value ...]
// The options come from serve/serve_config.h's table (one declaration per key, TOML sections
// [model] [server] [engine] [limits]). Precedence: MODEL_DIR and flags > overrides > TOML.
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
#include "cli/config_flags.h"
#include "core/error.h"
#include "infer/engine.h"
#include "infer/model_info.h"
#include "io/hf_loader.h"
#include "model/transformer.h"
#include "serve/http_backend.h"
#include "serve/http_guard.h"
#include "serve/http_server.h"
#include "serve/openai_model.h"
#include "serve/serve_config.h"

namespace frugal::cli {

namespace {

std::vector<std::string> read_api_keys(const ServeConfig::Server& o) {
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

void run_serve(const ServeConfig& c) {
  const ServeConfig::Model& m = c.model;
  const ServeConfig::Server& o = c.server;
  const ServeConfig::Engine& e = c.engine;
  const serve::ReasoningParser reasoning = serve::parse_reasoning_parser(m.reasoning_parser);
  serve::ServerOptions so;
  so.host = o.host;
  so.port = int(o.port);
  so.api_keys = read_api_keys(o);
  so.limits = c.limits;
  so.threads = int(o.http_threads);
  so.max_batch = e.max_batch;
  so.max_queue = e.max_queue;
  so.log_requests = o.log_requests;
  so.max_connections = o.max_connections;
  so.header_timeout = o.header_timeout;
  so.idle_timeout = o.idle_timeout;
  so.body_timeout = o.body_timeout;
  so.write_timeout = o.write_timeout;
  so.allowed_hosts = serve::split_list(o.allowed_hosts);
  so.allowed_origins = serve::split_list(o.allowed_origins);

  StopSignal stop;
  serve::HttpServer server(so);
  const int port = server.bind();
  server.start();
  std::fprintf(stderr, "frugal serve: listening on http://%s:%d (loading %s)%s\n", o.host.c_str(), port,
               m.dir.c_str(), so.api_keys.empty() ? "" : " [API key required]");

  LoadOptions lo;
  lo.check_finite = m.check_tensors;
  auto loaded = load_model(m.dir, lo);
  auto served = std::make_shared<serve::ServedModel>(
      serve::load_served_model(m.dir, m.tokenizer, model_info(loaded->config), e.ctx, reasoning));
  Transformer model(loaded->config, loaded->weights);
  EngineOptions eo;
  eo.max_batch = e.max_batch;
  eo.max_queue = e.max_queue;
  eo.ctx = served->ctx;
  eo.prefill_chunk = e.prefill_chunk;
  eo.prefix_cache_tokens = e.prefix_cache_tokens;
  Engine engine(model, eo);
  served->ctx = std::min(served->ctx, engine.context_tokens());
  server.set_model(served);
  warm_up(engine, *served);
  serve::EngineBackend backend(engine);
  server.set_backend(&backend);
  stop.loaded();
  std::fprintf(stderr, "frugal serve: ready: model '%s', context %lld, max batch %lld%s\n", served->name.c_str(),
               (long long)served->ctx, (long long)e.max_batch, served->reasoning ? ", reasoning split on" : "");

  stop.wait();
  server.shutdown(o.drain_seconds);
  engine.shutdown(true);
  std::fprintf(stderr, "frugal serve: stopped\n");
}

}  // namespace

void register_serve(CLI::App& app) {
  CLI::App* c = app.add_subcommand("serve", "OpenAI-compatible HTTP server (chat, completions, a chat page at /)");
  auto model_dir = std::make_shared<std::string>();
  c->add_option("MODEL_DIR", *model_dir,
                "Hugging Face checkpoint directory (with tokenizer.json, or see --tokenizer); "
                "required unless the --config file sets [model] dir");
  auto o = ConfigFlags::add_to(c, serve_cli_flags(), "TOML config file ([model] [server] [engine] [limits])");
  c->callback([o, c, model_dir] {
    std::vector<ConfigFlags::Setting> settings;
    try {
      for (const std::string& a : c->remaining())
        if (a.starts_with("--") && a.find('.') != std::string::npos && a.find('=') == std::string::npos)
          fail(ErrorKind::kConfig, "'{}' needs its value after '=' (--section.key=value)", a);
      settings = o->settings(c);
      if (!model_dir->empty()) settings.push_back({"model.dir=" + *model_dir, "MODEL_DIR"});
      // Each setting checked on its own first, so that a bad command line exits 2 as CLI11's own
      // checks did, naming the flag; the TOML file's errors come later and exit 1 (bad input).
      ServeConfig probe;
      Options p = serve_options(probe);
      for (const ConfigFlags::Setting& s : settings) p.set_assignment(s.assignment, s.source);
    } catch (const Error& e) {
      throw CLI::ValidationError(e.what());
    }
    std::vector<std::string> overrides;
    for (const ConfigFlags::Setting& s : settings) overrides.push_back(s.assignment);
    const ServeConfig cfg = load_serve_config(o->config(), overrides);
    if (cfg.model.dir.empty()) throw CLI::RequiredError("MODEL_DIR");
    run_serve(cfg);
  });
}

static CommandRegistrar reg_serve(61, &register_serve);

}  // namespace frugal::cli
