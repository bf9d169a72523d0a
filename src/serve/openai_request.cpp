// Request validation: JSON body -> ParsedRequest, every field and cap checked in one place.
#include "serve/openai_request.h"

#include <algorithm>
#include <random>
#include <set>

#include "serve/openai_error.h"
#include "serve/openai_fields.h"
#include "serve/request_budget.h"

namespace frugal::serve {

namespace {

// Parameters whose default we accept but whose other values we do not implement. A request that
// sets one of them to something else gets a 400 naming it rather than a silently different answer.
bool is_default_value(const std::string& key, const ojson& v, int64_t n) {
  if (v.is_null()) return true;
  if (key == "logit_bias" || key == "metadata") return v.is_object() && v.empty();
  if (key == "response_format") return v.is_object() && v.value("type", "") == "text";
  if (key == "echo" || key == "store") return v.is_boolean() && !v.get<bool>();
  if (key == "suffix") return v.is_string() && v.get<std::string>().empty();
  if (key == "best_of") return v.is_number_integer() && v.get<int64_t>() == n;
  if (key == "repetition_penalty") return v.is_number() && v.get<double>() == 1.0;
  if (key == "prompt_logprobs") return v.is_number_integer() && v.get<int64_t>() == 0;
  if (key == "modalities") return v == ojson::array({"text"});
  if (key == "service_tier") return v.is_string() && (v == "auto" || v == "default");
  if (key == "truncate_prompt_tokens") return false;
  return false;
}

void check_keys(const ojson& body, const std::set<std::string>& known, int64_t n) {
  static const std::set<std::string> kDefaultOnly = {
      "logit_bias", "metadata", "response_format", "echo", "store", "suffix", "best_of", "repetition_penalty",
      "prompt_logprobs", "modalities", "service_tier"};
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (known.count(it.key())) continue;
    if (kDefaultOnly.count(it.key()) && is_default_value(it.key(), it.value(), n)) continue;
    if (it.value().is_null()) continue;
    unsupported_param(it.key(), kDefaultOnly.count(it.key()) ? "only its default value is accepted" : "");
  }
}

uint64_t random_seed() {
  static thread_local std::random_device rd;
  return (uint64_t(rd()) << 32) ^ rd();
}

// The fields shared by both endpoints; the prompt is already in r.gen.prompt.
void parse_common(const ojson& body, const ServedModel& model, const RequestLimits& lim, ParsedRequest& r,
                  std::optional<int64_t> max_tokens) {
  if (auto name = get_string(body, "model", ""); name && *name != model.name)
    throw ApiError(404, "not_found_error",
                   fmt::format("the model '{}' does not exist: this server serves '{}'", *name, model.name), "model",
                   "model_not_found");
  r.stream = get_bool(body, "stream", "").value_or(false);
  if (const ojson* so = field(body, "stream_options")) {
    if (!so->is_object()) bad_request("stream_options", "'stream_options' must be an object");
    if (!r.stream) bad_request("stream_options", "'stream_options' is only allowed when 'stream' is true");
    for (auto it = so->begin(); it != so->end(); ++it)
      if (it.key() != "include_usage" && it.key() != "continuous_usage_stats" && !it.value().is_null())
        unsupported_param("stream_options." + it.key());
    r.include_usage = get_bool(*so, "include_usage", "stream_options").value_or(false);
    r.continuous_usage = get_bool(*so, "continuous_usage_stats", "stream_options").value_or(false);
  }
  SamplingParams& s = r.gen.sampling;
  s.temperature = float(get_number(body, "temperature", "", 0, 2).value_or(1.0));
  s.top_p = float(get_number(body, "top_p", "", 0, 1).value_or(1.0));
  if (s.top_p <= 0) bad_request("top_p", "'top_p' must be in (0, 1], got 0");
  // top_k: vLLM's spelling, with -1 for "off".
  const int64_t top_k = get_int(body, "top_k", "", -1, int64_t(1) << 31).value_or(0);
  s.top_k = top_k < 0 ? 0 : top_k;
  s.min_p = float(get_number(body, "min_p", "", 0, 1).value_or(0.0));
  if (auto seed = get_uint64(body, "seed", "")) {
    s.seed = *seed;
    r.seeded = true;
  } else {
    s.seed = random_seed();
  }
  r.gen.presence_penalty = float(get_number(body, "presence_penalty", "", -2, 2).value_or(0.0));
  r.gen.frequency_penalty = float(get_number(body, "frequency_penalty", "", -2, 2).value_or(0.0));
  r.n = get_int(body, "n", "", 1, lim.max_n).value_or(1);

  if (const ojson* stop = field(body, "stop")) {
    if (stop->is_string()) {
      r.stop.push_back(stop->get<std::string>());
    } else if (stop->is_array()) {
      if (int64_t(stop->size()) > lim.max_stop_strings)
        bad_request("stop", "'stop' has {} strings; at most {} are allowed (--max-stop-strings)", stop->size(),
                    lim.max_stop_strings);
      for (size_t i = 0; i < stop->size(); ++i) {
        if (!(*stop)[i].is_string()) bad_request("stop", "'stop[{}]' must be a string", i);
        r.stop.push_back((*stop)[i].get<std::string>());
      }
    } else {
      bad_request("stop", "'stop' must be a string or a list of strings, not {}", json_type_name(*stop));
    }
    for (const std::string& t : r.stop) {
      if (t.empty()) bad_request("stop", "'stop' strings must not be empty");
      if (int64_t(t.size()) > lim.max_stop_bytes)
        bad_request("stop", "a 'stop' string is {} bytes long; at most {} are allowed", t.size(), lim.max_stop_bytes);
    }
  }

  // Stop ids: the model's EOS (unless ignore_eos), then the request's stop_token_ids (vLLM extension).
  if (!get_bool(body, "ignore_eos", "").value_or(false)) r.gen.stop_ids = model.eos_ids;
  if (const ojson* ids = field(body, "stop_token_ids")) {
    if (!ids->is_array() || ids->size() > 256) bad_request("stop_token_ids", "'stop_token_ids' must be a list of at most 256 token ids");
    for (size_t i = 0; i < ids->size(); ++i) {
      const ojson& v = (*ids)[i];
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= model.vocab_size)
        bad_request("stop_token_ids", "'stop_token_ids[{}]' must be a token id in [0, {})", i, model.vocab_size);
      r.gen.stop_ids.push_back(int32_t(v.get<int64_t>()));
    }
  }

  // Context: the prompt and the completion must fit; without max_tokens the rest of the context is used.
  const int64_t p = int64_t(r.gen.prompt.size());
  if (p == 0) bad_request(r.endpoint == Endpoint::kChat ? "messages" : "prompt", "the prompt is empty");
  const int64_t room = model.ctx - p;
  const int64_t m = max_tokens.value_or(room);
  if (room < 1 || m > room)
    throw ApiError(400, "invalid_request_error",
                   fmt::format("this model's maximum context length is {} tokens, but {} tokens were requested ({} in "
                               "the prompt, {} for the completion): {} too many. Shorten the prompt or lower max_tokens",
                               model.ctx, p + std::max<int64_t>(m, 1), p, std::max<int64_t>(m, 1),
                               p + std::max<int64_t>(m, 1) - model.ctx),
                   r.endpoint == Endpoint::kChat ? "messages" : "prompt", "context_length_exceeded");
  r.gen.max_tokens = m;
}

std::optional<int64_t> chat_max_tokens(const ojson& body) {
  const int64_t kMax = int64_t(1) << 40;
  auto a = get_int(body, "max_tokens", "", 1, kMax);
  auto b = get_int(body, "max_completion_tokens", "", 1, kMax);
  if (a && b && *a != *b)
    bad_request("max_completion_tokens", "'max_tokens' ({}) and 'max_completion_tokens' ({}) disagree; send one", *a, *b);
  return a ? a : b;
}

}  // namespace

ojson parse_body(const std::string& body, const RequestLimits& lim) {
  // Nesting depth and object sizes, checked on the text before parsing: a 10^5-deep body must be a
  // 400, not deep recursion later (template values, dumps), and an object with a million keys must
  // not make the order-keeping map quadratic.
  std::vector<int64_t> members;  // per open container: commas seen (objects), -1 for arrays
  bool in_string = false, escape = false;
  for (char c : body) {
    if (in_string) {
      if (escape) escape = false;
      else if (c == '\\') escape = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (int64_t(members.size()) >= lim.max_json_depth)
        bad_request("", "the request body nests deeper than {} levels", lim.max_json_depth);
      members.push_back(c == '{' ? 0 : -1);
    } else if (c == '}' || c == ']') {
      if (!members.empty()) members.pop_back();
    } else if (c == ',' && !members.empty() && members.back() >= 0) {
      if (++members.back() >= lim.max_object_keys)
        bad_request("", "a JSON object in the request has more than {} members", lim.max_object_keys);
    }
  }
  ojson j = ojson::parse(body, nullptr, false);
  if (j.is_discarded()) bad_request("", "the request body is not valid JSON");
  if (!j.is_object()) bad_request("", "the request body must be a JSON object, not {}", json_type_name(j));
  check_prompt_bytes(j, lim);  // before any route tokenizes or renders a template
  return j;
}

ParsedRequest parse_chat_request(const ojson& body, const ServedModel& model, const RequestLimits& lim) {
  static const std::set<std::string> kKnown = {
      "model", "messages", "stream", "stream_options", "max_tokens", "max_completion_tokens", "temperature",
      "top_p", "top_k", "min_p", "n", "stop", "seed", "presence_penalty", "frequency_penalty", "logprobs",
      "top_logprobs", "user", "tools", "tool_choice", "parallel_tool_calls", "chat_template_kwargs",
      "add_generation_prompt", "ignore_eos", "stop_token_ids"};
  ParsedRequest r;
  r.endpoint = Endpoint::kChat;
  const int64_t n = body.is_object() && body.contains("n") && body["n"].is_number_integer() ? body["n"].get<int64_t>() : 1;
  check_keys(body, kKnown, n);
  get_string(body, "user", "");
  // tool_choice: "auto" and "none" only; "required" or a named function needs constrained decoding.
  bool tools_on = false;
  if (const ojson* tools = field(body, "tools"); tools && tools->is_array() && !tools->empty()) tools_on = true;
  if (const ojson* tc = field(body, "tool_choice")) {
    if (!tc->is_string()) unsupported_param("tool_choice", "only \"auto\" and \"none\" are supported");
    const std::string v = tc->get<std::string>();
    if (v == "none") tools_on = false;
    else if (v != "auto") unsupported_param("tool_choice", "only \"auto\" and \"none\" are supported");
  }
  r.parse_tools = tools_on;
  r.parallel_tool_calls = get_bool(body, "parallel_tool_calls", "").value_or(true);

  RenderedChat chat = render_chat_prompt(body, model, max_prompt_tokens(model), lim.cancel);
  r.gen.prompt = std::move(chat.ids);
  r.reasoning = model.reasoning;
  if (r.reasoning) {  // a template that pre-fills "<think>\n" leaves the model inside the block
    std::string t = chat.text;
    while (!t.empty() && (t.back() == '\n' || t.back() == ' ' || t.back() == '\r' || t.back() == '\t')) t.pop_back();
    r.prompt_in_reasoning = t.size() >= 7 && t.compare(t.size() - 7, 7, "<think>") == 0;
  }

  r.logprobs = get_bool(body, "logprobs", "").value_or(false);
  const auto top = get_int(body, "top_logprobs", "", 0, lim.max_top_logprobs);
  if (top && !r.logprobs) bad_request("top_logprobs", "'top_logprobs' needs 'logprobs': true");
  r.gen.top_logprobs = r.logprobs ? int(top.value_or(0)) : -1;
  parse_common(body, model, lim, r, chat_max_tokens(body));
  return r;
}

ParsedRequest parse_completion_request(const ojson& body, const ServedModel& model, const RequestLimits& lim) {
  static const std::set<std::string> kKnown = {
      "model", "prompt", "stream", "stream_options", "max_tokens", "temperature", "top_p", "top_k", "min_p",
      "n", "stop", "seed", "presence_penalty", "frequency_penalty", "logprobs", "user", "ignore_eos",
      "stop_token_ids"};
  ParsedRequest r;
  r.endpoint = Endpoint::kCompletions;
  const int64_t n = body.is_object() && body.contains("n") && body["n"].is_number_integer() ? body["n"].get<int64_t>() : 1;
  check_keys(body, kKnown, n);
  get_string(body, "user", "");
  const ojson* prompt = field(body, "prompt");
  if (!prompt) bad_request("prompt", "'prompt' is required");
  // A string, a list of token ids, or a one-element list of either.
  const ojson* p = prompt;
  if (p->is_array() && p->size() == 1 && ((*p)[0].is_string() || (*p)[0].is_array())) p = &(*p)[0];
  if (p->is_string()) {
    r.gen.prompt = encode_completion_prompt(p->get<std::string>(), model, max_prompt_tokens(model));
  } else if (p->is_array() && std::all_of(p->begin(), p->end(), [](const ojson& v) { return v.is_number(); })) {
    for (size_t i = 0; i < p->size(); ++i) {
      const ojson& v = (*p)[i];
      if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= model.vocab_size)
        bad_request("prompt", "'prompt[{}]' must be a token id in [0, {})", i, model.vocab_size);
      r.gen.prompt.push_back(int32_t(v.get<int64_t>()));
    }
  } else if (p->is_array() && p->size() > 1) {
    unsupported_param("prompt", "one prompt per request (a string or a list of token ids)");
  } else {
    bad_request("prompt", "'prompt' must be a string or a list of token ids, not {}", json_type_name(*p));
  }
  const auto lp = get_int(body, "logprobs", "", 0, lim.max_top_logprobs);
  r.logprobs = lp.has_value();
  r.gen.top_logprobs = lp ? int(*lp) : -1;
  parse_common(body, model, lim, r, get_int(body, "max_tokens", "", 1, int64_t(1) << 40));
  return r;
}

}  // namespace frugal::serve
