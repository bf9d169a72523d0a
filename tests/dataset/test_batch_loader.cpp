// BatchLoader / EvalLoader: the exact no-shuffle order, shuffle determinism and epoch coverage,
// resume from state(), and the too-small-corpus errors.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "data/batch_loader.h"
#include "dataset_test_util.h"

namespace frugal::data {
namespace {

using frugal::test::expect_error;

// ids 0, 1, 2, ... so every token names its own position.
TokenSource iota_source(int64_t n) {
  std::vector<int32_t> ids(static_cast<size_t>(n));
  std::iota(ids.begin(), ids.end(), 0);
  return TokenSource::from_ids(std::move(ids), "iota");
}

struct Batch {
  std::vector<int32_t> inputs, targets;
};
Batch next(BatchLoader& l) {
  Batch b{std::vector<int32_t>(size_t(l.batch() * l.seq_len())), std::vector<int32_t>(size_t(l.batch() * l.seq_len()))};
  l.next(b.inputs.data(), b.targets.data());
  return b;
}

TEST(BatchLoader, NoShuffleReadsSequencesInOrderByTheFormula) {
  // Through a .npy file, as `frugal train --tokens ids.npy --no-shuffle` does.
  test::TempDir dir;
  std::vector<int32_t> ids(103);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t(i * 7 % 101);
  frugal::test::write_bytes(dir.file("ids.npy"), test::npy_bytes("<i4", ids.data(), ids.size(), 4));
  const int64_t B = 3, T = 4;
  BatchLoader l(TokenSource::open(dir.file("ids.npy")), B, T, 123, /*shuffle=*/false);
  const int64_t n_seq = 103 / (T + 1);  // 20; the last 3 ids are never read
  EXPECT_EQ(l.n_sequences(), n_seq);
  EXPECT_EQ(l.steps_per_epoch(), 6);
  for (int64_t s = 0; s < 15; ++s) {
    const Batch b = next(l);
    for (int64_t r = 0; r < B; ++r) {
      const int64_t j = (s * B + r) % n_seq;  // row r of step s: sequence s·B + r, wrapping
      for (int64_t t = 0; t < T; ++t) {
        EXPECT_EQ(b.inputs[size_t(r * T + t)], ids[size_t(j * (T + 1) + t)]) << s << " " << r << " " << t;
        EXPECT_EQ(b.targets[size_t(r * T + t)], ids[size_t(j * (T + 1) + t + 1)]) << s << " " << r << " " << t;
      }
    }
  }
  EXPECT_EQ(l.rows_seen(), 45);
  EXPECT_EQ(l.epoch(), 2);
  EXPECT_EQ(l.index_in_epoch(), 5);
  EXPECT_EQ(l.tokens_seen(), 45 * T);
}

TEST(BatchLoader, ShuffleIsDeterministicAndCoversEveryEpoch) {
  const int64_t B = 4, T = 3, n_seq = 25;
  BatchLoader a(iota_source(n_seq * (T + 1) + 2), B, T, 7, true);
  BatchLoader b(iota_source(n_seq * (T + 1) + 2), B, T, 7, true);
  BatchLoader c(iota_source(n_seq * (T + 1) + 2), B, T, 8, true);
  std::vector<int64_t> seen_a, seen_c;
  for (int s = 0; s < 50; ++s) {  // 200 rows = 8 epochs; batches straddle epoch ends
    const Batch x = next(a), y = next(b), z = next(c);
    EXPECT_EQ(x.inputs, y.inputs);
    EXPECT_EQ(x.targets, y.targets);
    for (int64_t r = 0; r < B; ++r) {
      const int32_t first = x.inputs[size_t(r * T)];
      ASSERT_EQ(first % (T + 1), 0);  // rows start on sequence boundaries
      seen_a.push_back(first / (T + 1));
      seen_c.push_back(z.inputs[size_t(r * T)] / (T + 1));
      for (int64_t t = 0; t < T; ++t) EXPECT_EQ(x.targets[size_t(r * T + t)], x.inputs[size_t(r * T + t)] + 1);
    }
  }
  EXPECT_NE(seen_a, seen_c);  // another seed, another order
  for (int64_t e = 0; e < 8; ++e) {
    std::vector<int64_t> epoch(seen_a.begin() + e * n_seq, seen_a.begin() + (e + 1) * n_seq);
    EXPECT_EQ(std::vector<int64_t>(epoch.begin(), epoch.end()), epoch_permutation(n_seq, 7, e));
    std::sort(epoch.begin(), epoch.end());
    std::vector<int64_t> all(n_seq);
    std::iota(all.begin(), all.end(), 0);
    EXPECT_EQ(epoch, all) << "epoch " << e << " must visit every sequence exactly once";
  }
  EXPECT_NE(epoch_permutation(n_seq, 7, 0), epoch_permutation(n_seq, 7, 1));
  // The order is a pure function of (seed, epoch): the same sequence for a loader of another B.
  BatchLoader d(iota_source(n_seq * (T + 1)), 5, T, 7, true);
  for (int64_t k = 0; k < 60; ++k) EXPECT_EQ(d.sequence_for_row(k), seen_a[size_t(k)]);
}

TEST(BatchLoader, RestoreContinuesExactly) {
  for (bool shuffle : {false, true}) {
    BatchLoader full(iota_source(500), 3, 6, 11, shuffle);
    std::vector<Batch> want;
    for (int s = 0; s < 40; ++s) want.push_back(next(full));

    BatchLoader first(iota_source(500), 3, 6, 11, shuffle);
    for (int s = 0; s < 17; ++s) next(first);
    const nlohmann::json state = nlohmann::json::parse(first.state().dump());  // through text, as a checkpoint
    EXPECT_EQ(state["rows_seen"], 51);
    EXPECT_EQ(state["epoch"], 51 / (500 / 7));
    BatchLoader resumed(iota_source(500), 3, 6, 11, shuffle);
    resumed.restore(state);
    EXPECT_EQ(resumed.rows_seen(), 51);
    for (int s = 17; s < 40; ++s) {
      const Batch b = next(resumed);
      EXPECT_EQ(b.inputs, want[size_t(s)].inputs) << "shuffle " << shuffle << " step " << s;
      EXPECT_EQ(b.targets, want[size_t(s)].targets);
    }
  }
}

TEST(BatchLoader, RestoreRefusesADifferentSetup) {
  BatchLoader l(iota_source(500), 3, 6, 11, true);
  next(l);
  const nlohmann::json st = l.state();
  auto restore_into = [&](BatchLoader other, const nlohmann::json& s) { other.restore(s); };
  expect_error([&] { restore_into(BatchLoader(iota_source(500), 4, 6, 11, true), st); }, ErrorKind::kInvalidArgument,
               {"batch size is 3", "this run's is 4"});
  expect_error([&] { restore_into(BatchLoader(iota_source(500), 3, 5, 11, true), st); }, ErrorKind::kInvalidArgument,
               {"sequence length is 6"});
  expect_error([&] { restore_into(BatchLoader(iota_source(600), 3, 6, 11, true), st); }, ErrorKind::kInvalidArgument,
               {"corpus size in tokens is 500", "600"});
  std::vector<int32_t> other(500, 1);
  expect_error([&] { restore_into(BatchLoader(TokenSource::from_ids(other), 3, 6, 11, true), st); },
               ErrorKind::kInvalidArgument, {"fingerprint", "different content"});
  expect_error([&] { restore_into(BatchLoader(iota_source(500), 3, 6, 12, true), st); }, ErrorKind::kInvalidArgument,
               {"seed is 11", "12"});
  expect_error([&] { restore_into(BatchLoader(iota_source(500), 3, 6, 11, false), st); }, ErrorKind::kInvalidArgument,
               {"shuffle flag"});
  nlohmann::json bad = st;
  bad.erase("rows_seen");
  expect_error([&] { restore_into(BatchLoader(iota_source(500), 3, 6, 11, true), bad); }, ErrorKind::kFormat,
               {"rows_seen"});
  bad = st;
  bad["index"] = 5;
  expect_error([&] { restore_into(BatchLoader(iota_source(500), 3, 6, 11, true), bad); }, ErrorKind::kFormat,
               {"disagrees"});
  bad = st;
  bad["format"] = "other";
  expect_error([&] { restore_into(BatchLoader(iota_source(500), 3, 6, 11, true), bad); }, ErrorKind::kFormat,
               {"format"});
}

TEST(BatchLoader, EmptyTinyAndSmallerThanOneBatchAreErrors) {
  expect_error([&] { BatchLoader(TokenSource::from_ids({}, "empty.npy"), 2, 4, 0, true); },
               ErrorKind::kInvalidArgument, {"empty.npy", "empty"});
  // 9 tokens < one sequence of T+1 = 10.
  expect_error([&] { BatchLoader(TokenSource::from_ids(std::vector<int32_t>(9, 1), "tiny.npy"), 1, 9, 0, true); },
               ErrorKind::kInvalidArgument, {"tiny.npy", "smaller than one batch", "9 tokens", "0 sequences"});
  // 3 sequences of 5 tokens, batch 4.
  expect_error([&] { BatchLoader(iota_source(19), 4, 4, 0, false); }, ErrorKind::kInvalidArgument,
               {"iota", "19 tokens make 3 sequences", "batch size 4 needs at least 20 tokens"});
  EXPECT_NO_THROW(BatchLoader(iota_source(20), 4, 4, 0, false));
  expect_error([&] { BatchLoader(iota_source(20), 0, 4, 0, false); }, ErrorKind::kInvalidArgument, {"batch size"});
  expect_error([&] { BatchLoader(iota_source(20), 1, 0, 0, false); }, ErrorKind::kInvalidArgument,
               {"sequence length"});
}

TEST(BatchLoader, PreparedDirectoryEndToEnd) {
  test::TempDir dir;
  std::string text;
  for (int i = 0; i < 30; ++i) text += "{\"text\": \"sample " + std::to_string(i) + " of the corpus\"}\n";
  PrepareOptions o = test::prepare_options(dir, {test::write_text(dir, "c.jsonl", text)});
  o.shard_tokens = 16;
  o.val_fraction = 0.2;
  prepare_data(o);
  const TokenSource src = TokenSource::open(o.out_dir);
  std::vector<int32_t> flat(static_cast<size_t>(src.size()));
  src.read(0, src.size(), flat.data());
  BatchLoader l(src, 2, 8, 0, false);
  const Batch b = next(l);
  EXPECT_EQ(std::vector<int32_t>(b.inputs.begin() + 8, b.inputs.end()),
            std::vector<int32_t>(flat.begin() + 9, flat.begin() + 17));
  EXPECT_EQ(std::vector<int32_t>(b.targets.begin() + 8, b.targets.end()),
            std::vector<int32_t>(flat.begin() + 10, flat.begin() + 18));
  EvalLoader ev(*TokenSource::open_val(o.out_dir), 2, 8);
  EXPECT_GE(ev.n_sequences(), 1);
}

TEST(EvalLoader, AllSequencesInOrderWithAShortLastBatch) {
  const int64_t T = 4;
  EvalLoader ev(iota_source(7 * (T + 1) + 3), 3, T);
  EXPECT_EQ(ev.n_sequences(), 7);
  EXPECT_EQ(ev.n_batches(), 3);
  EXPECT_EQ(ev.full_batches(), 2);
  std::vector<int32_t> in(3 * T), tg(3 * T);
  std::vector<int32_t> firsts;
  for (int64_t i = 0; i < ev.n_batches(); ++i) {
    const int64_t rows = ev.get(i, in.data(), tg.data());
    EXPECT_EQ(rows, i < 2 ? 3 : 1);
    for (int64_t r = 0; r < rows; ++r) {
      firsts.push_back(in[size_t(r * T)]);
      EXPECT_EQ(tg[size_t(r * T + T - 1)], in[size_t(r * T)] + T);
    }
  }
  EXPECT_EQ(firsts, (std::vector<int32_t>{0, 5, 10, 15, 20, 25, 30}));
  // Same batch, same rows, every time.
  std::vector<int32_t> again(3 * T), tg2(3 * T);
  ev.get(1, again.data(), tg2.data());
  ev.get(1, in.data(), tg.data());
  EXPECT_EQ(in, again);
  expect_error([&] { ev.get(3, in.data(), tg.data()); }, ErrorKind::kInvalidArgument, {"outside"});
  expect_error([&] { EvalLoader(iota_source(4), 2, 4); }, ErrorKind::kInvalidArgument,
               {"iota", "no full sequence", "4 tokens"});
}

}  // namespace
}  // namespace frugal::data
