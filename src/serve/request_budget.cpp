#include "serve/request_budget.h"

#include <algorithm>

#include "serve/openai_error.h"

namespace frugal::serve {

namespace {

// Bytes of every string (keys included) in `v`, stopping early once past `cap`.
int64_t string_bytes(const ojson& v, int64_t cap) {
  int64_t n = 0;
  if (v.is_string()) return int64_t(v.get_ref<const std::string&>().size());
  if (v.is_object()) {
    for (auto it = v.begin(); it != v.end() && n <= cap; ++it) n += int64_t(it.key().size()) + string_bytes(*it, cap - n);
  } else if (v.is_array()) {
    for (auto it = v.begin(); it != v.end() && n <= cap; ++it) n += string_bytes(*it, cap - n);
  }
  return n;
}

}  // namespace

void check_prompt_bytes(const ojson& body, const RequestLimits& lim) {
  int64_t total = 0;
  const char* worst = "prompt";
  for (const char* key : {"prompt", "messages", "tools", "content"}) {
    const ojson* v = field(body, key);
    if (!v) continue;
    total += string_bytes(*v, lim.max_prompt_bytes - total);
    worst = key;
    if (total > lim.max_prompt_bytes)
      throw ApiError(400, "invalid_request_error",
                     fmt::format("the prompt text is longer than {} bytes (--max-prompt-bytes)", lim.max_prompt_bytes),
                     worst, "prompt_too_long");
  }
}

void apply_token_limits(const ojson& body, ParsedRequest& r, const RequestLimits& lim) {
  const char* prompt_field = r.endpoint == Endpoint::kChat ? "messages" : "prompt";
  const int64_t p = int64_t(r.gen.prompt.size());
  if (lim.max_prompt_tokens > 0 && p > lim.max_prompt_tokens)
    throw ApiError(400, "invalid_request_error",
                   fmt::format("the prompt is {} tokens long; this server accepts at most {} (--max-prompt-tokens)", p,
                               lim.max_prompt_tokens),
                   prompt_field, "prompt_too_long");
  if (lim.max_output_tokens <= 0 || r.gen.max_tokens <= lim.max_output_tokens) return;
  for (const char* key : {"max_tokens", "max_completion_tokens"})
    if (field(body, key))
      bad_request(key, "'{}' is {}; this server generates at most {} tokens per request (--max-output-tokens)", key,
                  r.gen.max_tokens, lim.max_output_tokens);
  r.gen.max_tokens = lim.max_output_tokens;  // not asked for: the server's cap instead of the rest of the context
}

}  // namespace frugal::serve
