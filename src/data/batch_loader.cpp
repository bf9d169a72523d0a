#include "data/batch_loader.h"

#include <algorithm>
#include <numeric>

#include "core/error.h"
#include "core/rng.h"

namespace frugal::data {

namespace {

// One T+1 window into inputs[T] and targets[T].
void split_row(const int32_t* row, int64_t T, int32_t* inputs, int32_t* targets) {
  std::copy(row, row + T, inputs);
  std::copy(row + 1, row + T + 1, targets);
}

void check_dims(int64_t B, int64_t T) {
  if (B < 1) fail(ErrorKind::kInvalidArgument, "batch size must be >= 1 (got {})", B);
  if (T < 1) fail(ErrorKind::kInvalidArgument, "sequence length must be >= 1 (got {})", T);
}

}  // namespace

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), int64_t(0));
  // Seeded by (seed, epoch) only: any epoch's order can be rebuilt on resume without replaying.
  Rng rng(mix64(seed) ^ mix64(uint64_t(epoch) + 0x5eedull));
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[size_t(i)], p[size_t(rng.below(uint64_t(i) + 1))]);
  return p;
}

BatchLoader::BatchLoader(TokenSource source, int64_t batch, int64_t seq_len, uint64_t seed, bool shuffle)
    : source_(std::move(source)), batch_(batch), seq_len_(seq_len), n_seq_(0), seed_(seed), shuffle_(shuffle) {
  check_dims(batch, seq_len);
  n_seq_ = source_.size() / (seq_len + 1);
  if (source_.size() == 0)
    fail(ErrorKind::kInvalidArgument, "training data {} is empty (0 tokens)", source_.describe());
  if (n_seq_ < batch)
    fail(ErrorKind::kInvalidArgument,
         "training data {} is smaller than one batch: {} tokens make {} sequences of seq_len+1 = {} tokens, but "
         "batch size {} needs at least {} tokens; use more data or a smaller batch / sequence length",
         source_.describe(), source_.size(), n_seq_, seq_len + 1, batch, batch * (seq_len + 1));
  row_.resize(size_t(seq_len + 1));
}

int64_t BatchLoader::sequence_for_row(int64_t k) const {
  const int64_t epoch = k / n_seq_, i = k % n_seq_;
  if (!shuffle_) return i;
  if (epoch != perm_epoch_) {
    perm_ = epoch_permutation(n_seq_, seed_, epoch);
    perm_epoch_ = epoch;
  }
  return perm_[size_t(i)];
}

void BatchLoader::next(int32_t* inputs, int32_t* targets) {
  const int64_t T = seq_len_;
  for (int64_t b = 0; b < batch_; ++b) {
    const int64_t j = sequence_for_row(rows_seen_ + b);
    source_.read(j * (T + 1), T + 1, row_.data());
    split_row(row_.data(), T, inputs + b * T, targets + b * T);
  }
  rows_seen_ += batch_;
}

nlohmann::json BatchLoader::state() const {
  return {{"format", kLoaderStateFormat}, {"version", kLoaderStateVersion}, {"rows_seen", rows_seen_},
          {"tokens_seen", tokens_seen()},      {"epoch", epoch()},                  {"index", index_in_epoch()},
          {"seed", seed_},                     {"shuffle", shuffle_},               {"batch", batch_},
          {"seq_len", seq_len_},               {"n_sequences", n_seq_},             {"tokens", source_.size()},
          {"fingerprint", source_.fingerprint()}, {"source", source_.path()}};
}

void BatchLoader::restore(const nlohmann::json& s) {
  auto field = [&](const char* key) -> const nlohmann::json& {
    if (!s.is_object() || !s.contains(key))
      fail(ErrorKind::kFormat, "data loader state: missing key \"{}\"", key);
    return s.at(key);
  };
  auto integer = [&](const char* key) -> int64_t {
    const nlohmann::json& v = field(key);
    if (!v.is_number_integer()) fail(ErrorKind::kFormat, "data loader state: \"{}\" must be an integer", key);
    return v.is_number_unsigned() ? int64_t(v.get<uint64_t>()) : v.get<int64_t>();
  };
  if (!field("format").is_string() || field("format").get<std::string>() != kLoaderStateFormat)
    fail(ErrorKind::kFormat, "data loader state: format is not \"{}\"", kLoaderStateFormat);
  if (integer("version") != kLoaderStateVersion)
    fail(ErrorKind::kFormat, "data loader state: unknown version {} (this build reads {})", integer("version"),
         kLoaderStateVersion);
  auto same = [&](const char* what, int64_t saved, int64_t now, const char* hint) {
    if (saved != now)
      fail(ErrorKind::kInvalidArgument,
           "cannot resume the data loader: the checkpoint's {} is {} but this run's is {} ({}); {}", what, saved, now,
           source_.describe(), hint);
  };
  same("batch size", integer("batch"), batch_, "resume with the same batch size");
  same("sequence length", integer("seq_len"), seq_len_, "resume with the same sequence length");
  same("corpus size in tokens", integer("tokens"), source_.size(), "resume on the same data");
  same("corpus fingerprint", integer("fingerprint"), source_.fingerprint(),
       "the data has the same size but different content; resume on the same data");
  same("number of sequences", integer("n_sequences"), n_seq_, "resume on the same data");
  if (!field("shuffle").is_boolean()) fail(ErrorKind::kFormat, "data loader state: \"shuffle\" must be a boolean");
  same("shuffle flag", field("shuffle").get<bool>(), shuffle_, "resume with the same --no-shuffle setting");
  const nlohmann::json& seed = field("seed");
  if (!seed.is_number_unsigned() && !(seed.is_number_integer() && seed.get<int64_t>() >= 0))
    fail(ErrorKind::kFormat, "data loader state: \"seed\" must be a non-negative integer");
  if (seed.get<uint64_t>() != seed_)
    fail(ErrorKind::kInvalidArgument, "cannot resume the data loader: the checkpoint's seed is {} but this run's is {}",
         seed.get<uint64_t>(), seed_);
  const int64_t rows = integer("rows_seen");
  if (rows < 0 || integer("epoch") != rows / n_seq_ || integer("index") != rows % n_seq_)
    fail(ErrorKind::kFormat, "data loader state: rows_seen {} disagrees with epoch {} / index {} for {} sequences",
         rows, integer("epoch"), integer("index"), n_seq_);
  rows_seen_ = rows;
}

EvalLoader::EvalLoader(TokenSource source, int64_t batch, int64_t seq_len)
    : source_(std::move(source)), batch_(batch), seq_len_(seq_len), n_seq_(0) {
  check_dims(batch, seq_len);
  n_seq_ = source_.size() / (seq_len + 1);
  if (n_seq_ == 0)
    fail(ErrorKind::kInvalidArgument,
         "evaluation data {} holds no full sequence: {} tokens, fewer than seq_len+1 = {}", source_.describe(),
         source_.size(), seq_len + 1);
}

int64_t EvalLoader::get(int64_t i, int32_t* inputs, int32_t* targets) const {
  if (i < 0 || i >= n_batches())
    fail(ErrorKind::kInvalidArgument, "evaluation batch {} outside [0, {})", i, n_batches());
  const int64_t T = seq_len_, first = i * batch_, rows = std::min(batch_, n_seq_ - first);
  std::vector<int32_t> row(static_cast<size_t>(T + 1));
  for (int64_t b = 0; b < rows; ++b) {
    source_.read((first + b) * (T + 1), T + 1, row.data());
    split_row(row.data(), T, inputs + b * T, targets + b * T);
  }
  return rows;
}

}  // namespace frugal::data
