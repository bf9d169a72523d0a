#include "train/pretrain_data.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/error.h"
#include "core/file.h"

namespace frugal {

namespace {

data::TokenSource open_train(const TrainConfig& c) {
  if (c.data.tokens.empty()) fail(ErrorKind::kConfig, "data.tokens (--tokens) is required: the training tokens");
  return data::TokenSource::open(c.data.tokens);
}

double token_unigram_entropy(const data::TokenSource& src) {
  std::vector<int64_t> count;
  std::vector<int32_t> buf(1 << 16);
  for (int64_t pos = 0; pos < src.size(); pos += int64_t(buf.size())) {
    const int64_t n = std::min<int64_t>(int64_t(buf.size()), src.size() - pos);
    src.read(pos, n, buf.data());
    for (int64_t i = 0; i < n; ++i) {
      if (size_t(buf[size_t(i)]) >= count.size()) count.resize(size_t(buf[size_t(i)]) + 1, 0);
      ++count[size_t(buf[size_t(i)])];
    }
  }
  double h = 0;
  const double total = double(src.size());
  for (int64_t c : count)
    if (c > 0) h -= double(c) / total * std::log(double(c) / total);
  return h;
}

}  // namespace

PretrainData::PretrainData(const TrainConfig& c)
    : train_(open_train(c)),
      batch_(c.train.batch),
      seq_len_(c.data.seq_len),
      loader_(train_, c.train.batch, c.data.seq_len, c.train.seed, c.data.shuffle) {
  // An explicit validation source: a prepared directory's val split, or a whole .bin / .npy file.
  if (!c.data.val_tokens.empty())
    val_ = is_directory(c.data.val_tokens) ? data::TokenSource::open(c.data.val_tokens, data::Split::kVal)
                                           : data::TokenSource::open(c.data.val_tokens);
  else val_ = data::TokenSource::open_val(c.data.tokens);
  unigram_entropy_ = token_unigram_entropy(train_);
}

void PretrainData::next(MicroBatch& mb) {
  mb.B = batch_;
  mb.T = seq_len_;
  mb.inputs.resize(size_t(batch_ * seq_len_));
  mb.targets.resize(size_t(batch_ * seq_len_));
  loader_.next(mb.inputs.data(), mb.targets.data());
}

// A fixed set of batches from the start of the validation source (always the same ones), so
// successive evaluations are comparable.
std::vector<MicroBatch> PretrainData::validation(int64_t max_batches) const {
  std::vector<MicroBatch> out;
  if (!val_) return out;
  const int64_t T = seq_len_;
  const int64_t n_seq = val_->size() / (T + 1);
  const int64_t rows = std::min<int64_t>(n_seq, batch_ * max_batches);
  if (rows <= 0) return out;
  data::BatchLoader loader(*val_, std::min<int64_t>(batch_, rows), T, 0, false);
  for (int64_t r = 0; r + loader.batch() <= rows; r += loader.batch()) {
    MicroBatch mb;
    mb.B = loader.batch();
    mb.T = T;
    mb.inputs.resize(size_t(mb.B * T));
    mb.targets.resize(size_t(mb.B * T));
    loader.next(mb.inputs.data(), mb.targets.data());
    out.push_back(std::move(mb));
  }
  return out;
}

std::string PretrainData::describe() const {
  return fmt::format("{} train tokens (unigram entropy {:.3f} nats)", train_.size(), unigram_entropy_);
}

}  // namespace frugal
