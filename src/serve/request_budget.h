// The per-request caps of docs/serving.md, Resource model, that are not about the body's JSON
// shape: prompt text bytes (checked on the parsed body, before any tokenizing or template
// rendering), prompt tokens and output tokens (checked on the parsed request, before the engine).
#pragma once
#include "serve/openai_fields.h"
#include "serve/openai_request.h"

namespace frugal::serve {

// 400 naming the field when the strings under `prompt`, `messages`, `tools` or `content` (the
// tokenizer routes') hold more than limits.max_prompt_bytes bytes in all.
void check_prompt_bytes(const ojson& body, const RequestLimits& limits);

// max_prompt_tokens: 400 beyond it. max_output_tokens: a max_tokens the client asked for beyond it
// is a 400 naming the field; without one, generation stops there (finish_reason "length").
void apply_token_limits(const ojson& body, ParsedRequest& r, const RequestLimits& limits);

}  // namespace frugal::serve
