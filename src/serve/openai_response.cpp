#include "serve/openai_response.h"

#include <chrono>
#include <cmath>
#include <random>

#include "tokenizer/byte_level.h"

namespace frugal::serve {

namespace {

// JSON has no -Infinity; OpenAI reports "practically impossible" as -9999.
double finite_logprob(float lp) { return std::isfinite(lp) ? double(lp) : -9999.0; }

std::string token_text(const Tokenizer& tok, int32_t id) { return tok.decode({id}, false); }

// The raw bytes a token stands for: byte-level tokens map back exactly; otherwise its UTF-8 text.
ojson token_bytes(const Tokenizer& tok, int32_t id) {
  std::string raw;
  auto piece = tok.id_to_token(id);
  if (!piece || tok.is_special(id) || !tok::symbols_to_bytes(*piece, raw)) raw = token_text(tok, id);
  ojson out = ojson::array();
  for (unsigned char c : raw) out.push_back(int(c));
  return out;
}

ojson tool_calls_json(const std::vector<ToolCall>& calls, int first_index, bool stream) {
  ojson out = ojson::array();
  for (size_t k = 0; k < calls.size(); ++k) {
    ojson c = ojson::object();
    if (stream) c["index"] = first_index + int(k);
    c["id"] = calls[k].id;
    c["type"] = "function";
    c["function"] = {{"name", calls[k].name}, {"arguments", calls[k].arguments}};
    out.push_back(std::move(c));
  }
  return out;
}

ojson finish_json(const std::string& reason) { return reason.empty() ? ojson(nullptr) : ojson(reason); }

}  // namespace

std::string new_response_id(const char* prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* kChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::string id = prefix;
  for (int i = 0; i < 24; ++i) id += kChars[rng() % 62];
  return id;
}

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string dump_json(const ojson& j) { return j.dump(-1, ' ', false, ojson::error_handler_t::replace); }

std::string sse_event(const ojson& j) { return "data: " + dump_json(j) + "\n\n"; }

ojson usage_json(const std::vector<ChoiceOutput>& choices) {
  int64_t prompt = 0, completion = 0, cached = 0;
  for (const ChoiceOutput& c : choices) {
    prompt = std::max(prompt, c.prompt_tokens());
    cached = std::max(cached, c.cached_tokens());
    completion += c.completion_tokens();
  }
  return ojson{{"prompt_tokens", prompt},
               {"completion_tokens", completion},
               {"total_tokens", prompt + completion},
               {"prompt_tokens_details", {{"cached_tokens", cached}}}};
}

ojson timings_json(const std::vector<ChoiceOutput>& choices) {
  int64_t prompt = 0, predicted = 0, cached = 0;
  double prompt_s = 0, decode_s = 0;
  for (const ChoiceOutput& c : choices) {
    prompt = std::max(prompt, c.prompt_tokens());
    cached = std::max(cached, c.cached_tokens());
    predicted += c.completion_tokens();
    prompt_s = std::max(prompt_s, c.first_token_seconds());
    decode_s = std::max(decode_s, c.decode_seconds());
  }
  const int64_t decoded = predicted > int64_t(choices.size()) ? predicted - int64_t(choices.size()) : 0;
  return ojson{{"cache_n", cached},
               {"prompt_n", prompt},
               {"prompt_ms", prompt_s * 1e3},
               {"predicted_n", predicted},
               {"predicted_ms", decode_s * 1e3},
               {"predicted_per_second", decode_s > 0 ? double(decoded) / decode_s : 0.0}};
}

ojson chat_logprobs_json(const std::vector<LogprobEntry>& entries, const Tokenizer& tok) {
  ojson content = ojson::array();
  for (const LogprobEntry& e : entries) {
    ojson top = ojson::array();
    for (const auto& [id, lp] : e.top)
      top.push_back(ojson{{"token", token_text(tok, id)}, {"logprob", finite_logprob(lp)}, {"bytes", token_bytes(tok, id)}});
    content.push_back(ojson{{"token", token_text(tok, e.token)},
                            {"logprob", finite_logprob(e.logprob)},
                            {"bytes", token_bytes(tok, e.token)},
                            {"top_logprobs", std::move(top)}});
  }
  return ojson{{"content", std::move(content)}};
}

ojson completion_logprobs_json(const std::vector<LogprobEntry>& entries, const Tokenizer& tok, int64_t text_offset) {
  ojson tokens = ojson::array(), lps = ojson::array(), tops = ojson::array(), offsets = ojson::array();
  for (const LogprobEntry& e : entries) {
    const std::string t = token_text(tok, e.token);
    tokens.push_back(t);
    lps.push_back(finite_logprob(e.logprob));
    ojson top = ojson::object();
    for (const auto& [id, lp] : e.top) top[token_text(tok, id)] = finite_logprob(lp);
    tops.push_back(std::move(top));
    offsets.push_back(text_offset);
    text_offset += int64_t(t.size());
  }
  return ojson{{"tokens", std::move(tokens)},
               {"token_logprobs", std::move(lps)},
               {"top_logprobs", std::move(tops)},
               {"text_offset", std::move(offsets)}};
}

ojson chat_completion_json(const ResponseMeta& meta, const std::vector<ChoiceOutput>& choices, const Tokenizer& tok) {
  ojson list = ojson::array();
  for (const ChoiceOutput& c : choices) {
    ojson msg{{"role", "assistant"}};
    // content is null only for a turn that is nothing but tool calls, as OpenAI sends it.
    msg["content"] = c.content().empty() && !c.tool_calls().empty() ? ojson(nullptr) : ojson(c.content());
    if (meta.reasoning) msg["reasoning_content"] = c.reasoning();
    if (!c.tool_calls().empty()) msg["tool_calls"] = tool_calls_json(c.tool_calls(), 0, false);
    list.push_back(ojson{{"index", c.index()},
                         {"message", std::move(msg)},
                         {"logprobs", c.logprobs().empty() ? ojson(nullptr) : chat_logprobs_json(c.logprobs(), tok)},
                         {"finish_reason", finish_json(c.finish_reason())}});
  }
  return ojson{{"id", meta.id},           {"object", "chat.completion"}, {"created", meta.created},
               {"model", meta.model},     {"choices", std::move(list)},  {"usage", usage_json(choices)},
               {"timings", timings_json(choices)}};
}

ojson completion_json(const ResponseMeta& meta, const std::vector<ChoiceOutput>& choices, const Tokenizer& tok) {
  ojson list = ojson::array();
  for (const ChoiceOutput& c : choices) {
    list.push_back(ojson{{"index", c.index()},
                         {"text", c.content()},
                         {"logprobs", c.logprobs().empty() ? ojson(nullptr) : completion_logprobs_json(c.logprobs(), tok, 0)},
                         {"finish_reason", finish_json(c.finish_reason())}});
  }
  return ojson{{"id", meta.id},       {"object", "text_completion"}, {"created", meta.created},
               {"model", meta.model}, {"choices", std::move(list)},  {"usage", usage_json(choices)},
               {"timings", timings_json(choices)}};
}

ojson chat_chunk_json(const ResponseMeta& meta, int index, const ChoiceDelta& d, const std::string& finish_reason,
                      bool first, const Tokenizer& tok) {
  ojson delta = ojson::object();
  if (first) delta["role"] = "assistant";
  if (!d.reasoning.empty()) delta["reasoning_content"] = d.reasoning;
  if (!d.content.empty() || (first && d.reasoning.empty() && d.calls.empty())) delta["content"] = d.content;
  if (!d.calls.empty()) delta["tool_calls"] = tool_calls_json(d.calls, d.call_index, true);
  ojson choice{{"index", index},
               {"delta", std::move(delta)},
               {"logprobs", d.logprobs.empty() ? ojson(nullptr) : chat_logprobs_json(d.logprobs, tok)},
               {"finish_reason", finish_json(finish_reason)}};
  return ojson{{"id", meta.id},       {"object", "chat.completion.chunk"}, {"created", meta.created},
               {"model", meta.model}, {"choices", ojson::array({std::move(choice)})}};
}

ojson completion_chunk_json(const ResponseMeta& meta, int index, const ChoiceDelta& d,
                            const std::string& finish_reason, const Tokenizer& tok) {
  ojson choice{{"index", index},
               {"text", d.content},
               {"logprobs", d.logprobs.empty() ? ojson(nullptr) : completion_logprobs_json(d.logprobs, tok, 0)},
               {"finish_reason", finish_json(finish_reason)}};
  return ojson{{"id", meta.id},       {"object", "text_completion"}, {"created", meta.created},
               {"model", meta.model}, {"choices", ojson::array({std::move(choice)})}};
}

ojson usage_chunk_json(const ResponseMeta& meta, bool chat, const std::vector<ChoiceOutput>& choices) {
  return ojson{{"id", meta.id},
               {"object", chat ? "chat.completion.chunk" : "text_completion"},
               {"created", meta.created},
               {"model", meta.model},
               {"choices", ojson::array()},
               {"usage", usage_json(choices)}};
}

}  // namespace frugal::serve
