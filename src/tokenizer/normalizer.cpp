#include "tokenizer/normalizer.h"

#include <utf8proc.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/utf8.h"

namespace frugal::tok {
namespace {

void parse_into(const nlohmann::json& j, const std::string& where, std::vector<Normalizer::Form>& out) {
  if (j.is_null()) return;
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
    fail(ErrorKind::kConfig, "{}: normalizer must be an object with a string \"type\"", where);
  const std::string type = j["type"];
  if (type == "Sequence") {
    if (!j.contains("normalizers") || !j["normalizers"].is_array())
      fail(ErrorKind::kConfig, "{}: normalizer Sequence needs a \"normalizers\" array", where);
    for (const auto& n : j["normalizers"]) parse_into(n, where, out);
  } else if (type == "NFC") {
    out.push_back(Normalizer::Form::kNFC);
  } else if (type == "NFD") {
    out.push_back(Normalizer::Form::kNFD);
  } else if (type == "NFKC") {
    out.push_back(Normalizer::Form::kNFKC);
  } else if (type == "NFKD") {
    out.push_back(Normalizer::Form::kNFKD);
  } else {
    fail(ErrorKind::kUnsupported, "{}: normalizer type \"{}\" is not supported (NFC, NFD, NFKC, NFKD, Sequence)",
         where, type);
  }
}

// Below U+0300 every code point is already NFC and only composes with a following mark at U+0300
// or above (UTF-8 lead byte >= 0xCC), so plain text skips the library call; the other forms also
// change Latin-1 letters and compatibility characters, so any non-ASCII byte needs the call.
bool needs_work(std::string_view s, Normalizer::Form f) {
  const unsigned char limit = f == Normalizer::Form::kNFC ? 0xCC : 0x80;
  for (unsigned char c : s)
    if (c >= limit) return true;
  return false;
}

std::string normalize_valid(std::string_view s, Normalizer::Form f) {
  int opts = UTF8PROC_STABLE;
  switch (f) {
    case Normalizer::Form::kNFC: opts |= UTF8PROC_COMPOSE; break;
    case Normalizer::Form::kNFD: opts |= UTF8PROC_DECOMPOSE; break;
    case Normalizer::Form::kNFKC: opts |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
    case Normalizer::Form::kNFKD: opts |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
  }
  utf8proc_uint8_t* out = nullptr;
  const auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()), utf8proc_ssize_t(s.size()),
                              &out, utf8proc_option_t(opts));
  if (n < 0) fail(ErrorKind::kInternal, "normalization failed: {}", utf8proc_errmsg(n));
  std::string r(reinterpret_cast<const char*>(out), size_t(n));
  std::free(out);
  return r;
}

}  // namespace

Normalizer Normalizer::from_json(const nlohmann::json& j, const std::string& where) {
  Normalizer n;
  parse_into(j, where, n.forms_);
  return n;
}

std::string Normalizer::apply(std::string_view text) const {
  std::string cur(text);
  for (Form f : forms_) {
    if (!needs_work(cur, f)) continue;
    // Normalize each maximal valid UTF-8 run; invalid bytes are kept as they are.
    std::string next;
    next.reserve(cur.size());
    const auto* p = reinterpret_cast<const uint8_t*>(cur.data());
    size_t i = 0, run = 0;
    while (i < cur.size()) {
      int bad = 0;
      const int len = p[i] < 0x80 ? 1 : utf8_char_len(p + i, cur.size() - i, &bad);
      if (len > 0) {
        i += size_t(len);
        continue;
      }
      if (i > run) next += normalize_valid(std::string_view(cur).substr(run, i - run), f);
      next.append(cur, i, size_t(bad));
      i += size_t(bad);
      run = i;
    }
    if (i > run) next += normalize_valid(std::string_view(cur).substr(run, i - run), f);
    cur = std::move(next);
  }
  return cur;
}

}  // namespace frugal::tok
