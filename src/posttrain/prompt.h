// Task prompts for a model folder (docs/posttrain.md, Prompts): the problem's question plus the
// shared answer-format instruction, as one user turn rendered with the model's chat template
// (tokenizer_config.json's chat_template, or chat_template.jinja beside it), or — for models
// without one — the plain form "User: MESSAGE\nAssistant:" (with BOS first when
// tokenizer_config.json asks for it). PromptFormat::kAuto takes the template when there is one;
// kChat requires it (a clear error naming the file otherwise); kPlain never uses it.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "posttrain/task.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_config.h"

namespace frugal {

enum class PromptFormat { kAuto, kChat, kPlain };

// The instruction every task prompt ends with.
extern const char* const kAnswerFormatInstruction;

class TaskPrompter {
 public:
  // Loads the tokenizer (tokenizer_path, or model_dir's tokenizer.json[.gz]) and model_dir's
  // tokenizer_config.json when present. Throws naming the file for a missing or bad tokenizer,
  // and for kChat without a chat template.
  TaskPrompter(const std::string& model_dir, const std::string& tokenizer_path, PromptFormat format);

  bool uses_chat_template() const { return tmpl_.has_value(); }
  std::string describe() const;  // "chat template (DIR/tokenizer_config.json)" or "plain (...why...)"

  std::string user_message(const Problem& p) const;  // question + instruction
  std::string render(const Problem& p) const;        // the whole prompt text
  std::vector<int32_t> encode(const std::string& prompt_text) const;
  // Completion ids to text: a final stop id is dropped, special tokens are skipped.
  std::string decode_completion(const std::vector<int32_t>& ids, const std::vector<int32_t>& stop_ids) const;
  // The end-of-sequence ids: the model's eos_token_id (when >= 0) and the tokenizer's eos_token.
  std::vector<int32_t> stop_ids(int64_t model_eos_token_id) const;
  const Tokenizer& tokenizer() const { return tok_; }

 private:
  Tokenizer tok_;
  std::optional<TokenizerConfig> cfg_;
  std::optional<ChatTemplate> tmpl_;
  std::string config_path_, plain_reason_;
};

}  // namespace frugal
