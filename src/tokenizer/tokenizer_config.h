// tokenizer_config.json of a Hugging Face tokenizer: the chat template and the special tokens a
// template sees (bos_token, eos_token, ...). Tokens may be written as strings or as AddedToken
// objects {"content": ...}; chat_template may be a string or a list of {name, template} (the one
// named "default" is used). Without a chat_template key, a chat_template.jinja next to the file
// is used (newer Hugging Face repositories).
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace frugal {

struct TokenizerConfig {
  std::string chat_template;  // empty when the tokenizer has none
  std::string chat_template_source;  // where it came from, for errors: "FILE (chat_template)" or the .jinja file
  std::optional<std::string> bos_token, eos_token, pad_token, unk_token;
  bool add_bos_token = false, add_eos_token = false;

  // `path` is tokenizer_config.json or the directory holding it. Throws frugal::Error naming the
  // file and field for unreadable or malformed input.
  static TokenizerConfig load(const std::string& path);
  static TokenizerConfig from_json_text(std::string_view json_text, const std::string& source);
};

}  // namespace frugal
