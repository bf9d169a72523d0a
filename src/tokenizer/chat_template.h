// Chat templates: the Jinja `chat_template` of tokenizer_config.json rendered by our own
// interpreter (src/tokenizer/jinja_*), matching Hugging Face's renderers (@huggingface/jinja and
// transformers: trim_blocks and lstrip_blocks on). Execution is bounded: a template that loops or
// recurses without end, builds huge strings or lists (or a list that contains itself), runs past
// its time, or reaches for attributes like __class__ fails with a frugal::Error naming the
// template file and line and the limit — it never hangs, crashes or runs code.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tokenizer/jinja_budget.h"
#include "tokenizer/tokenizer_config.h"

namespace frugal {

namespace jinja {
struct Node;
}

// The budget of one render: jinja::Limits (src/tokenizer/jinja_budget.h), with a 10 s deadline.
// Steps alone do not bound the work: one step can build a 16 MB string or copy a million-item list,
// so bytes and items are counted too. A real chat template renders a 4 MiB conversation far inside
// these. `cancel` is a server's stop flag: the render ends when it turns true.
struct ChatTemplateLimits : jinja::Limits {
  ChatTemplateLimits() { max_seconds = 10; }
};

class ChatTemplate {
 public:
  // Parses the template; throws frugal::Error (kFormat) "NAME: template line N: ..." for syntax
  // errors and unsupported constructs. `name` says where the template came from (a file).
  explicit ChatTemplate(std::string_view source, std::string name = "");

  // Renders with `context` (a JSON object) as the template's variables. Throws frugal::Error:
  // kFormat "NAME: template line N: ..." for runtime errors and exceeded limits,
  // kInvalidArgument for raise_exception() (the template rejecting its input).
  std::string render(const nlohmann::ordered_json& context, const ChatTemplateLimits& limits = {}) const;
  const std::string& name() const { return name_; }

 private:
  std::shared_ptr<const jinja::Node> root_;
  std::string name_;
};

// One conversation to render, as `frugal chat-template --jsonl` reads it:
// {"messages": [...], "add_generation_prompt": bool, "tools": [...], "documents": [...],
//  "chat_template_kwargs": {...}} — other keys are ignored.
struct ChatRequest {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  bool add_generation_prompt = false;
  std::optional<nlohmann::ordered_json> tools, documents;
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();  // more template variables

  // Throws kInvalidArgument naming the field for malformed requests.
  static ChatRequest from_json(const nlohmann::ordered_json& j);
};

// Like transformers' apply_chat_template(..., tokenize=False): the template sees messages, tools
// and documents (none when absent), add_generation_prompt, the config's special tokens
// (bos_token, eos_token, pad_token, unk_token, when set) and `extra`.
std::string render_chat(const ChatTemplate& tmpl, const TokenizerConfig& config, const ChatRequest& request,
                        const ChatTemplateLimits& limits = {});

}  // namespace frugal
