#include "serve/openai_tokenize.h"

#include <initializer_list>

#include "serve/openai_error.h"
#include "serve/openai_fields.h"
#include "serve/openai_request.h"
#include "serve/openai_response.h"
#include "serve/tokenize_json.h"

namespace frugal::serve {

namespace {

// These routes are ours (not OpenAI's), so every key they do not know is refused by name.
void check_allowed_keys(const ojson& body, std::initializer_list<const char*> allowed) {
  for (auto it = body.begin(); it != body.end(); ++it) {
    bool ok = false;
    for (const char* k : allowed) ok = ok || it.key() == k;
    if (!ok && !it.value().is_null()) unsupported_param(it.key());
  }
}

}  // namespace

std::string tokenize_response(const ojson& body, const ServedModel& m, const std::atomic<bool>* cancel) {
  check_allowed_keys(body, {"model", "content", "prompt", "add_special", "with_pieces", "messages", "tools",
                            "chat_template_kwargs", "add_generation_prompt"});
  std::vector<int32_t> ids;
  if (field(body, "messages")) {
    ids = render_chat_prompt(body, m, -1, cancel).ids;
  } else {
    auto text = get_string(body, "content", "");
    if (!text) text = get_string(body, "prompt", "");
    if (!text) bad_request("content", "'content' (the text to tokenize) or 'messages' is required");
    ids = get_bool(body, "add_special", "").value_or(true) ? encode_completion_prompt(*text, m)
                                                            : m.tokenizer->encode(*text, false);
  }
  const bool pieces = get_bool(body, "with_pieces", "").value_or(false);
  return tokenize_json(*m.tokenizer, ids, pieces, m.ctx);
}

std::string detokenize_response(const ojson& body, const ServedModel& m) {
  check_allowed_keys(body, {"model", "tokens", "skip_special_tokens"});
  const ojson* t = field(body, "tokens");
  if (!t || !t->is_array()) bad_request("tokens", "'tokens' must be a list of token ids");
  std::vector<int32_t> ids;
  const int64_t vocab = m.tokenizer->vocab_size();
  for (size_t i = 0; i < t->size(); ++i) {
    const ojson& v = (*t)[i];
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= vocab)
      bad_request("tokens", "'tokens[{}]' must be a token id in [0, {})", i, vocab);
    ids.push_back(int32_t(v.get<int64_t>()));
  }
  const bool skip = get_bool(body, "skip_special_tokens", "").value_or(false);
  return dump_json(ojson{{"content", m.tokenizer->decode(ids, skip)}});
}

std::string apply_template_response(const ojson& body, const ServedModel& m, const std::atomic<bool>* cancel) {
  check_allowed_keys(body, {"model", "messages", "tools", "chat_template_kwargs", "add_generation_prompt"});
  return dump_json(ojson{{"prompt", render_chat_prompt(body, m, -1, cancel).text}});
}

}  // namespace frugal::serve
