// Special-token text inside user/system/tool contents is made plain before rendering (see
// openai_messages.cpp for why): each occurrence gets the marker byte 0xFF after its first
// character, and the rendered prompt is encoded piece by piece between markers. The search is a
// longest-prefix trie walk per position, linear in the text: trying every special text at every
// position cost text length x 818 for DeepSeek-V3 (issue 12: 1 MiB of '<' took seconds).
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/prefix_trie.h"

namespace frugal::serve {

constexpr char kSpecialMarker = '\xFF';  // never occurs in UTF-8

class SpecialEscaper {
 public:
  // `specials`: the added tokens' texts (one-byte texts cannot be split and are left alone).
  explicit SpecialEscaper(const std::vector<std::string>& specials);
  std::string escape(std::string_view text) const;

 private:
  std::vector<std::string> specials_;
  tok::PrefixTrie trie_;  // text -> index into specials_
};

// The definition escape() is tested against: at each position, the first of `specials` that
// matches (so `specials` must be sorted longest first, as added_token_strings() gives them).
std::string escape_specials_ref(std::string_view text, const std::vector<std::string>& specials);

}  // namespace frugal::serve
