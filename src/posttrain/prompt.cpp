#include "posttrain/prompt.h"

#include <algorithm>

#include "core/error.h"
#include "core/file.h"

namespace frugal {

const char* const kAnswerFormatInstruction =
    "Reason step by step between <think> and </think>, then write only the final answer after </think>.";

TaskPrompter::TaskPrompter(const std::string& model_dir, const std::string& tokenizer_path, PromptFormat format)
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

std::string TaskPrompter::describe() const {
  return tmpl_ ? "chat template (" + config_path_ + ")" : "plain 'User: ...\\nAssistant:' (" + plain_reason_ + ")";
}

std::string TaskPrompter::user_message(const Problem& p) const {
  return p.question + "\n" + kAnswerFormatInstruction;
}

std::string TaskPrompter::render(const Problem& p) const {
  if (tmpl_) {
    ChatRequest req;
    req.messages = nlohmann::ordered_json::array({{{"role", "user"}, {"content", user_message(p)}}});
    req.add_generation_prompt = true;
    try {
      return render_chat(*tmpl_, *cfg_, req);
    } catch (const Error& e) {
      fail(e.kind(), "{}: chat_template: {}", config_path_, e.what());
    }
  }
  std::string text;
  if (cfg_ && cfg_->add_bos_token && cfg_->bos_token) text = *cfg_->bos_token;
  return text + "User: " + user_message(p) + "\nAssistant:";
}

std::vector<int32_t> TaskPrompter::encode(const std::string& prompt_text) const {
  // Special tokens (BOS) are written in the text by the template or render(): no post-processor.
  return tok_.encode(prompt_text, false);
}

std::string TaskPrompter::decode_completion(const std::vector<int32_t>& ids, const std::vector<int32_t>& stop_ids) const {
  std::vector<int32_t> body = ids;
  if (!body.empty() && std::find(stop_ids.begin(), stop_ids.end(), body.back()) != stop_ids.end()) body.pop_back();
  return tok_.decode(body, true);
}

std::vector<int32_t> TaskPrompter::stop_ids(int64_t model_eos_token_id) const {
  std::vector<int32_t> ids;
  if (model_eos_token_id >= 0) ids.push_back(int32_t(model_eos_token_id));
  if (cfg_ && cfg_->eos_token)
    if (std::optional<int32_t> id = tok_.token_to_id(*cfg_->eos_token))
      if (std::find(ids.begin(), ids.end(), *id) == ids.end()) ids.push_back(*id);
  return ids;
}

}  // namespace frugal
