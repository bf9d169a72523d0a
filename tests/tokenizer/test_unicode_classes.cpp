// The pre-tokenizer's Unicode classes against the Unicode Character Database, code point by code
// point. Expected categories come from tests/data/unicode/UnicodeData-gc.txt.gz (UnicodeData.txt
// entries of UCD 16.0.0, expanded here), not from the generated table the library uses
// (src/tokenizer/unicode_gc_data.cpp, made from DerivedGeneralCategory.txt). 16.0 is the version of
// the reference's Oniguruma (see src/tokenizer/unicode_gc.h); Debian 12's libonig knows 14.0, so
// without frugal's tables every character added in 15.0, 15.1 and 16.0 is misclassified.
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/regex.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode_gc.h"
#include "tokenizer/utf8.h"

namespace frugal::tok {
namespace {

using json = nlohmann::json;
using Cat = std::string;  // two-letter General_Category value, "Lu" .. "Cn"

// Category of every code point, from the UnicodeData extract: "XXXX;Gc" or "XXXX..YYYY;Gc" for a
// First/Last pair; code points not listed are unassigned.
const std::vector<Cat>& ucd() {
  static const std::vector<Cat> cats = [] {
    std::vector<Cat> c(0x110000, "Cn");
    std::istringstream in(read_tokenizer_file(std::string(FRUGAL_TEST_DATA) + "/unicode/UnicodeData-gc.txt.gz", nullptr));
    size_t entries = 0;
    for (std::string line; std::getline(in, line);) {
      if (line.empty() || line[0] == '#') continue;
      const size_t semi = line.find(';'), dots = line.find("..");
      const uint32_t first = uint32_t(std::stoul(line.substr(0, std::min(semi, dots)), nullptr, 16));
      const uint32_t last = dots < semi ? uint32_t(std::stoul(line.substr(dots + 2, semi - dots - 2), nullptr, 16)) : first;
      for (uint32_t cp = first; cp <= last; ++cp) c.at(cp) = line.substr(semi + 1);
      ++entries;
    }
    EXPECT_GT(entries, 30000u);
    return c;
  }();
  return cats;
}

bool is_surrogate(uint32_t cp) { return cp >= 0xD800 && cp <= 0xDFFF; }

TEST(UnicodeClasses, TableMatchesUnicodeData) {
  EXPECT_STREQ(kUcdVersion, "16.0.0");
  const char* const names[kGcCount] = {"Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl",
                                       "No", "Pc", "Pd", "Ps", "Pe", "Pi", "Pf", "Po", "Sm", "Sc",
                                       "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn"};
  int bad = 0;
  for (uint32_t cp = 0; cp < 0x110000; ++cp)
    if (names[int(general_category(cp))] != ucd()[cp] && ++bad <= 5)
      ADD_FAILURE() << "U+" << std::hex << cp << ": table " << names[int(general_category(cp))] << ", UCD " << ucd()[cp];
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(general_category(0x110000), Gc::Cn);
}

// Names that are not General_Category values still go to Oniguruma: scripts and POSIX classes work,
// an unknown name is a config error naming the pattern.
TEST(UnicodeClasses, OtherPropertyNamesAreOniguruma) {
  std::vector<std::pair<size_t, size_t>> m;
  Regex("\\p{Han}+", "test").find_all("ab\u4E2D\u6587cd", m);
  EXPECT_EQ(m, (std::vector<std::pair<size_t, size_t>>{{2, 8}}));
  m.clear();
  Regex("[[:alpha:]]+", "test").find_all("12ab3", m);
  EXPECT_EQ(m, (std::vector<std::pair<size_t, size_t>>{{2, 4}}));
  try {
    Regex("x\\p{NoSuchProperty}", "tok.json");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tok.json"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("NoSuchProperty"), std::string::npos) << e.what();
  }
}

// Every property spelling a tokenizer.json might use, as a regex over all code points (one string
// of every scalar value), against the category predicate it stands for.
TEST(UnicodeClasses, RegexPropertiesMatchEveryCodePoint) {
  std::string text;
  for (uint32_t cp = 0; cp < 0x110000; ++cp)
    if (!is_surrogate(cp)) utf8_append(text, cp);
  // Expected membership of a code point, from its category (and, for \r\n, the code point).
  using Pred = std::function<bool(uint32_t, const Cat&)>;
  std::vector<std::pair<std::string, Pred>> props;
  for (const char* v : {"Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps", "Pe",
                        "Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn"})
    props.push_back({std::string("\\p{") + v + "}+", [v](uint32_t, const Cat& c) { return c == v; }});
  for (char g : std::string("LMNPSZC"))
    props.push_back({std::string("\\p{") + g + "}+", [g](uint32_t, const Cat& c) { return c[0] == g; }});
  const Pred cased = [](uint32_t, const Cat& c) { return c == "Lu" || c == "Ll" || c == "Lt"; };
  props.push_back({"\\p{LC}+", cased});
  props.push_back({"\\p{Cased_Letter}+", cased});
  props.push_back({"\\p{Letter}+", [](uint32_t, const Cat& c) { return c[0] == 'L'; }});
  props.push_back({"\\p{uppercase-letter}+", [](uint32_t, const Cat& c) { return c == "Lu"; }});
  props.push_back({"\\p{Decimal Number}+", [](uint32_t, const Cat& c) { return c == "Nd"; }});
  props.push_back({"\\p{punct}+", [](uint32_t, const Cat& c) { return c[0] == 'P'; }});
  props.push_back({"\\p{Combining_Mark}+", [](uint32_t, const Cat& c) { return c[0] == 'M'; }});
  props.push_back({"\\p{Other}+", [](uint32_t, const Cat& c) { return c[0] == 'C'; }});
  props.push_back({"\\p{Unassigned}+", [](uint32_t, const Cat& c) { return c == "Cn"; }});
  props.push_back({"\\P{L}+", [](uint32_t, const Cat& c) { return c[0] != 'L'; }});
  props.push_back({"\\p{^N}+", [](uint32_t, const Cat& c) { return c[0] != 'N'; }});
  props.push_back({"[^\\r\\n\\p{L}\\p{N}]+",
                   [](uint32_t cp, const Cat& c) { return c[0] != 'L' && c[0] != 'N' && cp != '\r' && cp != '\n'; }});
  props.push_back({"[\\p{P}\\p{S}]+", [](uint32_t, const Cat& c) { return c[0] == 'P' || c[0] == 'S'; }});
  props.push_back({"[\\P{L}&&\\P{C}]+", [](uint32_t, const Cat& c) { return c[0] != 'L' && c[0] != 'C'; }});
  // Oniguruma does not case-fold a property outside a class, so (?i) keeps \p{Lu} to Lu.
  props.push_back({"(?i:\\p{Lu}+)", [](uint32_t, const Cat& c) { return c == "Lu"; }});

  std::vector<std::pair<size_t, size_t>> matches;
  for (const auto& [pattern, expect] : props) {
    const Regex re(pattern, "test");
    matches.clear();
    re.find_all(text, matches);
    std::vector<bool> hit(0x110000, false);
    const auto* p = reinterpret_cast<const uint8_t*>(text.data());
    for (auto [b, e] : matches)
      for (size_t i = b; i < e;) {
        int bad = 0;
        const int len = utf8_char_len(p + i, e - i, &bad);
        hit[utf8_decode(p + i, len)] = true;
        i += size_t(len);
      }
    int wrong = 0;
    for (uint32_t cp = 0; cp < 0x110000; ++cp)
      if (!is_surrogate(cp) && hit[cp] != expect(cp, ucd()[cp]) && ++wrong <= 3)
        ADD_FAILURE() << pattern << " U+" << std::hex << cp << " (" << ucd()[cp] << "): matched " << hit[cp];
    EXPECT_EQ(wrong, 0) << pattern;
  }
}

PreTokenizer pretok_of(const std::string& name) {
  if (name == "gpt2")  // ByteLevel's own GPT-2 pattern (use_regex)
    return PreTokenizer::from_json(json::parse(R"({"type": "ByteLevel", "add_prefix_space": false})"), name);
  const std::string path = std::string(FRUGAL_TEST_DATA) + "/tokenizer/" + name + "/tokenizer.json.gz";
  return PreTokenizer::from_json(json::parse(read_tokenizer_file(path, nullptr))["pre_tokenizer"], path);
}

std::vector<std::string> split(const PreTokenizer& pt, const std::string& text) {
  std::vector<std::string_view> out;
  std::deque<std::string> storage;
  pt.split(text, out, storage);
  return {out.begin(), out.end()};
}

// "a|cb" -> {"a", c + "b"}: an expected split written with '|' between pieces and 'c' for the code
// point under test.
std::vector<std::string> pieces(std::string_view tmpl, uint32_t cp) {
  std::vector<std::string> out(1);
  for (char ch : tmpl) {
    if (ch == '|') out.emplace_back();
    else if (ch == 'c') utf8_append(out.back(), cp);
    else out.back() += ch;
  }
  return out;
}

// How each pre-tokenizer splits "a" c "b" and "a" c "1" for a code point c >= U+0080 of each kind,
// worked out from its pattern (ASCII is left out: DeepSeek-V3's first alternative treats ASCII
// punctuation apart, and the reference vectors cover ASCII):
//   DeepSeek-V3  \p{N}{1,3} | [一-龥぀-ゟ゠-ヿ]+ | ...|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s...
//   Qwen3        ...|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s...
//   GPT-2        ...| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s...
// "other" is Z, Cc, Cf and Co: white space included, which these probes split the same way.
struct Shape {
  const char *letter, *mark, *number, *punct_symbol, *other;
};
struct Probe {
  const char* tokenizer;
  const char* text;  // 'c' marks the code point
  Shape shape;
  bool cjk_isolated;  // DeepSeek-V3's second step isolates [一-龥぀-ゟ゠-ヿ] whatever their category
};
const Probe kProbes[] = {
    {"deepseek_v3", "acb", {"acb", "acb", "a|c|b", "a|c|b", "a|cb"}, true},
    {"deepseek_v3", "ac1", {"ac|1", "ac|1", "a|c1", "a|c|1", "a|c|1"}, true},
    {"qwen3", "acb", {"acb", "a|cb", "a|c|b", "a|cb", "a|cb"}, false},
    {"qwen3", "ac1", {"ac|1", "a|c|1", "a|c|1", "a|c|1", "a|c|1"}, false},
    {"gpt2", "acb", {"acb", "a|c|b", "a|c|b", "a|c|b", "a|c|b"}, false},
    {"gpt2", "ac1", {"ac|1", "a|c|1", "a|c1", "a|c|1", "a|c|1"}, false},
};

bool in_deepseek_cjk_ranges(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FA5) || (cp >= 0x3040 && cp <= 0x309F) || (cp >= 0x30A0 && cp <= 0x30FF);
}

class PretokEveryCodePoint : public ::testing::TestWithParam<std::string> {};

// Every assigned code point from U+0080 (Cs cannot occur in UTF-8) is split as its category says.
TEST_P(PretokEveryCodePoint, SplitFollowsCategory) {
  const PreTokenizer pt = pretok_of(GetParam());
  int checked = 0, wrong = 0;
  for (uint32_t cp = 0x80; cp < 0x110000; ++cp) {
    const Cat& cat = ucd()[cp];
    if (cat == "Cn" || cat == "Cs") continue;
    for (const Probe& probe : kProbes) {
      if (probe.tokenizer != GetParam()) continue;
      const Shape& s = probe.shape;
      const char* tmpl = cat[0] == 'L' ? s.letter : cat[0] == 'M' ? s.mark : cat[0] == 'N' ? s.number
                         : (cat[0] == 'P' || cat[0] == 'S') ? s.punct_symbol : s.other;
      if (probe.cjk_isolated && in_deepseek_cjk_ranges(cp)) tmpl = probe.text[2] == 'b' ? "a|c|b" : "a|c|1";
      const std::vector<std::string> text = pieces(probe.text, cp);
      const auto got = split(pt, text[0]);
      if (got != pieces(tmpl, cp) && ++wrong <= 5)
        ADD_FAILURE() << GetParam() << " U+" << std::hex << cp << " (" << cat << ") in \"" << probe.text << "\": "
                      << ::testing::PrintToString(got) << ", expected " << tmpl;
      ++checked;
    }
  }
  EXPECT_EQ(wrong, 0);
  EXPECT_GT(checked, 2 * 280000);  // UCD 16.0 assigns 292,531 code points outside the surrogates
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, PretokEveryCodePoint, ::testing::Values("deepseek_v3", "qwen3", "gpt2"));

// Characters new in Unicode 15.0, 15.1 and 16.0, which Debian 12's Oniguruma (Unicode 14.0) takes for
// unassigned: DeepSeek-V3's pre-tokenizer, expected pieces worked out from its pattern.
TEST(UnicodeClasses, NewCharactersSplitLikeTheReference) {
  const PreTokenizer ds = pretok_of("deepseek_v3");
  struct Case {
    const char* what;
    std::vector<uint32_t> text;
    std::vector<std::vector<uint32_t>> want;
  };
  const Case cases[] = {
      // Kawi (15.0): letters U+11F04/05 and sign U+11F00 (Mn) form a word; digits U+11F50/51 (Nd)
      // one number piece; danda U+11F43 (Po) a punctuation piece; nukta U+11F5A (Mn, 16.0).
      {"Kawi", {0x11F04, 0x11F05, 0x11F00, 0x11F5A, ' ', 0x11F50, 0x11F51, 0x11F43},
       {{0x11F04, 0x11F05, 0x11F00, 0x11F5A}, {' '}, {0x11F50, 0x11F51}, {0x11F43}}},
      // CJK Extension H (15.0, U+31350..U+323AF) and I (15.1, U+2EBF0..U+2EE5D): Lo, one word.
      {"CJK Ext H/I", {'a', 0x31350, 0x323AF, 0x2EBF0, 0x2EE5D}, {{'a', 0x31350, 0x323AF, 0x2EBF0, 0x2EE5D}}},
      // So added in 15.0 (U+1FA75 light blue heart, U+1F6DC wireless), 15.1 (U+2FFC, U+31EF
      // ideographic description and stroke), 16.0 (U+1CC00, U+1FAE9): one symbol run.
      {"symbols", {'x', 0x1FA75, 0x1F6DC, 0x2FFC, 0x31EF, 0x1CC00, 0x1FAE9, 'y'},
       {{'x'}, {0x1FA75, 0x1F6DC, 0x2FFC, 0x31EF, 0x1CC00, 0x1FAE9}, {'y'}}},
      // 16.0: Garay U+10D50 (Lu) and U+10D70 (Ll) a word; Gurung Khema letter U+16100 (Lo) a word
      // with the space before it; Gurung Khema digit U+16130 and outlined digit U+1CCF0 (Nd) a number.
      {"16.0 scripts", {0x10D50, 0x10D70, ' ', 0x16100, 0x16130, 0x1CCF0},
       {{0x10D50, 0x10D70}, {' ', 0x16100}, {0x16130, 0x1CCF0}}},
  };
  for (const Case& c : cases) {
    std::string text;
    for (uint32_t cp : c.text) utf8_append(text, cp);
    std::vector<std::string> want;
    for (const auto& piece : c.want) {
      want.emplace_back();
      for (uint32_t cp : piece) utf8_append(want.back(), cp);
    }
    EXPECT_EQ(split(ds, text), want) << c.what;
  }
  // The categories these expectations assume, as the UCD states them.
  EXPECT_EQ(ucd()[0x11F04], "Lo");
  EXPECT_EQ(ucd()[0x11F00], "Mn");
  EXPECT_EQ(ucd()[0x11F5A], "Mn");
  EXPECT_EQ(ucd()[0x11F50], "Nd");
  EXPECT_EQ(ucd()[0x11F43], "Po");
  EXPECT_EQ(ucd()[0x31350], "Lo");
  EXPECT_EQ(ucd()[0x2EBF0], "Lo");
  EXPECT_EQ(ucd()[0x2FFC], "So");
  EXPECT_EQ(ucd()[0x1CC00], "So");
  EXPECT_EQ(ucd()[0x10D50], "Lu");
  EXPECT_EQ(ucd()[0x16130], "Nd");
  EXPECT_EQ(ucd()[0x1CCF0], "Nd");
}

}  // namespace
}  // namespace frugal::tok
