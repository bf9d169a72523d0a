#include "tokenizer/regex.h"

#include <oniguruma.h>

#include <mutex>

#include "core/error.h"

namespace frugal::tok {
namespace {

void init_onig() {
  static std::once_flag once;
  std::call_once(once, [] {
    OnigEncoding enc[] = {ONIG_ENCODING_UTF8};
    onig_initialize(enc, 1);
  });
}

// One match region per thread: onig_search is re-entrant on a shared regex_t, and reusing the
// region avoids an allocation per pre-token piece.
struct RegionHolder {
  OnigRegion* r = onig_region_new();
  ~RegionHolder() { onig_region_free(r, 1); }
};

}  // namespace

Regex::Regex(const std::string& pattern, const std::string& where) {
  init_onig();
  regex_t* reg = nullptr;
  OnigErrorInfo einfo;
  const auto* p = reinterpret_cast<const OnigUChar*>(pattern.data());
  const int rc = onig_new(&reg, p, p + pattern.size(), ONIG_OPTION_NONE, ONIG_ENCODING_UTF8,
                          ONIG_SYNTAX_DEFAULT, &einfo);
  if (rc != ONIG_NORMAL) {
    OnigUChar msg[ONIG_MAX_ERROR_MESSAGE_LEN];
    onig_error_code_to_str(msg, rc, &einfo);
    fail(ErrorKind::kConfig, "{}: invalid regex '{}': {}", where, pattern, reinterpret_cast<const char*>(msg));
  }
  reg_ = reg;
}

Regex::~Regex() {
  if (reg_) onig_free(static_cast<regex_t*>(reg_));
}

void Regex::find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const {
  thread_local RegionHolder holder;
  OnigRegion* region = holder.r;
  auto* reg = static_cast<regex_t*>(reg_);
  const auto* str = reinterpret_cast<const OnigUChar*>(text.data());
  const OnigUChar* end = str + text.size();
  size_t pos = 0;
  while (pos <= text.size()) {
    const int r = onig_search(reg, str, end, str + pos, end, region, ONIG_OPTION_NONE);
    if (r < 0) {
      if (r == ONIG_MISMATCH) break;
      fail(ErrorKind::kInternal, "regex search failed with code {}", r);
    }
    const size_t b = size_t(region->beg[0]), e = size_t(region->end[0]);
    if (e > b) {
      out.emplace_back(b, e);
      pos = e;
    } else {
      // An empty match splits nothing; step over one character to make progress.
      if (b >= text.size()) break;
      size_t step = 1;
      while (b + step < text.size() && (uint8_t(text[b + step]) & 0xC0) == 0x80) ++step;
      pos = b + step;
    }
  }
}

}  // namespace frugal::tok
