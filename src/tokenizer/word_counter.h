// Word counting for BPE training: text is split by the DeepSeek-V3 pre-tokenizer (the same code and
// the same regexes that encoding uses, so training and encoding split identically) and each piece
// is counted. Files are streamed in line-aligned chunks on several threads, so memory is bounded by
// the number of distinct words, not by the corpus size.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/pretokenizer.h"

namespace frugal::tok {

// The "pre_tokenizer" section of DeepSeek-V3's tokenizer.json, verbatim (JSON text).
extern const char* const kDeepSeekV3PreTokenizerJson;
// That pre-tokenizer, built by the loader's own code.
PreTokenizer deepseek_v3_pre_tokenizer();

// How a trained tokenizer splits runs of digits before BPE: in groups of up to three as DeepSeek-V3
// does (`\p{N}{1,3}`), or one digit per piece as Qwen's and LLaMA's tokenizers do. Individual
// digits keep every number a sequence of digit tokens, which a small model can learn to do
// arithmetic on; grouped digits make each of 1000 three-digit chunks its own symbol.
enum class DigitSplit { kGrouped, kIndividual };
// DeepSeek-V3's pre_tokenizer JSON with the digit rule chosen (kGrouped gives it unchanged).
std::string training_pre_tokenizer_json(DigitSplit digits);

struct WordCounts {
  std::unordered_map<std::string, int64_t> counts;  // pre-token piece (raw bytes) -> occurrences
  int64_t bytes = 0;                                // input bytes read
  int64_t words = 0;                                // pieces counted
};

struct CountOptions {
  int threads = 0;          // 0 = all cores
  bool progress = false;    // a Progress line on stderr (MB read, MB/s, ETA)
  size_t chunk_bytes = 1 << 20;  // per-thread chunk, cut after a newline where there is one
};

// Adds the pieces of `text` to `wc` (single thread; for tests and small inputs).
void count_words(const PreTokenizer& pt, std::string_view text, WordCounts& wc);
// Streams `files`; throws kIo naming a file that cannot be opened or read (all are checked first).
WordCounts count_words_in_files(const PreTokenizer& pt, const std::vector<std::string>& files,
                                const CountOptions& opt);

}  // namespace frugal::tok
