// How a model folder turns a conversation into text (docs/posttrain.md, Answer format and prompts):
// its chat template (tokenizer_config.json's chat_template, or chat_template.jinja beside it), or —
// for models without one — the plain form
//     [BOS]System: S\nUser: U\nAssistant: A<eos>\nUser: U2\nAssistant:
// (BOS when tokenizer_config.json sets add_bos_token; <eos> its eos_token, when it has one).
// PromptFormat::kAuto takes the template when there is one; kChat requires it (a clear error naming
// the file otherwise); kPlain never uses it. Task prompts (prompt.h) and SFT conversations
// (sft_data.h) both render through this one class, so a model SFT'd on a format is prompted in it.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_config.h"

namespace frugal {

enum class PromptFormat { kAuto, kChat, kPlain };

class ChatFormat {
 public:
  // Loads the tokenizer (tokenizer_path, or model_dir's tokenizer.json[.gz]) and model_dir's
  // tokenizer_config.json when present. Throws naming the file for a missing or bad tokenizer,
  // and for kChat without a chat template.
  ChatFormat(const std::string& model_dir, const std::string& tokenizer_path, PromptFormat format);

  bool uses_chat_template() const { return tmpl_.has_value(); }
  std::string describe() const;  // "chat template (DIR/tokenizer_config.json)" or "plain (...why...)"
  // Whether the chat template's source mentions `name` (e.g. reasoning_content); false when plain.
  bool template_mentions(std::string_view name) const;

  // `messages` in the OpenAI shape ({"role", "content"} objects). The plain form knows the roles
  // system, user and assistant (kInvalidArgument naming the message otherwise). Template errors
  // are rethrown naming the template's file.
  std::string render(const nlohmann::ordered_json& messages, bool add_generation_prompt) const;
  // Text to ids; special tokens written in the text (BOS, EOS, the template's markers) are parsed
  // as such, and no post-processor adds more.
  std::vector<int32_t> encode(const std::string& text) const { return tok_.encode(text, false); }
  // Completion ids to text: a final stop id is dropped, special tokens are skipped.
  std::string decode_completion(const std::vector<int32_t>& ids, const std::vector<int32_t>& stop_ids) const;
  // The end-of-sequence ids: the model's eos_token_id (when >= 0) and the tokenizer's eos_token.
  std::vector<int32_t> stop_ids(int64_t model_eos_token_id) const;
  // tokenizer_config.json's eos_token text, when it has one.
  std::optional<std::string> eos_text() const;
  const Tokenizer& tokenizer() const { return tok_; }

 private:
  Tokenizer tok_;
  std::optional<TokenizerConfig> cfg_;
  std::optional<ChatTemplate> tmpl_;
  std::string config_path_, plain_reason_;
};

// Copies what ChatFormat reads into an exported model folder, so eval-task, generate and serve read
// it from there: tokenizer_config.json and chat_template.jinja from model_dir, tokenizer.json (or
// .gz) from tokenizer_path (a file or folder) or else model_dir. Missing files are skipped.
void copy_tokenizer_files(const std::string& model_dir, const std::string& tokenizer_path, const std::string& out_dir);

}  // namespace frugal
