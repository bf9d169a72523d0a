#include "serve/special_escape.h"

#include <algorithm>

namespace frugal::serve {
namespace {

size_t utf8_char_len(unsigned char c) { return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4; }

// `s` with the marker after its first character (and at least one byte after the marker).
void append_marked(std::string& out, std::string_view s) {
  const size_t first = std::min(utf8_char_len(static_cast<unsigned char>(s[0])), s.size() - 1);
  out.append(s.substr(0, first));
  out.push_back(kSpecialMarker);
  out.append(s.substr(first));
}

}  // namespace

SpecialEscaper::SpecialEscaper(const std::vector<std::string>& specials) {
  for (const std::string& s : specials) {
    if (s.size() < 2) continue;
    trie_.add(s, int32_t(specials_.size()));
    specials_.push_back(s);
  }
}

std::string SpecialEscaper::escape(std::string_view text) const {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const tok::PrefixTrie::Match m = trie_.empty() ? tok::PrefixTrie::Match{} : trie_.longest_prefix(text.substr(i));
    if (m.value < 0) {
      out.push_back(text[i++]);
      continue;
    }
    append_marked(out, specials_[size_t(m.value)]);
    i += m.length;
  }
  return out;
}

std::string escape_specials_ref(std::string_view text, const std::vector<std::string>& specials) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    bool hit = false;
    for (const std::string& s : specials) {
      if (s.size() > 1 && text.substr(i).starts_with(s)) {
        append_marked(out, s);
        i += s.size();
        hit = true;
        break;
      }
    }
    if (!hit) out.push_back(text[i++]);
  }
  return out;
}

}  // namespace frugal::serve
