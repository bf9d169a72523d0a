// SFT examples packed into fixed-length rows for run_training (docs/posttrain.md, SFT, Packing):
// a TrainData whose micro-batches carry per-token positions, so no example attends to another
// (model/mla_train.h) and each restarts at position 0, as it would alone.
//
// Dims: B rows per micro-batch, T tokens per row. Examples are taken whole, in a per-epoch order
// (data::epoch_permutation, seeded by (seed, epoch); file order without shuffle), and placed one
// after another in a row while they fit; the rest of the row is padding (the pad id, no target, a
// document of its own). An example longer than T keeps its first T tokens (counted as truncated).
// Within an example of n tokens at row offset o, input o+j is token j, its position j, and its
// target token j+1 when that token is trained (an assistant token), else none; the example's last
// token has none. Examples with soft targets (all or none) carry them into the micro-batch
// (MicroBatch::soft_k). An example whose trained tokens all lie beyond T would only cost compute and is
// dropped (counted); when that leaves none, the error says to raise data.seq_len. The position in the stream (epoch, next example, rows served) is the whole state.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "posttrain/sft_data.h"
#include "train/train_data.h"

namespace frugal {

struct SftPackStats {
  int64_t rows = 0;       // rows one pass over the examples fills
  int64_t tokens = 0;     // example tokens placed (after truncation)
  int64_t truncated = 0;  // examples longer than T
  int64_t dropped = 0;    // examples with no trained token within their first T (nothing to learn)
};

class SftPacker : public TrainData {
 public:
  // Throws kInvalidArgument for no examples (or none with a trained token within T), B < 1, T < 2,
  // or a negative pad id.
  SftPacker(std::vector<SftExample> train, std::vector<SftExample> val, int64_t batch, int64_t seq_len, uint64_t seed,
            bool shuffle, int32_t pad_id, std::string path, std::string summary);

  void next(MicroBatch& mb) override;
  nlohmann::json state() const override;
  void restore(const nlohmann::json& state) override;
  int64_t rows_seen() const override { return rows_seen_; }
  std::vector<MicroBatch> validation(int64_t max_batches) const override;
  int32_t max_id() const override { return max_id_; }
  std::string path() const override { return path_; }
  std::string describe() const override;

  const SftPackStats& stats() const { return stats_; }  // of one pass over the training examples

 private:
  const SftExample& example_at(int64_t epoch, int64_t index) const;
  // Fills row r of mb from the stream at (epoch_, index_), advancing it.
  void fill_row(MicroBatch& mb, int64_t r);

  std::vector<SftExample> train_, val_;
  int64_t batch_, seq_len_;
  uint64_t seed_;
  bool shuffle_;
  int32_t pad_id_, max_id_ = -1;
  int64_t soft_k_ = 0;  // soft targets per position (logit distillation); 0: none
  std::string path_, summary_;
  uint64_t fingerprint_ = 0;
  SftPackStats stats_;
  int64_t epoch_ = 0, index_ = 0, rows_seen_ = 0;
  mutable int64_t perm_epoch_ = -1;
  mutable std::vector<int64_t> perm_;
};

}  // namespace frugal
