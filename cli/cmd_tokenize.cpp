// frugal tokenize --tokenizer PATH [--jsonl] [--decode] [--add-special-tokens]
//   --jsonl:           stdin lines {"text": "...", "add_special_tokens": false} -> {"ids": [...]}
//   --decode --jsonl:  stdin lines {"ids": [...], "skip_special_tokens": false} -> {"text": "..."}
//   without --jsonl:   all of stdin is one text (or, with --decode, comma-separated ids).
// Lines are read in batches and encoded on all threads; output keeps input order.
#include <cctype>
#include <cstdio>
#include <iostream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "core/json.h"
#include "core/sys.h"
#include "tokenizer/tokenizer.h"

namespace frugal::cli {
namespace {

using json = nlohmann::json;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json parse_line(const std::string& line, size_t lineno) {
  json j = parse_json(line, fmt::format("stdin line {}", lineno));
  if (!j.is_object()) fail(ErrorKind::kInvalidArgument, "stdin line {}: expected a JSON object", lineno);
  return j;
}

bool opt_flag(const json& j, const char* key, size_t lineno) {
  if (!j.contains(key) || j[key].is_null()) return false;
  if (!j[key].is_boolean()) fail(ErrorKind::kInvalidArgument, "stdin line {}: \"{}\" must be true or false", lineno, key);
  return j[key].get<bool>();
}

void run_encode_jsonl(const Tokenizer& t, int threads) {
  constexpr size_t kBatch = 512;
  std::vector<std::string> texts;
  std::vector<char> add_special;
  size_t lineno = 0;
  std::string line;
  bool eof = false;
  while (!eof) {
    texts.clear();
    add_special.clear();
    while (texts.size() < kBatch) {
      if (!std::getline(std::cin, line)) {
        eof = true;
        break;
      }
      ++lineno;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      json j = parse_line(line, lineno);
      if (!j.contains("text") || !j["text"].is_string())
        fail(ErrorKind::kInvalidArgument, "stdin line {}: needs a string field \"text\"", lineno);
      texts.push_back(j["text"].get<std::string>());
      add_special.push_back(opt_flag(j, "add_special_tokens", lineno));
    }
    // Lines asking for special tokens are rare; encode the batch plain and redo those few.
    auto ids = t.encode_batch(texts, false, threads);
    for (size_t i = 0; i < texts.size(); ++i) {
      if (add_special[i]) ids[i] = t.encode(texts[i], true);
      std::fputs(dump(json{{"ids", ids[i]}}).c_str(), stdout);
      std::fputc('\n', stdout);
    }
    std::fflush(stdout);
  }
}

void run_decode_jsonl(const Tokenizer& t) {
  size_t lineno = 0;
  for (std::string line; std::getline(std::cin, line);) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json j = parse_line(line, lineno);
    if (!j.contains("ids") || !j["ids"].is_array())
      fail(ErrorKind::kInvalidArgument, "stdin line {}: needs an array field \"ids\"", lineno);
    std::vector<int32_t> ids;
    for (const auto& v : j["ids"]) {
      if (!v.is_number_integer() || v.get<int64_t>() < INT32_MIN || v.get<int64_t>() > INT32_MAX)
        fail(ErrorKind::kInvalidArgument, "stdin line {}: \"ids\" must hold 32-bit integers", lineno);
      ids.push_back(v.get<int32_t>());
    }
    std::fputs(dump(json{{"text", t.decode(ids, opt_flag(j, "skip_special_tokens", lineno))}}).c_str(), stdout);
    std::fputc('\n', stdout);
  }
  std::fflush(stdout);
}

}  // namespace

void register_tokenize(CLI::App& app) {
  struct Opts {
    std::string tokenizer;
    bool jsonl = false, decode = false, add_special = false, skip_special = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* c = app.add_subcommand("tokenize", "encode text to token ids (or decode ids) with a tokenizer.json");
  c->add_option("--tokenizer", o->tokenizer, "tokenizer.json, a .gz of it, or a directory holding it")->required();
  c->add_flag("--jsonl", o->jsonl, "read JSON lines from stdin, write one JSON line per input");
  c->add_flag("--decode", o->decode, "decode ids to text instead of encoding");
  c->add_flag("--add-special-tokens", o->add_special, "without --jsonl: apply the post-processor (e.g. BOS)");
  c->add_flag("--skip-special-tokens", o->skip_special, "without --jsonl: drop special tokens when decoding");
  c->callback([o] {
    const Tokenizer t = Tokenizer::load(o->tokenizer);
    const int threads = num_threads();
    if (o->jsonl) {
      if (o->decode) run_decode_jsonl(t);
      else run_encode_jsonl(t, threads);
      return;
    }
    std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    if (o->decode) {
      while (!input.empty() && std::isspace(static_cast<unsigned char>(input.back()))) input.pop_back();
      std::fputs(dump(json{{"text", t.decode(parse_ids(input), o->skip_special)}}).c_str(), stdout);
    } else {
      std::fputs(dump(json{{"ids", t.encode(input, o->add_special)}}).c_str(), stdout);
    }
    std::fputc('\n', stdout);
  });
}

}  // namespace frugal::cli
