#include "posttrain/chat_format.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "core/file.h"

namespace frugal {

ChatFormat::ChatFormat(const std::string& model_dir, const std::string& tokenizer_path, PromptFormat format)
    : tok_(Tokenizer::load(tokenizer_path.empty() ? model_dir : tokenizer_path)) {
  config_path_ = path_join(model_dir, "tokenizer_config.json");
  if (file_exists(config_path_)) cfg_ = TokenizerConfig::load(config_path_);
  const bool has_template = cfg_ && !cfg_->chat_template.empty();
  if (format == PromptFormat::kChat && !has_template)
    fail(ErrorKind::kInvalidArgument, "{}: {}; use the plain prompt format instead (--prompt-format plain)",
         config_path_, cfg_ ? "no chat_template (and no chat_template.jinja beside it)" : "missing, so no chat template");
  if (format != PromptFormat::kPlain && has_template) {
    try {
      tmpl_.emplace(cfg_->chat_template);
    } catch (const Error& e) {
      fail(e.kind(), "{}: chat_template: {}", config_path_, e.what());
    }
  } else {
    plain_reason_ = format == PromptFormat::kPlain ? "as asked"
                    : cfg_                         ? "no chat template in " + config_path_
                                                   : "no " + config_path_;
  }
}

std::string ChatFormat::describe() const {
  return tmpl_ ? "chat template (" + config_path_ + ")" : "plain 'User: ...\\nAssistant:' (" + plain_reason_ + ")";
}

bool ChatFormat::template_mentions(std::string_view name) const {
  return tmpl_ && cfg_->chat_template.find(name) != std::string::npos;
}

std::string ChatFormat::render(const nlohmann::ordered_json& messages, bool add_generation_prompt) const {
  if (tmpl_) {
    ChatRequest req;
    req.messages = messages;
    req.add_generation_prompt = add_generation_prompt;
    try {
      return render_chat(*tmpl_, *cfg_, req);
    } catch (const Error& e) {
      fail(e.kind(), "{}: chat_template: {}", config_path_, e.what());
    }
  }
  std::string text;
  if (cfg_ && cfg_->add_bos_token && cfg_->bos_token) text = *cfg_->bos_token;
  const std::string eos = eos_text().value_or("");
  for (size_t i = 0; i < messages.size(); ++i) {
    const nlohmann::ordered_json& m = messages[i];
    const std::string role = m.value("role", "");
    const std::string content = m.contains("content") && m["content"].is_string() ? m["content"].get<std::string>() : "";
    if (role == "system") text += "System: " + content + "\n";
    else if (role == "user") text += "User: " + content + "\n";
    else if (role == "assistant") text += "Assistant: " + content + eos + "\n";
    else
      fail(ErrorKind::kInvalidArgument,
           "messages[{}].role = '{}': the plain prompt format knows system, user and assistant only", i, role);
  }
  if (add_generation_prompt) text += "Assistant:";
  return text;
}

std::string ChatFormat::decode_completion(const std::vector<int32_t>& ids, const std::vector<int32_t>& stop_ids) const {
  std::vector<int32_t> body = ids;
  if (!body.empty() && std::find(stop_ids.begin(), stop_ids.end(), body.back()) != stop_ids.end()) body.pop_back();
  return tok_.decode(body, true);
}

std::vector<int32_t> ChatFormat::stop_ids(int64_t model_eos_token_id) const {
  std::vector<int32_t> ids;
  if (model_eos_token_id >= 0) ids.push_back(int32_t(model_eos_token_id));
  if (cfg_ && cfg_->eos_token)
    if (std::optional<int32_t> id = tok_.token_to_id(*cfg_->eos_token))
      if (std::find(ids.begin(), ids.end(), *id) == ids.end()) ids.push_back(*id);
  return ids;
}

std::optional<std::string> ChatFormat::eos_text() const {
  if (cfg_ && cfg_->eos_token) return *cfg_->eos_token;
  return std::nullopt;
}

void copy_tokenizer_files(const std::string& model_dir, const std::string& tokenizer_path, const std::string& out_dir) {
  auto copy = [&](const std::string& from, const char* name) {
    if (file_exists(from) && !is_directory(from))
      std::filesystem::copy_file(from, path_join(out_dir, name), std::filesystem::copy_options::overwrite_existing);
  };
  for (const char* f : {"tokenizer_config.json", "chat_template.jinja"}) copy(path_join(model_dir, f), f);
  const std::string src = tokenizer_path.empty() ? model_dir : tokenizer_path;
  if (is_directory(src)) {
    for (const char* f : {"tokenizer.json", "tokenizer.json.gz"}) copy(path_join(src, f), f);
  } else {
    copy(src, src.ends_with(".gz") ? "tokenizer.json.gz" : "tokenizer.json");
  }
}

}  // namespace frugal
