// Internal state of frugal::Tokenizer, shared by its loading, encoding and decoding files.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/added_tokens.h"
#include "tokenizer/bpe.h"
#include "tokenizer/normalizer.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace frugal {

struct Tokenizer::Impl {
  std::string source;  // file name for messages
  uint64_t instance = 0;  // unique per loaded tokenizer: keys the per-thread word caches
  tok::Normalizer normalizer;
  tok::PreTokenizer pretok;
  tok::BpeModel bpe;
  std::vector<tok::AddedToken> added;
  std::unordered_map<int32_t, size_t> added_by_id;  // id -> index into `added`
  std::unordered_map<std::string, int32_t> added_by_content;
  tok::AddedTokenMatcher raw_matcher, norm_matcher;  // normalized=false / normalized=true tokens
  std::vector<int32_t> prefix_ids, suffix_ids;       // the post-processor's single-sequence template
  enum class Decoder { kNone, kByteLevel } decoder = Decoder::kNone;
  int64_t vocab_size = 0;

  // Pieces of one text segment as the pre-tokenizer produces them (tests compare with `pretok`).
  std::vector<std::string> pre_tokenize(std::string_view text) const;
  // Appends the ids of `text`. With a max_size, stops early (between pre-token pieces) once
  // out.size() would pass it, and returns false.
  bool encode_text(std::string_view text, std::vector<int32_t>& out, size_t max_size = SIZE_MAX) const;
  // The most bytes of a pre-token piece that one token can stand for (0: no bound, with fuse_unk):
  // a piece of n bytes has at least n / max_token_bytes() tokens, known before running BPE on it.
  size_t max_token_bytes() const;
  // The same for the whole text, added tokens included (0: no bound — a normalizer, a
  // pre-tokenizer that removes text or added tokens that strip whitespace break it).
  size_t max_text_bytes_per_token() const;

 private:
  void compute_token_bounds() const;
  mutable std::once_flag token_bounds_once_;
  mutable size_t max_token_bytes_ = 0, max_text_bytes_per_token_ = 0;
};

namespace tok {
// Builds the Impl from the text of a tokenizer.json; errors name `source`.
std::unique_ptr<Tokenizer::Impl> parse_tokenizer_json(std::string_view text, const std::string& source);
// Reads a tokenizer.json (or .gz, or a directory holding one) into memory.
std::string read_tokenizer_file(const std::string& path, std::string* resolved);
}  // namespace tok

}  // namespace frugal
