// Batches of fixed-length training sequences from a TokenSource, deterministic and resumable.
//
// Dimensions: B = batch rows, T = sequence length (tokens the model sees per row), N = tokens in
// the source. The packed stream is cut into n_seq = floor(N / (T+1)) sequences; sequence j is
// ids [j(T+1), (j+1)(T+1)), so a row's inputs are its first T ids and its targets the last T
// (inputs and targets overlap by one; the N mod (T+1) ids at the end are never read).
//
// Rows are numbered globally k = s·B + b (step s, row b). Row k reads sequence order(k) where
// epoch = k / n_seq and i = k mod n_seq:
//   no shuffle:  order(k) = i                      (step s row b reads sequence s·B + b, wrapping)
//   shuffle:     order(k) = perm_epoch[i]          (a Fisher-Yates permutation of [0, n_seq)
//                                                   seeded by (seed, epoch) with core/rng.h)
// so every epoch visits every sequence exactly once, a batch may straddle two epochs, and the
// order depends only on (seed, epoch), never on threads. The whole position is the count of rows
// served: state() exports it (with what is needed to check a resume reads the same data the same
// way) as JSON for the checkpoint, and restore() continues exactly where it stopped.
#pragma once
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/token_source.h"

namespace frugal::data {

inline constexpr char kLoaderStateFormat[] = "frugal.batch_loader";
inline constexpr int kLoaderStateVersion = 1;

class BatchLoader {
 public:
  // Throws kInvalidArgument naming the source and the sizes when B < 1, T < 1, or the source holds
  // fewer than B sequences of T+1 tokens (an empty or tiny corpus, one smaller than one batch).
  BatchLoader(TokenSource source, int64_t batch, int64_t seq_len, uint64_t seed, bool shuffle);

  // inputs[B, T], targets[B, T]: row b holds sequence order(k) for k = rows_seen() + b;
  // targets[b, t] = inputs[b, t+1] within the sequence's T+1 ids. Advances one step.
  void next(int32_t* inputs, int32_t* targets);

  int64_t batch() const { return batch_; }
  int64_t seq_len() const { return seq_len_; }
  bool shuffle() const { return shuffle_; }
  uint64_t seed() const { return seed_; }
  int64_t n_sequences() const { return n_seq_; }
  int64_t steps_per_epoch() const { return n_seq_ / batch_; }  // whole steps; the last may straddle
  int64_t rows_seen() const { return rows_seen_; }              // sequences served so far
  int64_t tokens_seen() const { return rows_seen_ * seq_len_; } // input tokens served so far
  int64_t epoch() const { return rows_seen_ / n_seq_; }
  int64_t index_in_epoch() const { return rows_seen_ % n_seq_; }
  const TokenSource& source() const { return source_; }

  // Which sequence global row k reads (the formula above).
  int64_t sequence_for_row(int64_t k) const;

  // {"format", "version", "rows_seen", "tokens_seen", "epoch", "index", "seed", "shuffle", "batch",
  //  "seq_len", "n_sequences", "tokens", "fingerprint", "source"}
  nlohmann::json state() const;
  // Continues from a state() of a loader over the same corpus with the same B, T, seed and shuffle;
  // anything else is kInvalidArgument saying which field differs (checkpoint value vs this run's).
  void restore(const nlohmann::json& state);

 private:
  TokenSource source_;
  int64_t batch_, seq_len_, n_seq_;
  uint64_t seed_;
  bool shuffle_;
  int64_t rows_seen_ = 0;
  mutable int64_t perm_epoch_ = -1;      // epoch whose permutation perm_ holds
  mutable std::vector<int64_t> perm_;   // (n_seq) shuffle order of that epoch
  std::vector<int32_t> row_;            // (T+1) scratch
};

// The permutation of [0, n) used for `epoch` of `seed` (exposed for tests).
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch);

// Evaluation batches: every sequence of a source (its val split) in order, never shuffled, the
// same on every call. Batch i holds sequences [i·B, min((i+1)·B, n_seq)); only the last may be
// short. For a fixed evaluation budget use batches 0 .. min(k, n_batches()) - 1, or
// full_batches() when the forward needs exactly B rows.
class EvalLoader {
 public:
  // Throws kInvalidArgument naming the source when it holds no sequence of T+1 tokens.
  EvalLoader(TokenSource source, int64_t batch, int64_t seq_len);

  int64_t batch() const { return batch_; }
  int64_t seq_len() const { return seq_len_; }
  int64_t n_sequences() const { return n_seq_; }
  int64_t n_batches() const { return (n_seq_ + batch_ - 1) / batch_; }
  int64_t full_batches() const { return n_seq_ / batch_; }
  const TokenSource& source() const { return source_; }

  // Fills inputs[rows, T], targets[rows, T] for batch i (0 <= i < n_batches()); returns rows.
  int64_t get(int64_t i, int32_t* inputs, int32_t* targets) const;

 private:
  TokenSource source_;
  int64_t batch_, seq_len_, n_seq_;
};

}  // namespace frugal::data
