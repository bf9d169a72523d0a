// Task prompts for a model folder (docs/posttrain.md, Answer format and prompts): the shared answer-format
// instruction then the problem's question, as one user turn rendered by the folder's ChatFormat (its chat
// template, or the plain "User: MESSAGE\nAssistant:" form; chat_format.h).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "posttrain/chat_format.h"
#include "posttrain/task.h"

namespace frugal {

// The instruction every task prompt starts with.
extern const char* const kAnswerFormatInstruction;
// The user turn of a task prompt: the instruction, a newline, the question. The question comes
// last, next to where the answer is written: a small model's attention then reaches the problem a
// fixed few tokens back instead of across the instruction.
std::string task_user_message(const Problem& p);

class TaskPrompter {
 public:
  // As ChatFormat's constructor (throws naming the file for a missing or bad tokenizer, and for
  // kChat without a chat template).
  TaskPrompter(const std::string& model_dir, const std::string& tokenizer_path, PromptFormat format)
      : fmt_(model_dir, tokenizer_path, format) {}

  bool uses_chat_template() const { return fmt_.uses_chat_template(); }
  std::string describe() const { return fmt_.describe(); }

  std::string user_message(const Problem& p) const { return task_user_message(p); }
  std::string render(const Problem& p) const;        // the whole prompt text
  std::vector<int32_t> encode(const std::string& prompt_text) const { return fmt_.encode(prompt_text); }
  std::string decode_completion(const std::vector<int32_t>& ids, const std::vector<int32_t>& stop_ids) const {
    return fmt_.decode_completion(ids, stop_ids);
  }
  std::vector<int32_t> stop_ids(int64_t model_eos_token_id) const { return fmt_.stop_ids(model_eos_token_id); }
  const Tokenizer& tokenizer() const { return fmt_.tokenizer(); }
  const ChatFormat& format() const { return fmt_; }

 private:
  ChatFormat fmt_;
};

}  // namespace frugal
