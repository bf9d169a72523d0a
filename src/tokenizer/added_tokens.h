// Added tokens ("added_tokens" of tokenizer.json): found in the text before pre-tokenization,
// leftmost-longest, with the single_word, lstrip and rstrip rules of the reference. Tokens with
// normalized=false are matched in the raw text, the others in the normalized text.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/prefix_trie.h"

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
  // Linear in the text's length: each position costs at most the longest token's length.
  void split(std::string_view text, std::vector<Segment>& out) const;
  // The same with the obvious search (every token tried at every position): the definition
  // split() is tested against.
  void split_reference(std::string_view text, std::vector<Segment>& out) const;

 private:
  PrefixTrie trie_;  // content -> index into tokens_ (the first of equal contents)
  std::vector<const AddedToken*> tokens_;
};

}  // namespace frugal::tok
