// Added tokens ("added_tokens" of tokenizer.json): found in the text before pre-tokenization,
// leftmost-longest, with the single_word, lstrip and rstrip rules of the reference. Tokens with
// normalized=false are matched in the raw text, the others in the normalized text.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace frugal::tok {

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool special = false, lstrip = false, rstrip = false, normalized = false, single_word = false;
};

// A piece of text after splitting on added tokens: either an added token's id or plain text.
struct Segment {
  int32_t id;  // -1 for text
  std::string_view text;
};

class AddedTokenMatcher {
 public:
  void build(const std::vector<const AddedToken*>& tokens);
  bool empty() const { return tokens_.empty(); }
  // Appends the segments of `text` (views into it); stripped whitespace belongs to the token.
  void split(std::string_view text, std::vector<Segment>& out) const;

 private:
  // Candidates by first byte, longest first, so the first hit at a position is the longest.
  std::array<std::vector<const AddedToken*>, 256> by_first_{};
  std::vector<const AddedToken*> tokens_;
};

}  // namespace frugal::tok
