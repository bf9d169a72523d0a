#include "posttrain/sft_packer.h"

#include <algorithm>

#include <fmt/format.h>

#include "core/error.h"
#include "core/rng.h"
#include "data/batch_loader.h"

namespace frugal {

namespace {

inline constexpr char kPackerStateFormat[] = "frugal.sft_packer";

// Places `ex` (its first n tokens) at offset o of row r: inputs, positions, targets of trained
// tokens, and the soft targets of those when the micro-batch has them.
void place(const SftExample& ex, int64_t n, MicroBatch& mb, int64_t r, int64_t o) {
  const int64_t base = r * mb.T + o, k = mb.soft_k;
  for (int64_t j = 0; j < n; ++j) {
    mb.inputs[size_t(base + j)] = ex.tokens[size_t(j)];
    mb.positions[size_t(base + j)] = int32_t(j);
    mb.targets[size_t(base + j)] = j + 1 < n && ex.trained[size_t(j + 1)] ? ex.tokens[size_t(j + 1)] : -1;
  }
  if (k > 0) {
    std::copy_n(ex.soft_ids.begin(), n * k, mb.soft_ids.begin() + base * k);
    std::copy_n(ex.soft_q.begin(), n * k, mb.soft_q.begin() + base * k);
  }
}

void pad(MicroBatch& mb, int64_t r, int64_t o, int32_t pad_id) {
  for (int64_t j = 0; o + j < mb.T; ++j) {
    const size_t i = size_t(r * mb.T + o + j);
    mb.inputs[i] = pad_id;
    mb.positions[i] = int32_t(j);
    mb.targets[i] = -1;
  }
}

void shape(MicroBatch& mb, int64_t B, int64_t T, int64_t soft_k) {
  mb.B = B;
  mb.T = T;
  mb.inputs.assign(size_t(B * T), 0);
  mb.targets.assign(size_t(B * T), -1);
  mb.positions.assign(size_t(B * T), 0);
  mb.weights.clear();
  mb.soft_k = soft_k;
  mb.soft_ids.assign(size_t(B * T * soft_k), 0);
  mb.soft_q.assign(size_t(B * T * soft_k), 0.0f);
}

// Greedy rows over `order` (examples taken whole while they fit): how many rows one pass fills.
template <typename Len>
SftPackStats pass_stats(int64_t n, int64_t T, Len len) {
  SftPackStats s;
  int64_t used = T;  // the current row is full: the first example opens a row
  for (int64_t i = 0; i < n; ++i) {
    const int64_t l = len(i);
    s.truncated += l > T;
    const int64_t m = std::min(l, T);
    s.tokens += m;
    if (used + m > T) {
      ++s.rows;
      used = 0;
    }
    used += m;
  }
  return s;
}

}  // namespace

SftPacker::SftPacker(std::vector<SftExample> train, std::vector<SftExample> val, int64_t batch, int64_t seq_len,
                     uint64_t seed, bool shuffle, int32_t pad_id, std::string path, std::string summary)
    : train_(std::move(train)),
      val_(std::move(val)),
      batch_(batch),
      seq_len_(seq_len),
      seed_(seed),
      shuffle_(shuffle),
      pad_id_(pad_id),
      path_(std::move(path)),
      summary_(std::move(summary)) {
  if (train_.empty()) fail(ErrorKind::kInvalidArgument, "{}: no SFT examples", path_);
  if (batch_ < 1 || seq_len_ < 2)
    fail(ErrorKind::kInvalidArgument, "SFT packing needs B >= 1 and T >= 2 (B = {}, T = {})", batch_, seq_len_);
  // A target is scored at input j < T - 1 for token j + 1, so only trained tokens 1 .. T-1 count.
  auto learns = [&](const SftExample& e) {
    for (size_t j = 1; j < e.tokens.size() && int64_t(j) < seq_len_; ++j)
      if (e.trained[j]) return true;
    return false;
  };
  const size_t before = train_.size();
  std::erase_if(train_, [&](const SftExample& e) { return !learns(e); });
  std::erase_if(val_, [&](const SftExample& e) { return !learns(e); });
  const int64_t dropped = int64_t(before - train_.size());
  if (train_.empty())
    fail(ErrorKind::kInvalidArgument,
         "{}: no example has an assistant token within its first data.seq_len = {} tokens; raise --seq-len", path_,
         seq_len_);
  if (pad_id_ < 0) fail(ErrorKind::kInvalidArgument, "SFT pad id {} is negative", pad_id_);
  max_id_ = pad_id_;
  soft_k_ = train_[0].tokens.empty() ? 0 : int64_t(train_[0].soft_ids.size() / train_[0].tokens.size());
  for (const auto* set : {&train_, &val_})
    for (const SftExample& e : *set) {
      FRUGAL_ASSERT(e.tokens.size() == e.trained.size(), "SFT example of line {}: {} tokens, {} flags", e.line,
                    e.tokens.size(), e.trained.size());
      FRUGAL_ASSERT(e.soft_ids.size() == e.tokens.size() * size_t(soft_k_) && e.soft_q.size() == e.soft_ids.size(),
                    "SFT example of line {}: {} soft targets for {} tokens, k = {}", e.line, e.soft_ids.size(),
                    e.tokens.size(), soft_k_);
      for (int32_t t : e.tokens) max_id_ = std::max(max_id_, t);
    }
  fingerprint_ = sft_examples_fingerprint(train_);
  stats_ = pass_stats(int64_t(train_.size()), seq_len_, [&](int64_t i) { return int64_t(train_[size_t(i)].tokens.size()); });
  stats_.dropped = dropped;
}

const SftExample& SftPacker::example_at(int64_t epoch, int64_t index) const {
  if (!shuffle_) return train_[size_t(index)];
  if (perm_epoch_ != epoch) {
    perm_ = data::epoch_permutation(int64_t(train_.size()), seed_, epoch);
    perm_epoch_ = epoch;
  }
  return train_[size_t(perm_[size_t(index)])];
}

void SftPacker::fill_row(MicroBatch& mb, int64_t r) {
  int64_t o = 0;
  for (;;) {
    const SftExample& ex = example_at(epoch_, index_);
    const int64_t n = std::min(int64_t(ex.tokens.size()), seq_len_);
    if (o + n > seq_len_) break;  // never at o = 0, since n <= T
    place(ex, n, mb, r, o);
    o += n;
    if (++index_ == int64_t(train_.size())) {
      index_ = 0;
      ++epoch_;
    }
    if (o == seq_len_) break;
  }
  pad(mb, r, o, pad_id_);
}

void SftPacker::next(MicroBatch& mb) {
  shape(mb, batch_, seq_len_, soft_k_);
  for (int64_t r = 0; r < batch_; ++r) fill_row(mb, r);
  rows_seen_ += batch_;
}

nlohmann::json SftPacker::state() const {
  return {{"format", kPackerStateFormat}, {"epoch", epoch_},     {"index", index_},
          {"rows_seen", rows_seen_},      {"batch", batch_},     {"seq_len", seq_len_},
          {"seed", seed_},                {"shuffle", shuffle_}, {"examples", int64_t(train_.size())},
          {"fingerprint", fmt::format("{:016x}", fingerprint_)}};
}

void SftPacker::restore(const nlohmann::json& s) {
  const nlohmann::json now = state();
  if (!s.is_object() || s.value("format", "") != kPackerStateFormat)
    fail(ErrorKind::kInvalidArgument, "the checkpoint's data position is not an SFT packer's (format {})",
         s.is_object() ? s.value("format", "?") : "?");
  // What must match for the stream to continue as it would have: the data and how it is cut.
  for (const char* key : {"batch", "seq_len", "seed", "shuffle", "examples", "fingerprint"})
    if (!s.contains(key) || s[key] != now[key])
      fail(ErrorKind::kInvalidArgument, "resume: the checkpoint's SFT data has {} = {}, this run's is {}{}", key,
           s.contains(key) ? s[key].dump() : "(missing)", now[key].dump(),
           std::string_view(key) == "fingerprint" || std::string_view(key) == "examples"
               ? " (the data file or its rendering changed)"
               : "");
  const int64_t epoch = s.at("epoch").get<int64_t>(), index = s.at("index").get<int64_t>();
  if (epoch < 0 || index < 0 || index >= int64_t(train_.size()))
    fail(ErrorKind::kInvalidArgument, "resume: SFT data position epoch {} index {} is out of range", epoch, index);
  epoch_ = epoch;
  index_ = index;
  rows_seen_ = s.at("rows_seen").get<int64_t>();
}

std::vector<MicroBatch> SftPacker::validation(int64_t max_batches) const {
  std::vector<MicroBatch> out;
  size_t next = 0;  // validation examples in file order, one pass
  while (next < val_.size() && int64_t(out.size()) < max_batches) {
    MicroBatch mb;
    shape(mb, batch_, seq_len_, soft_k_);
    int64_t rows = 0;
    for (; rows < batch_ && next < val_.size(); ++rows) {
      int64_t o = 0;
      while (next < val_.size()) {
        const int64_t n = std::min(int64_t(val_[next].tokens.size()), seq_len_);
        if (o + n > seq_len_) break;
        place(val_[next++], n, mb, rows, o);
        o += n;
      }
      pad(mb, rows, o, pad_id_);
    }
    // A short last batch: only its filled rows.
    mb.B = rows;
    mb.inputs.resize(size_t(rows * seq_len_));
    mb.targets.resize(size_t(rows * seq_len_));
    mb.positions.resize(size_t(rows * seq_len_));
    mb.soft_ids.resize(size_t(rows * seq_len_ * soft_k_));
    mb.soft_q.resize(size_t(rows * seq_len_ * soft_k_));
    out.push_back(std::move(mb));
  }
  return out;
}

std::string SftPacker::describe() const {
  return fmt::format("{}; packed into {} rows of {} per epoch ({:.1f}% filled, {} truncated, {} dropped: no "
                     "assistant token within {}){}",
                     summary_, stats_.rows, seq_len_, 100.0 * double(stats_.tokens) / double(stats_.rows * seq_len_),
                     stats_.truncated, stats_.dropped, seq_len_,
                     val_.empty() ? "" : fmt::format(", {} validation examples", val_.size()));
}

}  // namespace frugal
