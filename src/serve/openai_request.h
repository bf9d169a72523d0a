// Request validation in one place: an OpenAI chat/completions JSON body -> ParsedRequest (the
// engine's GenRequest plus what the HTTP layer needs: n, stream, stop strings, tool/reasoning
// parsing). Every cap of docs/serving.md, Request validation, is checked here; anything wrong is a 400 naming the
// field, and parameters we do not implement are refused by name, never silently ignored.
#pragma once
#include <atomic>
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "infer/engine.h"
#include "serve/openai_model.h"

namespace frugal::serve {

// Caps that protect the server (each one a `frugal serve` flag).
struct RequestLimits {
  int64_t max_n = 8;                  // --max-n
  int64_t max_top_logprobs = 20;      // --max-top-logprobs
  int64_t max_stop_strings = 16;      // --max-stop-strings
  int64_t max_stop_bytes = 1024;      // one stop string's length
  int64_t max_body_bytes = 4 << 20;   // --max-body-bytes (413 beyond; decompressed, any transfer encoding)
  int64_t max_prompt_bytes = 2 << 20; // --max-prompt-bytes: text in prompt / messages / tools / content
  int64_t max_prompt_tokens = 0;      // --max-prompt-tokens (0: only the context bounds it)
  int64_t max_output_tokens = 0;      // --max-output-tokens (0: only the context bounds it)
  double request_timeout = 600;       // --request-timeout: seconds a generation request may run
  int64_t max_json_depth = 64;        // nesting of the request body (10^5-deep bodies are 400, not a stack overflow)
  int64_t max_object_keys = 256;      // members of one JSON object (key order is kept by a linear map)
  // Not an option: the server's abort flag. A chat-template render (up to its 10 s budget) ends
  // when it turns true, so SIGTERM's bound holds while a hostile template runs.
  const std::atomic<bool>* cancel = nullptr;
};

enum class Endpoint { kChat, kCompletions };

struct ParsedRequest {
  Endpoint endpoint = Endpoint::kChat;
  GenRequest gen;                       // prompt, sampling, penalties, max_tokens, stop_ids, top_logprobs
  int64_t n = 1;                        // choices; choice i samples with seed + i
  bool stream = false, include_usage = false, continuous_usage = false;
  std::vector<std::string> stop;        // stop strings: never part of the output
  bool logprobs = false;                // chat: logprobs:true; completions: logprobs:k
  bool reasoning = false;               // split <think>...</think> into reasoning_content
  bool prompt_in_reasoning = false;     // the rendered prompt ends inside an open <think> block
  bool parse_tools = false;             // tools given and tool_choice != "none"
  bool parallel_tool_calls = true;      // false: keep only the first call
  bool seeded = false;                  // the request gave a seed
};

// Each throws ApiError (400 naming the field; 404 for an unknown model).
ParsedRequest parse_chat_request(const nlohmann::ordered_json& body, const ServedModel& model, const RequestLimits& limits);
ParsedRequest parse_completion_request(const nlohmann::ordered_json& body, const ServedModel& model,
                                       const RequestLimits& limits);

// The body text -> JSON: 400 for malformed JSON, a non-object, or nesting beyond limits.max_json_depth.
// Objects are kept in the client's key order (tools' JSON schemas reach the template as sent).
nlohmann::ordered_json parse_body(const std::string& body, const RequestLimits& limits);

// The chat prompt: messages validated (roles, content parts, tool calls), rendered with the chat
// template and tokenized so that special-token text inside message contents stays plain text.
// Used by /v1/chat/completions, /apply-template and /tokenize.
struct RenderedChat {
  std::string text;             // what the template produced (markers removed)
  std::vector<int32_t> ids;
};
// With max_tokens >= 0, a prompt of more tokens is a 400 context_length_exceeded, found without
// tokenizing the rest of it (the cost of an oversized prompt is bounded by the limit).
RenderedChat render_chat_prompt(const nlohmann::ordered_json& body, const ServedModel& model, int64_t max_tokens = -1,
                                const std::atomic<bool>* cancel = nullptr);

// Completion prompt text -> ids as `frugal generate --prompt` encodes it (BOS added when the
// tokenizer config asks for it); max_tokens as for render_chat_prompt.
std::vector<int32_t> encode_completion_prompt(const std::string& text, const ServedModel& model,
                                              int64_t max_tokens = -1);

// The most tokens a generation prompt may have: the context less one token to generate.
inline int64_t max_prompt_tokens(const ServedModel& model) { return std::max<int64_t>(0, model.ctx - 1); }

}  // namespace frugal::serve
