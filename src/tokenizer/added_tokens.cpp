#include "tokenizer/added_tokens.h"

#include <algorithm>

#include "tokenizer/utf8.h"

namespace frugal::tok {
namespace {

// The code point that ends s[0, end) (s is valid UTF-8 around it), or -1 at the start.
int64_t last_char(std::string_view s, size_t end) {
  if (end == 0) return -1;
  size_t b = end - 1;
  while (b > 0 && (uint8_t(s[b]) & 0xC0) == 0x80) --b;
  int bad = 0;
  const int len = utf8_char_len(reinterpret_cast<const uint8_t*>(s.data()) + b, end - b, &bad);
  return len > 0 ? int64_t(utf8_decode(reinterpret_cast<const uint8_t*>(s.data()) + b, len)) : -1;
}

// The code point that starts s[begin, ..), -1 at the end; *len receives its byte length.
int64_t first_char(std::string_view s, size_t begin, int* len) {
  *len = 0;
  if (begin >= s.size()) return -1;
  int bad = 0;
  const int l = utf8_char_len(reinterpret_cast<const uint8_t*>(s.data()) + begin, s.size() - begin, &bad);
  if (l == 0) return -1;
  *len = l;
  return utf8_decode(reinterpret_cast<const uint8_t*>(s.data()) + begin, l);
}

// Leftmost-longest splitting; `find(rest)` is the longest token that is a prefix of `rest`.
template <typename Find>
void split_with(std::string_view text, std::vector<Segment>& out, Find find) {
  size_t emitted = 0;  // end of the last accepted token (the reference's start_offset)
  size_t pos = 0;
  while (pos < text.size()) {
    const AddedToken* hit = find(text.substr(pos));
    if (!hit) {
      ++pos;
      continue;
    }
    size_t start = pos, stop = pos + hit->content.size();
    pos = stop;  // a rejected match still consumes its span, as in the reference's match iterator
    if (hit->single_word) {
      const int64_t before = last_char(text, start);
      int l = 0;
      const int64_t after = first_char(text, stop, &l);
      const bool word_before = before >= 0 && is_alphanumeric(uint32_t(before));
      const bool word_after = after >= 0 && is_alphanumeric(uint32_t(after));
      if (word_before || word_after) continue;
    }
    if (hit->lstrip) {
      while (start > emitted) {
        const int64_t c = last_char(text, start);
        if (c < 0 || !is_whitespace(uint32_t(c))) break;
        size_t b = start - 1;
        while (b > 0 && (uint8_t(text[b]) & 0xC0) == 0x80) --b;
        start = std::max(b, emitted);
      }
    }
    if (hit->rstrip) {
      for (;;) {
        int l = 0;
        const int64_t c = first_char(text, stop, &l);
        if (c < 0 || !is_whitespace(uint32_t(c))) break;
        stop += size_t(l);
      }
      pos = stop;
    }
    if (start > emitted) out.push_back({-1, text.substr(emitted, start - emitted)});
    out.push_back({hit->id, text.substr(start, stop - start)});
    emitted = stop;
  }
  if (emitted < text.size()) out.push_back({-1, text.substr(emitted)});
}

}  // namespace

void AddedTokenMatcher::build(const std::vector<const AddedToken*>& tokens) {
  tokens_.clear();
  trie_ = PrefixTrie();
  for (const AddedToken* t : tokens) {
    if (t->content.empty()) continue;
    trie_.add(t->content, int32_t(tokens_.size()));
    tokens_.push_back(t);
  }
}

void AddedTokenMatcher::split(std::string_view text, std::vector<Segment>& out) const {
  if (tokens_.empty()) {
    if (!text.empty()) out.push_back({-1, text});
    return;
  }
  split_with(text, out, [this](std::string_view rest) -> const AddedToken* {
    const PrefixTrie::Match m = trie_.longest_prefix(rest);
    return m.value < 0 ? nullptr : tokens_[size_t(m.value)];
  });
}

void AddedTokenMatcher::split_reference(std::string_view text, std::vector<Segment>& out) const {
  split_with(text, out, [this](std::string_view rest) -> const AddedToken* {
    const AddedToken* best = nullptr;
    for (const AddedToken* t : tokens_)
      if (rest.starts_with(t->content) && (!best || t->content.size() > best->content.size())) best = t;
    return best;
  });
}

}  // namespace frugal::tok
