#include "tokenizer/gguf_vocab.h"

#include <set>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "tokenizer/word_counter.h"

namespace frugal {

namespace {

using ojson = nlohmann::ordered_json;

constexpr int64_t kTokenControl = 3, kTokenUserDefined = 4;  // llama.cpp's llama_token_type

ojson gguf_pre_tokenizer(const GgufFile& f) {
  const std::string pre = f.get_string("tokenizer.ggml.pre").value_or("default");
  if (pre == "deepseek-v3" || pre == "deepseek-r1") return ojson::parse(tok::kDeepSeekV3PreTokenizerJson);
  if (pre == "gpt2" || pre == "default")
    return {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  fail(ErrorKind::kUnsupported,
       "{}: tokenizer.ggml.pre is '{}'; frugal knows 'deepseek-v3' and 'gpt2' (the model itself loads: use --ids)",
       f.path(), pre);
}

std::optional<int64_t> bos_id(const GgufFile& f, int64_t n_tokens) {
  auto bos = f.get_int("tokenizer.ggml.bos_token_id");
  if (!bos) return std::nullopt;
  if (*bos < 0 || *bos >= n_tokens)
    fail(ErrorKind::kConfig, "{}: tokenizer.ggml.bos_token_id {} is outside the vocabulary [0, {})", f.path(), *bos,
         n_tokens);
  if (!f.get_bool("tokenizer.ggml.add_bos_token").value_or(true)) return std::nullopt;
  return bos;
}

const GgufValue& gguf_tokens(const GgufFile& f) {
  const auto model = f.get_string("tokenizer.ggml.model");
  if (!model) fail(ErrorKind::kConfig, "{}: no embedded tokenizer (metadata 'tokenizer.ggml.model' is missing)", f.path());
  if (*model != "gpt2")
    fail(ErrorKind::kUnsupported, "{}: tokenizer.ggml.model is '{}'; frugal reads byte-level BPE ('gpt2') vocabularies",
         f.path(), *model);
  const GgufValue* tokens = f.get_array("tokenizer.ggml.tokens", GgufType::kString);
  if (!tokens || tokens->count == 0)
    fail(ErrorKind::kConfig, "{}: metadata 'tokenizer.ggml.tokens' is missing or empty", f.path());
  if (tokens->count > (uint64_t(1) << 31))
    fail(ErrorKind::kConfig, "{}: tokenizer.ggml.tokens has {} entries; token ids are int32", f.path(), tokens->count);
  return *tokens;
}

}  // namespace

std::string gguf_bos_prefix(const GgufFile& f) {
  const GgufValue& tokens = gguf_tokens(f);
  auto bos = bos_id(f, int64_t(tokens.count));
  return bos ? std::string(tokens.strs[size_t(*bos)]) : std::string();
}

TokenizerConfig gguf_tokenizer_config(const GgufFile& f) {
  const GgufValue& tokens = gguf_tokens(f);
  TokenizerConfig c;
  if (auto t = f.get_string("tokenizer.chat_template")) {
    c.chat_template = *t;
    c.chat_template_source = f.path() + " (tokenizer.chat_template)";
  }
  auto text_of = [&](const char* key) -> std::optional<std::string> {
    auto id = f.get_int(key);
    if (!id) return std::nullopt;
    if (*id < 0 || uint64_t(*id) >= tokens.count)
      fail(ErrorKind::kConfig, "{}: {} {} is outside the vocabulary [0, {})", f.path(), key, *id, tokens.count);
    return std::string(tokens.strs[size_t(*id)]);
  };
  c.bos_token = text_of("tokenizer.ggml.bos_token_id");
  c.eos_token = text_of("tokenizer.ggml.eos_token_id");
  c.add_bos_token = c.bos_token && f.get_bool("tokenizer.ggml.add_bos_token").value_or(true);
  return c;
}

std::string gguf_tokenizer_json(const GgufFile& f) {
  const GgufValue& tokens = gguf_tokens(f);
  const int64_t n = int64_t(tokens.count);
  const GgufValue* types = f.get_array("tokenizer.ggml.token_type", GgufType::kU8);
  if (types && types->count != tokens.count)
    fail(ErrorKind::kConfig, "{}: tokenizer.ggml.token_type has {} entries, tokenizer.ggml.tokens {}", f.path(),
         types->count, tokens.count);
  const GgufValue* merges = f.get_array("tokenizer.ggml.merges", GgufType::kString);

  ojson added = ojson::array();
  ojson vocab = ojson::object();
  auto& entries = static_cast<std::vector<std::pair<const std::string, ojson>>&>(vocab.get_ref<ojson::object_t&>());
  entries.reserve(size_t(n));
  std::set<std::string_view> seen;
  for (int64_t i = 0; i < n; ++i) {
    const std::string_view t = tokens.strs[size_t(i)];
    const int64_t type = types ? types->int_at(uint64_t(i)) : 1;
    if (type == kTokenControl || type == kTokenUserDefined)
      added.push_back(ojson{{"id", i}, {"content", std::string(t)}, {"single_word", false}, {"lstrip", false},
                            {"rstrip", false}, {"normalized", false}, {"special", type == kTokenControl}});
    if (seen.insert(t).second) entries.emplace_back(std::string(t), i);
  }
  ojson merge_list = ojson::array();
  if (merges)
    for (uint64_t k = 0; k < merges->count; ++k) {
      const std::string_view m = merges->strs[size_t(k)];
      const size_t sp = m.find(' ');
      if (sp == std::string_view::npos || sp == 0 || sp + 1 == m.size() || m.find(' ', sp + 1) != std::string_view::npos)
        fail(ErrorKind::kConfig, "{}: tokenizer.ggml.merges entry {} is '{}', expected two tokens separated by one space",
             f.path(), k, std::string(m.substr(0, 64)));
      merge_list.push_back(ojson::array({std::string(m.substr(0, sp)), std::string(m.substr(sp + 1))}));
    }
  ojson post = nullptr;
  if (auto bos = bos_id(f, n)) {
    const std::string b(tokens.strs[size_t(*bos)]);
    post = {{"type", "TemplateProcessing"},
            {"single", ojson::array({ojson{{"SpecialToken", {{"id", b}, {"type_id", 0}}}},
                                     ojson{{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
            {"pair", ojson::array({ojson{{"SpecialToken", {{"id", b}, {"type_id", 0}}}},
                                   ojson{{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                                   ojson{{"SpecialToken", {{"id", b}, {"type_id", 1}}}},
                                   ojson{{"Sequence", {{"id", "B"}, {"type_id", 1}}}}})},
            {"special_tokens", {{b, {{"id", b}, {"ids", {*bos}}, {"tokens", {b}}}}}}};
  }
  ojson model{{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
              {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false},
              {"ignore_merges", false}, {"vocab", std::move(vocab)}, {"merges", std::move(merge_list)}};
  ojson j{{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", std::move(added)},
          {"normalizer", nullptr},
          {"pre_tokenizer", gguf_pre_tokenizer(f)},
          {"post_processor", std::move(post)},
          {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
          {"model", std::move(model)}};
  try {
    return j.dump();
  } catch (const nlohmann::json::exception&) {
    fail(ErrorKind::kConfig, "{}: the embedded vocabulary (tokenizer.ggml.tokens / merges) is not valid UTF-8", f.path());
  }
}

std::string add_gguf_vocab(GgufWriter& w, const std::string& model_dir, int64_t vocab_size, int64_t bos_id,
                           int64_t eos_id) {
  constexpr int32_t kNormal = 1, kUnused = 5;
  std::vector<std::string> tokens(static_cast<size_t>(vocab_size));
  std::vector<int32_t> types(static_cast<size_t>(vocab_size), kUnused);
  std::vector<std::string> merges;
  std::string pre = "default", note;
  const std::string tj = path_join(model_dir, "tokenizer.json");
  if (file_exists(tj)) {
    const nlohmann::json j = parse_json(read_file(tj), tj);
    auto put = [&](int64_t id, const std::string& t, int32_t type, const char* where) {
      if (id < 0 || id >= vocab_size)
        fail(ErrorKind::kConfig, "{}: {} token '{}' has id {}, outside the model's vocab_size {}", tj, where, t, id,
             vocab_size);
      tokens[size_t(id)] = t;
      types[size_t(id)] = type;
    };
    const nlohmann::json& model = j.at("model");
    if (model.value("type", "") != "BPE") fail(ErrorKind::kUnsupported, "{}: model.type is not BPE", tj);
    for (const auto& [t, id] : model.at("vocab").items()) put(id.get<int64_t>(), t, kNormal, "model.vocab");
    for (const auto& m : model.value("merges", nlohmann::json::array())) {
      if (m.is_string()) merges.push_back(m.get<std::string>());
      else merges.push_back(m.at(0).get<std::string>() + " " + m.at(1).get<std::string>());
    }
    for (const auto& a : j.value("added_tokens", nlohmann::json::array()))
      put(a.at("id").get<int64_t>(), a.at("content").get<std::string>(),
          a.value("special", false) ? int32_t(kTokenControl) : int32_t(kTokenUserDefined), "added");
    const nlohmann::json& pt = j.at("pre_tokenizer");
    if (pt == nlohmann::json::parse(tok::kDeepSeekV3PreTokenizerJson)) pre = "deepseek-v3";
    else if (pt.is_object() && pt.value("type", "") == "ByteLevel" && pt.value("use_regex", true)) pre = "gpt2";
    else
      fail(ErrorKind::kUnsupported, "{}: pre_tokenizer is neither DeepSeek-V3's nor GPT-2's byte-level one, so no "
           "llama.cpp tokenizer.ggml.pre name fits it", tj);
    note = fmt::format("tokenizer from {} (pre '{}', {} merges)", tj, pre, merges.size());
  } else {
    note = "no tokenizer.json: placeholder vocabulary written (--ids only)";
  }
  for (int64_t i = 0; i < vocab_size; ++i)
    if (types[size_t(i)] == kUnused) tokens[size_t(i)] = fmt::format("[PAD{}]", i);
  w.add_string("tokenizer.ggml.model", "gpt2");
  w.add_string("tokenizer.ggml.pre", pre);
  w.add_string_array("tokenizer.ggml.tokens", tokens);
  w.add_i32_array("tokenizer.ggml.token_type", types);
  w.add_string_array("tokenizer.ggml.merges", merges);
  const std::string tc = path_join(model_dir, "tokenizer_config.json");
  std::optional<TokenizerConfig> cfg;
  if (file_exists(tc)) cfg = TokenizerConfig::load(tc);
  // The tokenizer's own BOS / EOS text decides their ids; config.json's ids are the fallback.
  auto id_of = [&](const std::optional<std::string>& text, int64_t fallback) {
    if (text)
      for (int64_t i = 0; i < vocab_size; ++i)
        if (types[size_t(i)] != kUnused && tokens[size_t(i)] == *text) return i;
    return fallback;
  };
  bos_id = id_of(cfg ? cfg->bos_token : std::nullopt, bos_id);
  eos_id = id_of(cfg ? cfg->eos_token : std::nullopt, eos_id);
  if (bos_id >= 0 && bos_id < vocab_size) w.add_u32("tokenizer.ggml.bos_token_id", uint32_t(bos_id));
  if (eos_id >= 0 && eos_id < vocab_size) w.add_u32("tokenizer.ggml.eos_token_id", uint32_t(eos_id));
  if (cfg) {
    const TokenizerConfig& c = *cfg;
    w.add_bool("tokenizer.ggml.add_bos_token", c.add_bos_token);
    w.add_bool("tokenizer.ggml.add_eos_token", c.add_eos_token);
    if (!c.chat_template.empty()) w.add_string("tokenizer.chat_template", c.chat_template);
  } else {
    w.add_bool("tokenizer.ggml.add_bos_token", false);
  }
  return note;
}

}  // namespace frugal
