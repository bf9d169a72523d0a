// Chat messages -> prompt ids: validation of roles, content parts and tool calls, rendering with the
// chat template, and tokenization that keeps special-token text inside message contents plain.
//
// Why the marker: the template's output is one string, and encoding it matches every added token
// in it — including "<｜User｜>" or "</think>" typed by a user, which would let a user forge turns
// or tool calls (docs/serving.md, Request validation). Before rendering, each special-token text inside a
// user/system/tool content gets a 0xFF byte after its first character. 0xFF never occurs in UTF-8,
// so after rendering the text is cut at the markers and the pieces are encoded one by one: no piece
// holds the whole special text, so it becomes plain tokens. Without such text there is no marker
// and the prompt is encoded exactly as `frugal generate --chat` encodes it.
#include <string_view>

#include "core/error.h"
#include "serve/openai_error.h"
#include "serve/openai_fields.h"
#include "serve/openai_request.h"

namespace frugal::serve {

namespace {

// More than `max_tokens` prompt tokens (ctx - 1: one must be left to generate). Said before the
// whole prompt is tokenized, so the exact count is not known.
[[noreturn]] void prompt_too_long(const ServedModel& model, int64_t max_tokens, size_t text_bytes, const char* param) {
  throw ApiError(400, "invalid_request_error",
                 fmt::format("this model's maximum context length is {} tokens, but the prompt alone has more than "
                             "{} tokens ({} bytes of text), leaving no room for the completion. Shorten the prompt",
                             model.ctx, max_tokens, text_bytes),
                 param, "context_length_exceeded");
}

// content: a string, or a list of {"type": "text", "text": ...} parts joined with "\n" (as vLLM does).
std::string content_text(const ojson& content, const std::string& path) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) bad_request(path, "'{}' must be a string or a list of text parts, not {}", path, json_type_name(content));
  std::string out;
  for (size_t j = 0; j < content.size(); ++j) {
    const ojson& part = content[j];
    const std::string pp = fmt::format("{}[{}]", path, j);
    if (!part.is_object()) bad_request(pp, "'{}' must be an object, not {}", pp, json_type_name(part));
    const auto type = get_string(part, "type", pp);
    if (!type) bad_request(pp + ".type", "'{}.type' is required", pp);
    if (*type != "text")
      throw ApiError(400, "invalid_request_error",
                     fmt::format("'{}.type' is '{}': this server takes text parts only", pp, *type), pp + ".type",
                     "unsupported_content");
    const auto text = get_string(part, "text", pp);
    if (!text) bad_request(pp + ".text", "'{}.text' is required", pp);
    if (j > 0) out += '\n';
    out += *text;
  }
  return out;
}

ojson tool_call_json(const ojson& call, const std::string& path) {
  if (!call.is_object()) bad_request(path, "'{}' must be an object, not {}", path, json_type_name(call));
  const auto type = get_string(call, "type", path).value_or("function");
  if (type != "function") bad_request(path + ".type", "'{}.type' must be \"function\", got \"{}\"", path, type);
  const ojson* fn = field(call, "function");
  if (!fn || !fn->is_object()) bad_request(path + ".function", "'{}.function' must be an object", path);
  const std::string fp = path + ".function";
  const auto name = get_string(*fn, "name", fp);
  if (!name || name->empty()) bad_request(fp + ".name", "'{}.name' must be a non-empty string", fp);
  std::string args = "{}";
  if (const ojson* a = field(*fn, "arguments")) {
    if (a->is_string()) args = a->get<std::string>();
    else if (a->is_object()) args = a->dump();  // lenient: some clients send the object itself
    else bad_request(fp + ".arguments", "'{}.arguments' must be a JSON string", fp);
  }
  ojson out{{"type", "function"}, {"function", {{"name", *name}, {"arguments", args}}}};
  if (auto id = get_string(call, "id", path)) out["id"] = *id;
  return out;
}

ojson normalize_message(const ojson& msg, size_t i, const ServedModel& model) {
  const std::string path = fmt::format("messages[{}]", i);
  if (!msg.is_object()) bad_request(path, "'{}' must be an object, not {}", path, json_type_name(msg));
  for (auto it = msg.begin(); it != msg.end(); ++it) {
    static const char* kKnown[] = {"role", "content", "name", "tool_calls", "tool_call_id", "reasoning_content",
                                   "reasoning", "refusal"};
    bool known = false;
    for (const char* k : kKnown) known = known || it.key() == k;
    if (!known && !it.value().is_null()) unsupported_param(path + "." + it.key());
  }
  const auto role_in = get_string(msg, "role", path);
  if (!role_in) bad_request(path + ".role", "'{}.role' is required", path);
  std::string role = *role_in == "developer" ? "system" : *role_in;
  if (role != "system" && role != "user" && role != "assistant" && role != "tool")
    bad_request(path + ".role", "'{}.role' is '{}': expected system, developer, user, assistant or tool", path, role);
  ojson out{{"role", role}};
  const ojson* content = field(msg, "content");
  const ojson* calls = field(msg, "tool_calls");
  if (calls && role != "assistant") bad_request(path + ".tool_calls", "'{}.tool_calls' is only allowed on assistant messages", path);
  if (!content && !(role == "assistant" && calls))
    bad_request(path + ".content", "'{}.content' is required{}", path, role == "assistant" ? " (or tool_calls)" : "");
  if (content) {
    std::string text = content_text(*content, path + ".content");
    // Assistant history is the client's own, and templates split "</think>" out of it: kept as is.
    if (role == "assistant") out["content"] = std::move(text);
    else if (model.escaper) out["content"] = model.escaper->escape(text);
    else out["content"] = SpecialEscaper(model.special_strings).escape(text);
  } else {
    out["content"] = nullptr;  // an assistant turn that only calls tools (the V3 template tests `is none`)
  }
  if (calls) {
    if (!calls->is_array() || calls->empty())
      bad_request(path + ".tool_calls", "'{}.tool_calls' must be a non-empty list", path);
    ojson list = ojson::array();
    for (size_t k = 0; k < calls->size(); ++k)
      list.push_back(tool_call_json((*calls)[k], fmt::format("{}.tool_calls[{}]", path, k)));
    out["tool_calls"] = std::move(list);
  }
  // reasoning_content is accepted on assistant turns and passed to the template (which may render
  // or drop it); "reasoning" is vLLM's newer name for it.
  for (const char* key : {"reasoning_content", "reasoning"})
    if (auto r = get_string(msg, key, path)) out["reasoning_content"] = *r;
  if (auto name = get_string(msg, "name", path)) out["name"] = *name;
  if (auto id = get_string(msg, "tool_call_id", path)) out["tool_call_id"] = *id;
  return out;
}

void validate_tools(const ojson& tools) {
  if (!tools.is_array()) bad_request("tools", "'tools' must be a list, not {}", json_type_name(tools));
  for (size_t k = 0; k < tools.size(); ++k) {
    const std::string p = fmt::format("tools[{}]", k);
    const ojson& t = tools[k];
    if (!t.is_object()) bad_request(p, "'{}' must be an object, not {}", p, json_type_name(t));
    if (get_string(t, "type", p).value_or("function") != "function")
      bad_request(p + ".type", "'{}.type' must be \"function\"", p);
    const ojson* fn = field(t, "function");
    if (!fn || !fn->is_object()) bad_request(p + ".function", "'{}.function' must be an object", p);
    const auto name = get_string(*fn, "name", p + ".function");
    if (!name || name->empty()) bad_request(p + ".function.name", "'{}.function.name' must be a non-empty string", p);
    get_string(*fn, "description", p + ".function");
    if (const ojson* params = field(*fn, "parameters"); params && !params->is_object())
      bad_request(p + ".function.parameters", "'{}.function.parameters' must be a JSON schema object", p);
  }
}

}  // namespace

RenderedChat render_chat_prompt(const ojson& body, const ServedModel& model, int64_t max_tokens,
                                const std::atomic<bool>* cancel) {
  if (!model.chat_template)
    throw ApiError(400, "invalid_request_error",
                   fmt::format("model '{}' has no chat template (tokenizer_config.json has no chat_template): use "
                               "/v1/completions",
                               model.name),
                   "messages");
  const ojson* msgs = field(body, "messages");
  if (!msgs) bad_request("messages", "'messages' is required");
  if (!msgs->is_array() || msgs->empty()) bad_request("messages", "'messages' must be a non-empty list");
  ChatRequest req;
  for (size_t i = 0; i < msgs->size(); ++i) req.messages.push_back(normalize_message((*msgs)[i], i, model));
  req.add_generation_prompt = get_bool(body, "add_generation_prompt", "").value_or(true);
  if (const ojson* tools = field(body, "tools")) {
    validate_tools(*tools);
    if (!tools->empty()) req.tools = *tools;
  }
  if (const ojson* kw = field(body, "chat_template_kwargs")) {
    if (!kw->is_object()) bad_request("chat_template_kwargs", "'chat_template_kwargs' must be an object");
    req.extra = *kw;
  }
  std::string text;
  try {
    ChatTemplateLimits budget;
    budget.cancel = cancel;
    text = render_chat(*model.chat_template, model.tokenizer_config, req, budget);
  } catch (const Error& e) {
    bad_request("messages", "the chat template could not render these messages: {}", e.what());
  }
  RenderedChat out;
  const size_t limit = max_tokens < 0 ? SIZE_MAX : size_t(max_tokens);
  for (size_t start = 0; start <= text.size();) {
    size_t end = text.find(kSpecialMarker, start);
    if (end == std::string::npos) end = text.size();
    std::string_view piece(text.data() + start, end - start);
    if (!model.tokenizer->encode_at_most(piece, limit - std::min(limit, out.ids.size()), out.ids) ||
        out.ids.size() > limit)
      prompt_too_long(model, max_tokens, text.size(), "messages");
    out.text.append(piece);
    start = end + 1;
  }
  return out;
}

std::vector<int32_t> encode_completion_prompt(const std::string& text, const ServedModel& model, int64_t max_tokens) {
  const TokenizerConfig& c = model.tokenizer_config;
  const size_t limit = max_tokens < 0 ? SIZE_MAX : size_t(max_tokens);
  std::vector<int32_t> ids;
  // What transformers' tokenizer(prompt) does for DeepSeek, and what `frugal generate --prompt` does.
  const bool bos = c.add_bos_token && c.bos_token && text.rfind(*c.bos_token, 0) != 0;
  if (!model.tokenizer->encode_at_most(bos ? *c.bos_token + text : text, limit, ids))
    prompt_too_long(model, max_tokens, text.size(), "prompt");
  return ids;
}

}  // namespace frugal::serve
