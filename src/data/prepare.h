// `frugal data prepare`: text / JSONL files -> token shards + index.json (see shard_format.h,
// dataset_index.h). Documents are tokenized without special tokens, each followed by the
// tokenizer's EOS, and packed back to back without padding; a shard holds exactly shard_tokens
// ids (the last of a split fewer), so a document may continue into the next shard.
//
// Validation split: document d (counted over all inputs in order, empty documents skipped) goes to
// val when hash(seed, d) / 2^64 < val_fraction, so the split is reproducible and independent of
// shard size and threads. With val_fraction > 0 and at least 2 documents there is at least one
// val document and one train document (the last document is moved if needed); a single document
// always trains.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset_index.h"
#include "data/documents.h"
#include "tokenizer/tokenizer.h"

namespace frugal::data {

struct PrepareOptions {
  std::string tokenizer;  // tokenizer.json, a .gz of it, or a directory holding one
  std::vector<std::string> inputs;
  std::string out_dir;    // created if missing; old shards there are replaced
  DocumentOptions documents;
  std::optional<std::string> eos_token;  // overrides the tokenizer's own EOS
  double val_fraction = 0.01;
  int64_t shard_tokens = 100'000'000;    // 200 MB uint16 shards
  uint64_t seed = 0;
  int threads = 2;                       // tokenizer threads
  bool progress = true;                  // progress line on stderr
};

struct PrepareStats {
  int64_t documents = 0, empty_documents = 0, input_bytes = 0;
  SplitTotals train, val;
  int64_t vocab_size = 0;
  int32_t eos_id = -1;
  double seconds = 0;
  double tokens_per_second() const { return seconds > 0 ? double(train.tokens + val.tokens) / seconds : 0; }
};

// Throws frugal::Error naming the file at fault: a missing input, a malformed JSONL line
// (file:line), a binary text input, no documents at all, a tokenizer without EOS, bad options.
PrepareStats prepare_data(const PrepareOptions& opt);

struct EosToken {
  int32_t id = -1;
  std::string token;
};
// The end-of-document token: `override` if given; else tokenizer_config.json's eos_token next to
// the tokenizer; else the first special token present among the common end-of-text names
// (<｜end▁of▁sentence｜>, <|end_of_text|>, <|endoftext|>, </s>, <eos>). Throws kConfig naming the
// tokenizer when none is found.
EosToken find_eos_token(const Tokenizer& tok, const std::string& tokenizer_path,
                        const std::optional<std::string>& override_token);

// The split rule above, before the at-least-one-of-each fix-up.
bool is_val_document(int64_t doc_index, uint64_t seed, double val_fraction);

}  // namespace frugal::data
