// Pretraining data for run_training: fixed-length sequences cut from a token file or a prepared
// data directory (data/batch_loader.h), with its validation split (or an explicit validation file).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "data/batch_loader.h"
#include "data/token_source.h"
#include "train/train_config.h"
#include "train/train_data.h"

namespace frugal {

class PretrainData : public TrainData {
 public:
  // Opens data.tokens (required: kConfig otherwise) and the validation source: data.val_tokens, or
  // the tokens' own val split when it has one.
  explicit PretrainData(const TrainConfig& c);

  void next(MicroBatch& mb) override;
  nlohmann::json state() const override { return loader_.state(); }
  void restore(const nlohmann::json& state) override { loader_.restore(state); }
  int64_t rows_seen() const override { return loader_.rows_seen(); }
  std::vector<MicroBatch> validation(int64_t max_batches) const override;
  int32_t max_id() const override { return train_.max_id(); }
  std::string path() const override { return train_.path(); }
  std::string describe() const override;

  const data::TokenSource& train_source() const { return train_; }
  // Unigram entropy (nats) of the training tokens: the loss of the best context-free predictor; a
  // model that learns anything must go below it.
  double unigram_entropy() const { return unigram_entropy_; }

 private:
  data::TokenSource train_;
  std::optional<data::TokenSource> val_;
  int64_t batch_, seq_len_;
  data::BatchLoader loader_;
  double unigram_entropy_ = 0;
};

}  // namespace frugal
