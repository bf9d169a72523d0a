#include "tokenizer/regex.h"

#include <oniguruma.h>

#include <algorithm>
#include <mutex>
#include <vector>

#include "core/error.h"
#include "tokenizer/unicode_gc.h"

namespace frugal::tok {
namespace {

// Oniguruma's UTF-8 encoding with General_Category properties (\p{L}, \P{Lu}, \p{^Letter},
// [\p{N}\p{P}], ...) answered from frugal's pinned UCD tables (unicode_gc.h) instead of the
// library's own, whose Unicode version is whatever the system ships. Only the tables change: the
// parser turns a property into a character class the same way (and treats it the same under
// (?i)), so patterns keep their meaning. Other properties (\p{Han}, \w, [[:alpha:]]) are the
// library's.
constexpr int kGcCtypeBase = 0x10000;  // above Oniguruma's own ctypes (597 in 6.9.8) and user-defined ones

struct GcProperty {
  GcMask mask;
  std::vector<OnigCodePoint> ranges;  // Oniguruma's code range format: n, then n (from, to) pairs
};
std::vector<GcProperty> g_gc_props;  // one per distinct set of values named in kGcAliases
OnigEncodingType g_encoding;

int gc_property_name_to_ctype(OnigEncoding enc, OnigUChar* p, OnigUChar* end) {
  const GcMask mask = gc_mask_for_property_name({reinterpret_cast<const char*>(p), size_t(end - p)});
  for (size_t i = 0; mask != 0 && i < g_gc_props.size(); ++i)
    if (g_gc_props[i].mask == mask) return kGcCtypeBase + int(i);
  const int ctype = OnigEncodingUTF8.property_name_to_ctype(enc, p, end);
  // A library with that many properties of its own would collide with ours: refuse the pattern.
  return ctype >= kGcCtypeBase ? ONIGERR_TYPE_BUG : ctype;
}

int gc_is_code_ctype(OnigCodePoint code, OnigCtype ctype) {
  if (ctype < OnigCtype(kGcCtypeBase)) return OnigEncodingUTF8.is_code_ctype(code, ctype);
  return (g_gc_props[ctype - kGcCtypeBase].mask & gc_bits({general_category(code)})) != 0;
}

int gc_get_ctype_code_range(OnigCtype ctype, OnigCodePoint* sb_out, const OnigCodePoint* ranges[]) {
  if (ctype < OnigCtype(kGcCtypeBase)) return OnigEncodingUTF8.get_ctype_code_range(ctype, sb_out, ranges);
  *sb_out = 0x80;  // as Oniguruma's UTF-8: code points below it go to the class's bitmap
  *ranges = g_gc_props[ctype - kGcCtypeBase].ranges.data();
  return 0;
}

GcProperty make_gc_property(GcMask mask) {
  GcProperty prop{mask, {0}};
  for (size_t i = 0; i < kGcRunCount; ++i) {
    if (!(mask & gc_bits({kGcRuns[i].gc}))) continue;
    const OnigCodePoint from = kGcRuns[i].first;
    const OnigCodePoint to = i + 1 < kGcRunCount ? kGcRuns[i + 1].first - 1 : 0x10FFFF;
    if (prop.ranges.size() > 1 && prop.ranges.back() + 1 == from) {
      prop.ranges.back() = to;  // runs of two member values touch: one range
    } else {
      prop.ranges.push_back(from);
      prop.ranges.push_back(to);
      ++prop.ranges[0];
    }
  }
  return prop;
}

OnigEncoding encoding() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (size_t i = 0; i < kGcAliasCount; ++i) {
      const GcMask m = kGcAliases[i].mask;
      if (std::none_of(g_gc_props.begin(), g_gc_props.end(), [&](const GcProperty& p) { return p.mask == m; }))
        g_gc_props.push_back(make_gc_property(m));
    }
    g_encoding = OnigEncodingUTF8;
    g_encoding.property_name_to_ctype = gc_property_name_to_ctype;
    g_encoding.is_code_ctype = gc_is_code_ctype;
    g_encoding.get_ctype_code_range = gc_get_ctype_code_range;
    OnigEncoding enc[] = {&g_encoding};
    onig_initialize(enc, 1);
  });
  return &g_encoding;
}

// One match region per thread: onig_search is re-entrant on a shared regex_t, and reusing the
// region avoids an allocation per pre-token piece.
struct RegionHolder {
  OnigRegion* r = onig_region_new();
  ~RegionHolder() { onig_region_free(r, 1); }
};

}  // namespace

Regex::Regex(const std::string& pattern, const std::string& where) {
  regex_t* reg = nullptr;
  OnigErrorInfo einfo;
  const auto* p = reinterpret_cast<const OnigUChar*>(pattern.data());
  const int rc = onig_new(&reg, p, p + pattern.size(), ONIG_OPTION_NONE, encoding(),
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
