// frugal chat-template --tokenizer DIR [--jsonl] [--no-ids]
//   --jsonl:  stdin lines {"messages": [...], "add_generation_prompt": bool, "tools": [...]}
//             -> {"rendered": "...", "ids": [...]}
//   without:  all of stdin is one such request; prints the rendered text as is.
// DIR holds tokenizer_config.json (its chat_template and special tokens) and tokenizer.json
// (or .gz); ids are the rendered text encoded without adding special tokens, as Hugging Face's
// apply_chat_template(tokenize=True) does (the template writes BOS itself).
#include <cstdio>
#include <iostream>
#include <iterator>
#include <optional>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "core/json.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace frugal::cli {
namespace {

using ojson = nlohmann::ordered_json;

// Members of one JSON object in a request: far more than any message or tool schema has, and few
// enough that ordered_json's linear key lookup stays fast.
constexpr int64_t kMaxRequestMembers = 10000;

ChatRequest parse_request(const std::string& text, const std::string& where) {
  // Member count bounded too: ordered_json's linear key map makes a huge object quadratic.
  JsonLimits lim;
  lim.max_members = kMaxRequestMembers;
  const ojson j = parse_ordered_json(text, where, lim);
  try {
    return ChatRequest::from_json(j);
  } catch (const Error& e) {
    fail(e.kind(), "{}: {}", where, e.what());
  }
}

std::string render_or_explain(const ChatTemplate& t, const TokenizerConfig& cfg, const ChatRequest& r,
                              const std::string& where) {
  try {
    return render_chat(t, cfg, r);
  } catch (const Error& e) {
    fail(e.kind(), "{}: chat template: {}", where, e.what());
  }
}

}  // namespace

void register_chat_template(CLI::App& app) {
  struct Opts {
    std::string dir;
    bool jsonl = false, no_ids = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* c = app.add_subcommand("chat-template", "render conversations with a tokenizer's chat template");
  c->add_option("--tokenizer", o->dir, "directory with tokenizer_config.json and tokenizer.json")->required();
  c->add_flag("--jsonl", o->jsonl, "stdin lines {\"messages\", \"add_generation_prompt\", \"tools\"} -> {\"rendered\", \"ids\"}");
  c->add_flag("--no-ids", o->no_ids, "render only (no tokenizer.json needed)");
  c->callback([o] {
    const TokenizerConfig cfg = TokenizerConfig::load(o->dir);
    if (cfg.chat_template.empty())
      fail(ErrorKind::kInvalidArgument, "{}: the tokenizer has no chat_template", o->dir);
    const ChatTemplate tmpl(cfg.chat_template, cfg.chat_template_source);
    std::optional<Tokenizer> tok;
    if (o->jsonl && !o->no_ids) tok.emplace(Tokenizer::load(o->dir));
    if (!o->jsonl) {
      const std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
      const std::string rendered = render_or_explain(tmpl, cfg, parse_request(text, "stdin"), "stdin");
      std::fwrite(rendered.data(), 1, rendered.size(), stdout);
      return;
    }
    std::string line;
    size_t lineno = 0;
    while (std::getline(std::cin, line)) {
      ++lineno;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      const std::string where = "stdin line " + std::to_string(lineno);
      const std::string rendered = render_or_explain(tmpl, cfg, parse_request(line, where), where);
      nlohmann::json out;
      out["rendered"] = rendered;
      if (tok) out["ids"] = tok->encode(rendered, /*add_special_tokens=*/false);
      const std::string s = out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      std::printf("%s\n", s.c_str());
    }
    std::fflush(stdout);
  });
}

}  // namespace frugal::cli
