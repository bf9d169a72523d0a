// Chat templates: the Jinja `chat_template` of tokenizer_config.json rendered by our own
// interpreter (src/tokenizer/jinja_*), matching Hugging Face's renderers (@huggingface/jinja and
// transformers: trim_blocks and lstrip_blocks on). Execution is bounded: a template that loops or
// recurses without end, builds huge strings or lists, or reaches for attributes like __class__
// fails with a frugal::Error naming the template line — it never hangs, crashes or runs code.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer_config.h"

namespace frugal {

namespace jinja {
struct Node;
}

struct ChatTemplateLimits {
  int64_t max_steps = 5'000'000;        // statements + expression nodes + loop iterations
  int max_call_depth = 64;              // nested macro calls
  size_t max_output_bytes = 16u << 20;  // rendered text and any single string
  size_t max_list_items = 1u << 20;     // any single list
};

class ChatTemplate {
 public:
  // Parses the template; throws frugal::Error (kFormat) "template line N: ..." for syntax errors
  // and unsupported constructs.
  explicit ChatTemplate(std::string_view source);

  // Renders with `context` (a JSON object) as the template's variables. Throws frugal::Error:
  // kFormat "template line N: ..." for runtime errors and exceeded limits, kInvalidArgument for
  // raise_exception() (the template rejecting its input).
  std::string render(const nlohmann::ordered_json& context, const ChatTemplateLimits& limits = {}) const;

 private:
  std::shared_ptr<const jinja::Node> root_;
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
