// ServeConfig: the field table of `frugal serve` (flags, TOML keys, defaults, ranges).
#include "serve/serve_config.h"

namespace frugal {
namespace {

constexpr std::string_view kReasoningParsers[] = {"auto", "deepseek_r1", "none"};
constexpr std::string_view kKvCacheDtypes[] = {"f32"};

}  // namespace

// THE field table: every key, once, in file order, with its `frugal serve` flag (the flags and
// ranges `frugal serve` has always had).
Options serve_options(ServeConfig& c) {
  Options f;
  auto& m = c.model;
  f.add(option("model", "dir", "", "Hugging Face checkpoint directory (MODEL_DIR)"), m.dir);
  f.add(option("model", "tokenizer", "tokenizer", "tokenizer.json, its folder or .gz (empty: the model dir)"),
        m.tokenizer);
  f.add(option("model", "reasoning_parser", "reasoning-parser",
               "auto | deepseek_r1 | none: split <think> blocks into reasoning_content (auto: when the chat "
               "template mentions </think>)",
               OptionRule{.choices = kReasoningParsers}),
        m.reasoning_parser);
  f.add(option("model", "check_tensors", "check-tensors", "scan every weight for NaN/Inf while loading (slow)"),
        m.check_tensors);

  auto& s = c.server;
  f.add(option("server", "host", "host", "address to bind; 0.0.0.0 exposes the server to the network"), s.host);
  f.add(option("server", "port", "port", "TCP port (0: any free port, printed at start)", between(0, 65535)), s.port);
  f.add(option("server", "api_key", "api-key", "require 'Authorization: Bearer KEY' (also FRUGAL_API_KEY)"), s.api_key);
  f.add(option("server", "api_key_file", "api-key-file", "file with one accepted key per line"), s.api_key_file);
  f.add(option("server", "http_threads", "http-threads", "HTTP worker threads (0: max-batch + max-queue + 16)",
               between(0, 2147483647)),
        s.http_threads);
  f.add(option("server", "drain_seconds", "drain-seconds", "on SIGTERM, time running requests get to finish",
               at_least(0)),
        s.drain_seconds);
  f.add(option("server", "log_requests", "log-requests", "one line per request on stderr"), s.log_requests);
  f.add(option("server", "max_connections", "max-connections",
               "open connections at most; more get an immediate 503 (at most 900: cpp-httplib uses select())",
               between(1, 900)),
        s.max_connections);
  f.add(option("server", "header_timeout", "header-timeout",
               "seconds for a request's line and headers to arrive (408 after)", between(0.1, 3600)),
        s.header_timeout);
  f.add(option("server", "idle_timeout", "idle-timeout", "seconds a kept-alive connection waits for its next request",
               between(0.1, 3600)),
        s.idle_timeout);
  f.add(option("server", "body_timeout", "body-timeout", "seconds for a request body to arrive (400 after)",
               between(0.1, 3600)),
        s.body_timeout);
  f.add(option("server", "write_timeout", "write-timeout",
               "seconds a write to a client may stall before the client is dropped", between(0.1, 3600)),
        s.write_timeout);
  f.add(option("server", "allowed_hosts", "allowed-hosts",
               "Host names to answer besides localhost, IP literals and --host (comma-separated; '*.lan' for "
               "subdomains, '*' for any)"),
        s.allowed_hosts);
  f.add(option("server", "allowed_origins", "allowed-origins",
               "browser origins allowed besides the server's own, with CORS (comma-separated, e.g. "
               "'http://app.lan:3000'; '*' for any)"),
        s.allowed_origins);

  auto& e = c.engine;
  f.add(option("engine", "max_batch", "max-batch", "sequences decoded together", between(1, 4096)), e.max_batch);
  f.add(option("engine", "max_queue", "max-queue", "waiting requests before 503", between(1, 1 << 20)), e.max_queue);
  f.add(option("engine", "ctx", "ctx", "per-sequence context in tokens (0: min(4096, max_position_embeddings))",
               at_least(0)),
        e.ctx);
  f.add(option("engine", "prefill_chunk", "prefill-chunk", "prompt tokens per forward pass", at_least(1)),
        e.prefill_chunk);
  f.add(option("engine", "prefix_cache_tokens", "prefix-cache-tokens",
               "latent-KV tokens kept for prefix reuse (0: off)", at_least(0)),
        e.prefix_cache_tokens);
  f.add(option("engine", "kv_cache_dtype", "kv-cache-dtype", "latent KV cache dtype (f32)",
               OptionRule{.choices = kKvCacheDtypes,
                          .note = "this build keeps the latent KV cache in f32 only (allowed values: f32)"}),
        e.kv_cache_dtype);

  auto& l = c.limits;
  f.add(option("limits", "max_n", "max-n", "largest n (choices per request)", between(1, 128)), l.max_n);
  f.add(option("limits", "max_top_logprobs", "max-top-logprobs", "largest top_logprobs", between(0, 100)),
        l.max_top_logprobs);
  f.add(option("limits", "max_stop_strings", "max-stop-strings", "most stop strings per request", between(0, 1024)),
        l.max_stop_strings);
  f.add(option("limits", "max_body_bytes", "max-body-bytes", "largest request body, decompressed, however it is framed (413 beyond)",
               between(1024, double(int64_t(1) << 30))),
        l.max_body_bytes);
  f.add(option("limits", "max_prompt_bytes", "max-prompt-bytes",
               "most bytes of text in a request's prompt, messages and tools (400 beyond)",
               between(1, double(int64_t(1) << 30))),
        l.max_prompt_bytes);
  f.add(option("limits", "max_prompt_tokens", "max-prompt-tokens", "longest prompt in tokens (0: the context)",
               between(0, double(int64_t(1) << 40))),
        l.max_prompt_tokens);
  f.add(option("limits", "max_output_tokens", "max-output-tokens",
               "most tokens generated per choice (0: the rest of the context); a larger max_tokens is a 400",
               between(0, double(int64_t(1) << 40))),
        l.max_output_tokens);
  f.add(option("limits", "request_timeout", "request-timeout",
               "seconds a generation request may run; then it ends with a 504 (an error event in a stream)",
               between(0.1, 1e7)),
        l.request_timeout);
  return f;
}

ServeConfig load_serve_config(const std::string* toml_path, const std::vector<std::string>& overrides) {
  return load_config<ServeConfig>(&serve_options, toml_path, overrides, [](ServeConfig&) {});  // every check is one field's
}

const std::vector<CliFlag>& serve_cli_flags() {
  static const std::vector<CliFlag> flags = config_cli_flags<ServeConfig>(&serve_options);
  return flags;
}

}  // namespace frugal
