// Response JSON in OpenAI's shapes: chat.completion / chat.completion.chunk, text_completion (and
// its chunks), usage, logprobs, and the SSE framing. The `timings` object (llama.cpp's names) rides
// along on every final response.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/openai_choice.h"

namespace frugal::serve {

using ojson = nlohmann::ordered_json;

struct ResponseMeta {
  std::string id;        // "chatcmpl-..." / "cmpl-..."
  int64_t created = 0;   // unix seconds
  std::string model;
  bool reasoning = false;  // chat: include reasoning_content
};

std::string new_response_id(const char* prefix);  // prefix + 24 random alphanumerics
int64_t unix_now();

// usage over all choices: the prompt counts once, completions add up.
ojson usage_json(const std::vector<ChoiceOutput>& choices);
ojson timings_json(const std::vector<ChoiceOutput>& choices);

ojson chat_completion_json(const ResponseMeta& meta, const std::vector<ChoiceOutput>& choices,
                           const Tokenizer& tok);
ojson completion_json(const ResponseMeta& meta, const std::vector<ChoiceOutput>& choices, const Tokenizer& tok);

// One streamed chunk for choice `index`: its delta and, on the last one, finish_reason.
// first: the choice's first chunk (chat sends role "assistant" there).
ojson chat_chunk_json(const ResponseMeta& meta, int index, const ChoiceDelta& d, const std::string& finish_reason,
                      bool first, const Tokenizer& tok);
ojson completion_chunk_json(const ResponseMeta& meta, int index, const ChoiceDelta& d,
                            const std::string& finish_reason, const Tokenizer& tok);
// The closing usage chunk of stream_options.include_usage: "choices": [] and the usage.
ojson usage_chunk_json(const ResponseMeta& meta, bool chat, const std::vector<ChoiceOutput>& choices);

// Logprobs in the two shapes: chat {"content": [{token, logprob, bytes, top_logprobs}]} and the
// legacy completions {"tokens", "token_logprobs", "top_logprobs", "text_offset"}.
ojson chat_logprobs_json(const std::vector<LogprobEntry>& entries, const Tokenizer& tok);
ojson completion_logprobs_json(const std::vector<LogprobEntry>& entries, const Tokenizer& tok, int64_t text_offset);

// "data: <json>\n\n" — dumped with invalid UTF-8 replaced, so a dump never throws.
std::string sse_event(const ojson& j);
inline const char* kSseDone = "data: [DONE]\n\n";
std::string dump_json(const ojson& j);

}  // namespace frugal::serve
