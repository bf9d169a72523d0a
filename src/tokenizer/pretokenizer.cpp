#include "tokenizer/pretokenizer.h"

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"

namespace frugal::tok {
namespace {

using json = nlohmann::json;

struct Seg {
  size_t b, e;
  bool match;
};

bool get_bool(const json& j, const char* key, bool def, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return def;
  if (!j[key].is_boolean()) fail(ErrorKind::kConfig, "{}: pre_tokenizer field \"{}\" must be a boolean", where, key);
  return j[key].get<bool>();
}

SplitBehavior parse_behavior(const json& j, const std::string& where) {
  const std::string b = j.value("behavior", std::string("Isolated"));
  if (b == "Removed") return SplitBehavior::kRemoved;
  if (b == "Isolated") return SplitBehavior::kIsolated;
  if (b == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (b == "Contiguous") return SplitBehavior::kContiguous;
  fail(ErrorKind::kConfig, "{}: unknown Split behavior \"{}\"", where, b);
}

void parse_into(const json& j, const std::string& where, std::vector<PreTokStep>& out) {
  if (j.is_null()) return;
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string())
    fail(ErrorKind::kConfig, "{}: pre_tokenizer must be an object with a string \"type\"", where);
  const std::string type = j["type"];
  PreTokStep s{};
  if (type == "Sequence") {
    if (!j.contains("pretokenizers") || !j["pretokenizers"].is_array())
      fail(ErrorKind::kConfig, "{}: pre_tokenizer Sequence needs a \"pretokenizers\" array", where);
    for (const auto& p : j["pretokenizers"]) parse_into(p, where, out);
    return;
  } else if (type == "Split") {
    const json& pat = j.contains("pattern") ? j["pattern"] : json();
    if (pat.is_object() && pat.contains("Regex") && pat["Regex"].is_string()) {
      s.kind = PreTokStep::Kind::kSplitRegex;
      s.regex = std::make_shared<Regex>(pat["Regex"].get<std::string>(), where + ": pre_tokenizer Split");
    } else if (pat.is_object() && pat.contains("String") && pat["String"].is_string()) {
      s.kind = PreTokStep::Kind::kSplitLiteral;
      s.literal = pat["String"].get<std::string>();
    } else {
      fail(ErrorKind::kConfig, "{}: pre_tokenizer Split needs \"pattern\": {{\"Regex\"|\"String\": ...}}", where);
    }
    s.behavior = parse_behavior(j, where);
    s.invert = get_bool(j, "invert", false, where);
  } else if (type == "ByteLevel") {
    s.kind = PreTokStep::Kind::kByteLevel;
    s.add_prefix_space = get_bool(j, "add_prefix_space", true, where);
    if (get_bool(j, "use_regex", true, where))
      s.regex = std::make_shared<Regex>(kByteLevelPattern, where + ": ByteLevel");
  } else if (type == "Digits") {
    s.kind = PreTokStep::Kind::kDigits;
    s.individual_digits = get_bool(j, "individual_digits", false, where);
  } else {
    fail(ErrorKind::kUnsupported,
         "{}: pre_tokenizer type \"{}\" is not supported (Sequence, Split, ByteLevel, Digits)", where, type);
  }
  out.push_back(std::move(s));
}

// Matches of a step as segments covering `t` left to right (the reference's find_matches).
void find_segments(const PreTokStep& s, std::string_view t, std::vector<Seg>& segs,
                   std::vector<std::pair<size_t, size_t>>& scratch) {
  scratch.clear();
  if (s.kind == PreTokStep::Kind::kSplitRegex || s.kind == PreTokStep::Kind::kByteLevel) {
    s.regex->find_all(t, scratch);
  } else if (s.kind == PreTokStep::Kind::kSplitLiteral) {
    if (!s.literal.empty())
      for (size_t p = t.find(s.literal); p != std::string_view::npos; p = t.find(s.literal, p + s.literal.size()))
        scratch.emplace_back(p, p + s.literal.size());
  } else {  // Digits: every numeric character is one match
    const auto* p = reinterpret_cast<const uint8_t*>(t.data());
    for (size_t i = 0; i < t.size();) {
      int bad = 0;
      const int len = utf8_char_len(p + i, t.size() - i, &bad);
      if (len > 0 && is_numeric(utf8_decode(p + i, len))) scratch.emplace_back(i, i + size_t(len));
      i += size_t(len > 0 ? len : bad);
    }
  }
  segs.clear();
  size_t prev = 0;
  for (auto [b, e] : scratch) {
    if (b != prev) segs.push_back({prev, b, false});
    segs.push_back({b, e, true});
    prev = e;
  }
  if (prev != t.size()) segs.push_back({prev, t.size(), false});
}

// Applies a SplitDelimiterBehavior to the segments, as the reference's NormalizedString::split.
void apply_behavior(SplitBehavior beh, bool invert, std::vector<Seg>& segs) {
  if (invert)
    for (auto& s : segs) s.match = !s.match;
  std::vector<Seg> r;
  r.reserve(segs.size());
  bool prev_match = false;
  switch (beh) {
    case SplitBehavior::kIsolated: return;
    case SplitBehavior::kRemoved:
      for (const auto& s : segs)
        if (!s.match) r.push_back(s);
      break;
    case SplitBehavior::kMergedWithPrevious:
      for (const auto& s : segs) {
        if (s.match && !prev_match && !r.empty()) r.back().e = s.e;
        else r.push_back({s.b, s.e, false});
        prev_match = s.match;
      }
      break;
    case SplitBehavior::kMergedWithNext:
      for (size_t i = segs.size(); i-- > 0;) {
        const Seg& s = segs[i];
        if (s.match && !prev_match && !r.empty()) r.back().b = s.b;
        else r.push_back({s.b, s.e, false});
        prev_match = s.match;
      }
      std::reverse(r.begin(), r.end());
      break;
    case SplitBehavior::kContiguous:
      for (const auto& s : segs) {
        if (s.match == prev_match && !r.empty()) r.back().e = s.e;
        else r.push_back({s.b, s.e, false});
        prev_match = s.match;
      }
      break;
  }
  segs.swap(r);
}

}  // namespace

PreTokenizer PreTokenizer::from_json(const json& j, const std::string& where) {
  PreTokenizer p;
  parse_into(j, where, p.steps_);
  for (size_t i = 0; i < p.steps_.size(); ++i) {
    if (p.steps_[i].kind != PreTokStep::Kind::kByteLevel) continue;
    // After the alphabet mapping a later step would see mapped characters; no known file does it.
    if (i + 1 != p.steps_.size())
      fail(ErrorKind::kUnsupported, "{}: a pre_tokenizer step after ByteLevel is not supported", where);
    p.byte_level_ = true;
  }
  return p;
}

void PreTokenizer::run_steps(std::string_view valid, std::vector<std::string_view>& out,
                             std::deque<std::string>& storage) const {
  std::vector<std::string_view> cur{valid}, next;
  std::vector<Seg> segs;
  std::vector<std::pair<size_t, size_t>> scratch;
  for (const PreTokStep& s : steps_) {
    next.clear();
    for (std::string_view piece : cur) {
      if (s.kind == PreTokStep::Kind::kByteLevel && s.add_prefix_space && (piece.empty() || piece[0] != ' ')) {
        storage.emplace_back(1, ' ');  // append, not " " + s: GCC 12 -Wrestrict false positive
        storage.back().append(piece);
        piece = storage.back();
      }
      if (s.kind == PreTokStep::Kind::kByteLevel && !s.regex) {
        if (!piece.empty()) next.push_back(piece);
        continue;
      }
      find_segments(s, piece, segs, scratch);
      if (s.kind != PreTokStep::Kind::kByteLevel) apply_behavior(s.behavior, s.invert, segs);
      for (const Seg& g : segs)
        if (g.e > g.b) next.push_back(piece.substr(g.b, g.e - g.b));
    }
    cur.swap(next);
  }
  for (auto p : cur)
    if (!p.empty()) out.push_back(p);
}

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>& out,
                         std::deque<std::string>& storage) const {
  const auto* p = reinterpret_cast<const uint8_t*>(text.data());
  size_t i = 0, run = 0;
  while (i < text.size()) {
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    int bad = 0;
    const int len = utf8_char_len(p + i, text.size() - i, &bad);
    if (len > 0) {
      i += size_t(len);
      continue;
    }
    if (i > run) run_steps(text.substr(run, i - run), out, storage);
    out.push_back(text.substr(i, size_t(bad)));
    i += size_t(bad);
    run = i;
  }
  if (i > run || text.empty()) run_steps(text.substr(run, i - run), out, storage);
}

}  // namespace frugal::tok
