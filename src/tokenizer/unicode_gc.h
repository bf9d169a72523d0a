// Unicode General_Category from a pinned Unicode Character Database, so the pre-tokenizer's \p{..}
// classes do not depend on the tables of whatever Oniguruma the system has (Debian 12's 6.9.8
// knows Unicode 14.0). The version is the one the reference's Oniguruma uses: Hugging Face
// `tokenizers` 0.23 depends on the onig crate 6.5, whose onig_sys 69.9 bundles Oniguruma at
// 6.9.9-46-g94877ac (the 6.9.10 tree, "Update to Unicode 16.0"); the reference vectors agree (their
// unicode16_chars case splits Garay letters as \p{L}). The data (unicode_gc_data.cpp) is generated
// by tools/unicode/gen_unicode_tables.mjs.
#pragma once
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string_view>

namespace frugal::tok {

// The 30 General_Category values, in the order of the UCD's own listing (UAX #44, table 12).
enum class Gc : uint8_t {
  Lu, Ll, Lt, Lm, Lo,
  Mn, Mc, Me,
  Nd, Nl, No,
  Pc, Pd, Ps, Pe, Pi, Pf, Po,
  Sm, Sc, Sk, So,
  Zs, Zl, Zp,
  Cc, Cf, Cs, Co, Cn,
};
inline constexpr int kGcCount = 30;

// A set of General_Category values, one bit per Gc.
using GcMask = uint32_t;
constexpr GcMask gc_bits(std::initializer_list<Gc> gcs) {
  GcMask m = 0;
  for (Gc g : gcs) m |= GcMask(1) << int(g);
  return m;
}

// Maximal runs of one category: run i covers [first, next run's first), the last run up to U+10FFFF.
struct GcRun {
  uint32_t first;
  Gc gc;
};
// A General_Category value name as Oniguruma matches property names: ASCII lower case, without
// ' ', '-' and '_' ("Uppercase_Letter" -> "uppercaseletter"), and the values it stands for.
struct GcAlias {
  const char* name;
  GcMask mask;
};

// Generated data.
extern const char* const kUcdVersion;  // "16.0.0"
extern const GcRun kGcRuns[];
extern const size_t kGcRunCount;
extern const GcAlias kGcAliases[];
extern const size_t kGcAliasCount;

// General_Category of a code point (Cn for unassigned ones and for values above U+10FFFF).
Gc general_category(uint32_t cp);

// The values a property name denotes when it names a General_Category value (short or long name or
// alias, spelled in any case, with or without ' ', '-', '_': "L", "Letter", "uppercase-letter",
// "punct"); 0 when it names none.
GcMask gc_mask_for_property_name(std::string_view name);

}  // namespace frugal::tok
