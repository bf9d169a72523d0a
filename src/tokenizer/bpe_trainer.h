// Training a byte-level BPE tokenizer in the DeepSeek-V3 format (`frugal tokenizer train`).
//
// Words are counted with the DeepSeek-V3 pre-tokenizer (word_counter.h). The initial alphabet is
// the 256 bytes (id = byte value), so every byte string is representable and every input
// round-trips exactly. Training repeatedly merges the most frequent adjacent pair of symbols within
// words, with an incremental index (pair -> count, pair -> ids of the words holding it) and a
// max-heap with lazy invalidation, so each merge only touches the words that contain its pair.
// Ties between pairs of equal count are broken deterministically: the pair whose left token's
// bytes are lexicographically smallest wins, then the right token's bytes. Words are ordered by
// their bytes before training, so the output does not depend on thread count or hash order.
// Training stops at the vocabulary size or when no pair occurs min_frequency times.
// Pieces longer than max_word_bytes are not used for merges (they still encode fine).
//
// The vocabulary is: 256 byte tokens, then one token per merge whose result is new, then the
// DeepSeek special tokens as added tokens (special: true) right after the BPE vocabulary.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/word_counter.h"

namespace frugal::tok {

struct BpeTrainOptions {
  int64_t vocab_size = 32000;  // everything: bytes + merges + special tokens
  int64_t min_frequency = 2;   // a pair must occur at least this often to be merged
  size_t max_word_bytes = 512;
  int threads = 0;             // word counting threads (0 = all cores)
  bool progress = false;       // progress lines on stderr
  DigitSplit digits = DigitSplit::kGrouped;  // the pre-tokenizer's digit rule (word_counter.h)
};

// The special tokens of the trained vocabulary, in id order (BOS first, EOS second).
const std::vector<std::string>& deepseek_special_tokens();

struct TrainedBpe {
  std::vector<std::string> tokens;                   // raw bytes of each BPE token, by id
  std::vector<std::pair<int32_t, int32_t>> merges;   // in rank order
  std::vector<std::string> specials;                 // ids tokens.size(), tokens.size() + 1, ...
  int64_t vocab_size() const { return int64_t(tokens.size() + specials.size()); }
};

// Throws kInvalidArgument when vocab_size < 256 + specials, or when `words` holds no word.
TrainedBpe train_bpe(const WordCounts& words, const BpeTrainOptions& opt);

// tokenizer.json (Hugging Face format, DeepSeek-V3 fields) and tokenizer_config.json texts.
std::string trained_tokenizer_json(const TrainedBpe& bpe, DigitSplit digits = DigitSplit::kGrouped);
std::string trained_tokenizer_config_json();

struct TrainStats {
  int64_t bytes = 0, distinct_words = 0, merges = 0, vocab_size = 0;
  double count_seconds = 0, merge_seconds = 0;
};

// The whole command: count `files`, train, write tokenizer.json and tokenizer_config.json into
// `out_dir` (created if missing) atomically. Errors name the file or directory at fault.
TrainStats train_tokenizer_files(const std::vector<std::string>& files, const std::string& out_dir,
                                 const BpeTrainOptions& opt);

}  // namespace frugal::tok
