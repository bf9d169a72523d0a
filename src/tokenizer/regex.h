// Oniguruma regexes, compiled the way Hugging Face `tokenizers` compiles its Split patterns
// (UTF-8, default syntax, no options), so \p{..} classes, lookaheads and possessive forms match
// exactly what the reference matches.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace frugal::tok {

class Regex {
 public:
  // Throws kConfig naming `where` when the pattern does not compile.
  Regex(const std::string& pattern, const std::string& where);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Non-empty matches left to right as [begin, end) byte offsets into `text` (valid UTF-8). The
  // text is the whole subject: lookaheads do not see past its end, as in the reference.
  void find_all(std::string_view text, std::vector<std::pair<size_t, size_t>>& out) const;

 private:
  void* reg_ = nullptr;  // regex_t*, opaque to keep oniguruma.h out of our headers
};

}  // namespace frugal::tok
