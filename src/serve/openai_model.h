// What the OpenAI layer knows about the served model: its name, tokenizer, chat template, context
// length, stop ids and whether its outputs carry a <think> block to split into reasoning_content.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "infer/model_info.h"
#include "serve/special_escape.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_config.h"

namespace frugal::serve {

// auto: deepseek_r1 when the chat template mentions </think> (R1, R1-0528, V3.1), else none.
enum class ReasoningParser { kAuto, kDeepSeekR1, kNone };
ReasoningParser parse_reasoning_parser(const std::string& name);  // "auto" | "deepseek_r1" | "none"

struct ServedModel {
  std::string name;  // the model directory's basename: what /v1/models lists and requests name
  std::shared_ptr<const Tokenizer> tokenizer;
  TokenizerConfig tokenizer_config;                   // empty chat_template: /v1/chat/completions answers 400
  std::shared_ptr<const ChatTemplate> chat_template;  // parsed tokenizer_config.chat_template (or null)
  int64_t vocab_size = 0;           // the model's; prompt ids must be below it
  int64_t ctx = 0;                  // per-sequence context (prompt + generated) in tokens
  std::vector<int32_t> eos_ids;     // end generation with finish_reason "stop" (unless ignore_eos)
  bool reasoning = false;           // split <think>...</think> out of chat outputs
  std::vector<std::string> special_strings;  // special-token texts, escaped out of user content
  std::shared_ptr<const SpecialEscaper> escaper;  // built from special_strings by finish_served_model
  nlohmann::json meta = nlohmann::json::object();  // extra facts for /v1/models (n_params, ...)
};

// Loads the tokenizer (tokenizer_path, or model_dir when empty) and the tokenizer_config.json beside
// it; the context must fit the model's max_position_embeddings. Throws frugal::Error naming the file.
ServedModel load_served_model(const std::string& model_dir, const std::string& tokenizer_path,
                              const ModelInfo& config, int64_t ctx, ReasoningParser reasoning);

// The texts of a tokenizer.json's added_tokens (special or not), longest first: what encode()
// matches inside text, and so what must be escaped out of user content.
std::vector<std::string> added_token_strings(std::string_view tokenizer_json_text);

// Fills the derived fields (chat_template, escaper, reasoning) of a model whose name, tokenizer,
// tokenizer_config, vocab_size, ctx, eos_ids and special_strings are set. For tests and the loader.
void finish_served_model(ServedModel& m, ReasoningParser reasoning);

}  // namespace frugal::serve
