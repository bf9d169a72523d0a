#include "tokenizer/chat_template.h"

#include "core/error.h"
#include "tokenizer/jinja_interp.h"
#include "tokenizer/jinja_parser.h"

namespace frugal {

namespace {

std::shared_ptr<const jinja::Node> parse_named(std::string_view source, const std::string& name) {
  try {
    return jinja::parse_template(source);
  } catch (const Error& e) {
    if (name.empty()) throw;
    fail(e.kind(), "{}: {}", name, e.what());
  }
}

}  // namespace

ChatTemplate::ChatTemplate(std::string_view source, std::string name)
    : root_(parse_named(source, name)), name_(std::move(name)) {}

std::string ChatTemplate::render(const nlohmann::ordered_json& context, const ChatTemplateLimits& limits) const {
  if (!context.is_object()) fail(ErrorKind::kInvalidArgument, "chat template context must be a JSON object");
  jinja::ContainerArena arena;  // first made, last gone: empties what the render leaves in cycles
  jinja::Scope globals;
  jinja::install_globals(globals);
  for (auto it = context.begin(); it != context.end(); ++it) globals.set(it.key(), jinja::from_json(it.value()));
  jinja::Interpreter interp(limits, name_);
  return interp.render(*root_, globals);
}

ChatRequest ChatRequest::from_json(const nlohmann::ordered_json& j) {
  if (!j.is_object()) fail(ErrorKind::kInvalidArgument, "chat request must be a JSON object");
  ChatRequest r;
  auto m = j.find("messages");
  if (m == j.end() || !m->is_array()) fail(ErrorKind::kInvalidArgument, "chat request needs \"messages\": a list");
  for (size_t k = 0; k < m->size(); ++k)
    if (!(*m)[k].is_object()) fail(ErrorKind::kInvalidArgument, "messages[{}] must be an object", k);
  r.messages = *m;
  if (auto g = j.find("add_generation_prompt"); g != j.end() && !g->is_null()) {
    if (!g->is_boolean()) fail(ErrorKind::kInvalidArgument, "\"add_generation_prompt\" must be true or false");
    r.add_generation_prompt = g->get<bool>();
  }
  if (auto t = j.find("tools"); t != j.end() && !t->is_null()) {
    if (!t->is_array()) fail(ErrorKind::kInvalidArgument, "\"tools\" must be a list");
    r.tools = *t;
  }
  if (auto d = j.find("documents"); d != j.end() && !d->is_null()) {
    if (!d->is_array()) fail(ErrorKind::kInvalidArgument, "\"documents\" must be a list");
    r.documents = *d;
  }
  if (auto x = j.find("chat_template_kwargs"); x != j.end() && !x->is_null()) {
    if (!x->is_object()) fail(ErrorKind::kInvalidArgument, "\"chat_template_kwargs\" must be an object");
    r.extra = *x;
  }
  return r;
}

std::string render_chat(const ChatTemplate& tmpl, const TokenizerConfig& config, const ChatRequest& request,
                        const ChatTemplateLimits& limits) {
  nlohmann::ordered_json ctx = nlohmann::ordered_json::object();
  for (auto it = request.extra.begin(); it != request.extra.end(); ++it) ctx[it.key()] = it.value();
  ctx["messages"] = request.messages;
  ctx["tools"] = request.tools ? *request.tools : nlohmann::ordered_json(nullptr);
  ctx["documents"] = request.documents ? *request.documents : nlohmann::ordered_json(nullptr);
  ctx["add_generation_prompt"] = request.add_generation_prompt;
  auto special = [&](const char* key, const std::optional<std::string>& v) {
    if (v) ctx[key] = *v;
  };
  special("bos_token", config.bos_token);
  special("eos_token", config.eos_token);
  special("pad_token", config.pad_token);
  special("unk_token", config.unk_token);
  return tmpl.render(ctx, limits);
}

}  // namespace frugal
