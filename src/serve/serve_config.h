// ServeConfig: every option of `frugal serve`, in TOML sections [model] [server] [engine] [limits].
//
// Each field is declared once, in serve_config.cpp's field table (section, key, flag, default, help,
// range); the flags of `frugal serve`, `--config FILE.toml`, `--section.key=value` overrides and
// --help all come from it through the shared option machinery (core/options.h).
//
// Precedence (highest first): MODEL_DIR and the dedicated flags > `--section.key=value` overrides >
// TOML file > defaults. The values are plain data: the command hands them to the HTTP server
// (ServerOptions) and the engine (EngineOptions).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/options.h"
#include "serve/openai_request.h"

namespace frugal {

struct ServeConfig {
  struct Model {
    std::string dir;                        // the HF checkpoint directory (MODEL_DIR)
    std::string tokenizer;                  // tokenizer.json, its folder or .gz; "" = dir
    std::string reasoning_parser = "auto";  // auto | deepseek_r1 | none (serve::parse_reasoning_parser)
    bool check_tensors = false;             // scan every weight for NaN/Inf while loading
  } model;

  struct Server {
    std::string host = "127.0.0.1";  // loopback unless told otherwise
    int64_t port = 8080;             // 0: any free port, printed at start
    std::string api_key;             // "" = none (FRUGAL_API_KEY is read by the command)
    std::string api_key_file;        // one accepted key per line
    int64_t http_threads = 0;        // 0: max_batch + max_queue + 16
    double drain_seconds = 10;       // on SIGTERM, time running requests get to finish
    bool log_requests = false;       // one line per request on stderr
    // docs/serving.md, Resource model: connections and slow clients.
    int64_t max_connections = 256;   // open connections; beyond them a quick 503
    double header_timeout = 10;      // seconds for a request head to arrive
    double idle_timeout = 5;         // seconds a kept-alive connection may idle
    double body_timeout = 30;        // seconds for a request body to arrive
    double write_timeout = 30;       // seconds a write may stall before the client is dropped
    std::string allowed_hosts;       // comma-separated Host names ("*" any, "*.lan" subdomains)
    std::string allowed_origins;     // comma-separated browser origins ("*" any)
  } server;

  struct Engine {
    int64_t max_batch = 8;                // sequences decoded together
    int64_t max_queue = 64;               // waiting requests before 503
    int64_t ctx = 0;                      // per-sequence context; 0: min(4096, max_position_embeddings)
    int64_t prefill_chunk = 512;          // prompt tokens per forward pass
    int64_t prefix_cache_tokens = 65536;  // latent-KV tokens kept for prefix reuse; 0 = off
    std::string kv_cache_dtype = "f32";   // the only one this build has
  } engine;

  // [limits]: max_n, max_top_logprobs, max_stop_strings, max_body_bytes, max_prompt_bytes,
  // max_prompt_tokens, max_output_tokens, request_timeout
  serve::RequestLimits limits;
};

// The field table, pointing into `c` (use it while `c` lives).
Options serve_options(ServeConfig& c);

// Loads TOML (when toml_path is non-null), then applies `overrides` ("section.key=value") in order.
// Errors (kConfig) name the file (path:line:column) or override, the key and the value; unknown
// sections and keys carry a "did you mean" hint.
ServeConfig load_serve_config(const std::string* toml_path, const std::vector<std::string>& overrides);

// The dedicated flags of `frugal serve` (--host, --port, --max-batch, ...), each mapped to one key.
const std::vector<CliFlag>& serve_cli_flags();

}  // namespace frugal
