#include "tokenizer/tokenizer_config.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/json.h"

namespace frugal {
namespace {

std::optional<std::string> read_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return std::nullopt;
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::optional<std::string> token_field(const nlohmann::json& j, const char* key, const std::string& source) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    auto c = it->find("content");
    if (c != it->end() && c->is_string()) return c->get<std::string>();
  }
  fail(ErrorKind::kFormat, "{}: '{}' must be a string or an object with a string 'content'", source, key);
}

bool bool_field(const nlohmann::json& j, const char* key, bool dflt, const std::string& source) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return dflt;
  if (!it->is_boolean()) fail(ErrorKind::kFormat, "{}: '{}' must be true or false", source, key);
  return it->get<bool>();
}

}  // namespace

TokenizerConfig TokenizerConfig::from_json_text(std::string_view json_text, const std::string& source) {
  const nlohmann::json j = parse_json(json_text, source);
  if (!j.is_object()) fail(ErrorKind::kFormat, "{}: expected a JSON object", source);
  TokenizerConfig c;
  c.bos_token = token_field(j, "bos_token", source);
  c.eos_token = token_field(j, "eos_token", source);
  c.pad_token = token_field(j, "pad_token", source);
  c.unk_token = token_field(j, "unk_token", source);
  c.add_bos_token = bool_field(j, "add_bos_token", false, source);
  c.add_eos_token = bool_field(j, "add_eos_token", false, source);
  auto t = j.find("chat_template");
  if (t != j.end() && !t->is_null()) {
    if (t->is_string()) {
      c.chat_template = t->get<std::string>();
    } else if (t->is_array()) {
      bool found = false;
      for (const auto& e : *t) {
        if (!e.is_object() || !e.contains("name") || !e.contains("template") || !e["name"].is_string() ||
            !e["template"].is_string())
          fail(ErrorKind::kFormat, "{}: 'chat_template' list entries must be {{\"name\": ..., \"template\": ...}}", source);
        if (e["name"] == "default") {
          c.chat_template = e["template"].get<std::string>();
          found = true;
        }
      }
      if (!found) fail(ErrorKind::kFormat, "{}: 'chat_template' list has no template named \"default\"", source);
    } else {
      fail(ErrorKind::kFormat, "{}: 'chat_template' must be a string or a list of named templates", source);
    }
  }
  if (!c.chat_template.empty()) c.chat_template_source = source + " (chat_template)";
  return c;
}

TokenizerConfig TokenizerConfig::load(const std::string& path) {
  namespace fs = std::filesystem;
  fs::path p(path);
  std::error_code ec;
  if (fs::is_directory(p, ec)) p /= "tokenizer_config.json";
  auto text = read_file(p);
  if (!text) fail(ErrorKind::kIo, "cannot read {}", p.string());
  TokenizerConfig c = from_json_text(*text, p.string());
  if (c.chat_template.empty()) {
    const fs::path jinja_path = p.parent_path() / "chat_template.jinja";
    if (auto jinja = read_file(jinja_path)) {
      c.chat_template = *jinja;
      c.chat_template_source = jinja_path.string();
    }
  }
  return c;
}

}  // namespace frugal
