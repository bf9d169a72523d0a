// Pre-tokenizers of tokenizer.json: Sequence, Split (regex or literal; Removed, Isolated,
// MergedWithPrevious, MergedWithNext, Contiguous; invert), ByteLevel (add_prefix_space, use_regex)
// and Digits. Each step splits every piece of the previous step, so a regex never sees past its
// piece. Pieces are raw bytes: the ByteLevel alphabet mapping is left to the BPE model, which looks
// bytes up directly.
#pragma once
#include <algorithm>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "tokenizer/regex.h"

namespace frugal::tok {

enum class SplitBehavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

struct PreTokStep {
  enum class Kind { kSplitRegex, kSplitLiteral, kByteLevel, kDigits } kind;
  std::shared_ptr<Regex> regex;  // kSplitRegex, and kByteLevel with use_regex
  std::string literal;           // kSplitLiteral
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
  bool add_prefix_space = false;  // kByteLevel
  bool individual_digits = false;  // kDigits
};

class PreTokenizer {
 public:
  // `j` is the "pre_tokenizer" value (may be null); throws kUnsupported/kConfig naming `where`.
  static PreTokenizer from_json(const nlohmann::json& j, const std::string& where);

  // Splits `text` (any bytes) into pieces. Maximal invalid UTF-8 subsequences become pieces of
  // their own that skip the steps, so byte-level models encode them losslessly. Views point into
  // `text` or into `storage`.
  void split(std::string_view text, std::vector<std::string_view>& out, std::deque<std::string>& storage) const;

  // True when a ByteLevel step maps bytes to the GPT-2 alphabet (the BPE then works on bytes).
  bool byte_level() const { return byte_level_; }
  // True when a step removes text (a Split with behavior Removed): the pieces may hold fewer
  // bytes than the text.
  bool drops_text() const {
    return std::any_of(steps_.begin(), steps_.end(), [](const PreTokStep& s) {
      return (s.kind == PreTokStep::Kind::kSplitRegex || s.kind == PreTokStep::Kind::kSplitLiteral) &&
             s.behavior == SplitBehavior::kRemoved;
    });
  }

 private:
  void run_steps(std::string_view valid, std::vector<std::string_view>& out, std::deque<std::string>& storage) const;
  std::vector<PreTokStep> steps_;
  bool byte_level_ = false;
};

}  // namespace frugal::tok
