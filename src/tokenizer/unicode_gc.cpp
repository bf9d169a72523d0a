#include "tokenizer/unicode_gc.h"

#include <algorithm>
#include <string>

namespace frugal::tok {

Gc general_category(uint32_t cp) {
  if (cp > 0x10FFFF) return Gc::Cn;
  // The last run whose first code point is <= cp (the first run starts at U+0000).
  const GcRun* end = kGcRuns + kGcRunCount;
  const GcRun* it = std::upper_bound(kGcRuns, end, cp, [](uint32_t c, const GcRun& r) { return c < r.first; });
  return (it - 1)->gc;
}

GcMask gc_mask_for_property_name(std::string_view name) {
  std::string key;
  for (char ch : name) {
    if (ch == ' ' || ch == '-' || ch == '_') continue;
    if (uint8_t(ch) >= 0x80) return 0;
    key += (ch >= 'A' && ch <= 'Z') ? char(ch - 'A' + 'a') : ch;
  }
  for (size_t i = 0; i < kGcAliasCount; ++i)
    if (key == kGcAliases[i].name) return kGcAliases[i].mask;
  return 0;
}

}  // namespace frugal::tok
