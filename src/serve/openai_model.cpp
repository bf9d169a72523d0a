#include "serve/openai_model.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"
#include "core/file.h"
#include "core/gguf.h"
#include "core/json.h"
#include "tokenizer/gguf_vocab.h"
#include "tokenizer/tokenizer_impl.h"

namespace frugal::serve {

ReasoningParser parse_reasoning_parser(const std::string& name) {
  if (name == "auto") return ReasoningParser::kAuto;
  if (name == "deepseek_r1") return ReasoningParser::kDeepSeekR1;
  if (name == "none") return ReasoningParser::kNone;
  fail(ErrorKind::kInvalidArgument, "--reasoning-parser '{}': expected auto, deepseek_r1 or none", name);
}

std::vector<std::string> added_token_strings(std::string_view tokenizer_json_text) {
  std::vector<std::string> out;
  const auto j = parse_json(tokenizer_json_text, "tokenizer.json");  // already validated by Tokenizer::from_json_text
  if (!j.is_object() || !j.contains("added_tokens") || !j["added_tokens"].is_array()) return out;
  for (const auto& t : j["added_tokens"])
    if (t.is_object() && t.contains("content") && t["content"].is_string()) out.push_back(t["content"].get<std::string>());
  // Longest first, so that escaping prefers "<｜tool▁calls▁begin｜>" over a shorter token it starts with.
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  return out;
}

void finish_served_model(ServedModel& m, ReasoningParser reasoning) {
  const std::string& src = m.tokenizer_config.chat_template;
  m.chat_template =
      src.empty() ? nullptr : std::make_shared<const ChatTemplate>(src, m.tokenizer_config.chat_template_source);
  m.escaper = std::make_shared<const SpecialEscaper>(m.special_strings);
  switch (reasoning) {
    case ReasoningParser::kAuto: m.reasoning = src.find("</think>") != std::string::npos; break;
    case ReasoningParser::kDeepSeekR1: m.reasoning = true; break;
    case ReasoningParser::kNone: m.reasoning = false; break;
  }
}

ServedModel load_served_model(const std::string& model_dir, const std::string& tokenizer_path,
                              const ModelInfo& config, int64_t ctx, ReasoningParser reasoning) {
  ServedModel m;
  std::filesystem::path dir(model_dir);
  if (!dir.has_filename()) dir = dir.parent_path();  // "models/foo/" -> "foo"
  m.name = is_gguf_path(model_dir) ? dir.stem().string() : dir.filename().string();  // x.gguf -> x
  const std::string tok_path = tokenizer_path.empty() ? model_dir : tokenizer_path;
  std::string resolved, text;
  if (is_gguf_path(tok_path)) {  // a .gguf: its embedded vocabulary, chat template and BOS/EOS
    const GgufFile g(tok_path);
    text = gguf_tokenizer_json(g);
    resolved = tok_path;
    m.tokenizer_config = gguf_tokenizer_config(g);
  } else {
    text = tok::read_tokenizer_file(tok_path, &resolved);
  }
  m.tokenizer = std::make_shared<const Tokenizer>(Tokenizer::from_json_text(text, resolved));
  m.special_strings = added_token_strings(text);
  const std::string cfg_path = path_join(std::filesystem::path(resolved).parent_path().string(), "tokenizer_config.json");
  if (!is_gguf_path(tok_path) && file_exists(cfg_path)) m.tokenizer_config = TokenizerConfig::load(cfg_path);

  m.vocab_size = config.vocab_size;
  if (m.tokenizer->vocab_size() > config.vocab_size)
    fail(ErrorKind::kConfig, "{} has {} tokens but the model in {} has vocab_size {}: they do not belong together",
         resolved, m.tokenizer->vocab_size(), model_dir, config.vocab_size);
  const int64_t max_pos = config.max_position_embeddings;
  if (ctx <= 0) ctx = std::min<int64_t>(max_pos, 4096);
  if (ctx > max_pos)
    fail(ErrorKind::kInvalidArgument, "--ctx {} is longer than the model's max_position_embeddings ({})", ctx, max_pos);
  m.ctx = ctx;
  if (config.eos_token_id >= 0) {
    m.eos_ids.push_back(int32_t(config.eos_token_id));
  } else if (m.tokenizer_config.eos_token) {
    if (auto id = m.tokenizer->token_to_id(*m.tokenizer_config.eos_token)) m.eos_ids.push_back(*id);
  }
  m.meta = {{"model_type", config.model_type},
            {"vocab_size", config.vocab_size},
            {"n_ctx_train", max_pos},
            {"num_hidden_layers", config.num_hidden_layers},
            {"hidden_size", config.hidden_size}};
  finish_served_model(m, reasoning);
  return m;
}

}  // namespace frugal::serve
