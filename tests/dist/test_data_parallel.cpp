// Data parallelism (train/train_step.h + dist/data_parallel.h) equals one process, bit for bit:
// P in-process ranks, each with its own Trainer and the same global micro-batches, against one
// Trainer stepping the same micro-batches — losses, gradient norms, expert loads and every
// parameter identical after each step, with and without ZeRO-1, at K/P = 1 and 2 micro-batches
// per rank. Exactness is the claim of train/tree_sum.h (the rank sum is the top of the one tree),
// so the comparison is ==, not a tolerance. Also: ZeRO-1 checkpoints hold whole tensors and resume
// at another rank count; bad rank counts are refused; a rank that dies makes the others fail.
#include <gtest/gtest.h>

#include <cstring>
#include <mutex>

#include "core/error.h"
#include "core/rng.h"
#include "dist/data_parallel.h"
#include "dist/in_process.h"
#include "io/random_model.h"
#include "test_util.h"
#include "train/train_test_util.h"
#include "train/checkpoint.h"
#include "train/train_step.h"

namespace frugal::dist {
namespace {

using frugal::test::TempDir;

TrainerSettings dp_settings() {
  TrainerSettings s = frugal::test::pattern_settings();
  s.adamw.grad_clip = 0.5;  // active: the norm's cross-rank combine matters
  return s;
}

MicroBatch dp_batch(uint64_t seed) { return frugal::test::pattern_batch(2, 10, seed); }

std::vector<MicroBatch> global_batch(int64_t step, int64_t K) {
  std::vector<MicroBatch> mbs;
  for (int64_t k = 0; k < K; ++k) mbs.push_back(dp_batch(uint64_t(1000 * step + k)));
  return mbs;
}

void dp_init(ParamStore& store) {
  Rng rng(5);
  store.init_random(rng, 0.02);
}

std::vector<float> flat_values(ParamStore& store) {
  return std::vector<float>(store.values_data(), store.values_data() + store.total_numel());
}

struct Trace {
  std::vector<StepResult> steps;
  std::vector<float> final_values;
};

Trace single_process(int64_t steps, int64_t K) {
  Trainer t(frugal::test::pattern_model(), dp_settings());
  dp_init(t.store());
  Trace tr;
  for (int64_t s = 0; s < steps; ++s) tr.steps.push_back(t.step(global_batch(s, K)));
  tr.final_values = flat_values(t.store());
  return tr;
}

// Rank 0's trace, after checking that every rank ends with the same parameters.
Trace data_parallel(int P, bool zero1, int64_t steps, int64_t K) {
  std::vector<Trace> per_rank(static_cast<size_t>(P));
  run_in_process(P, [&](Communicator& c) {
    CommDataParallel dp(c, /*bucket_elems=*/5000);  // several buckets, cutting through shards
    Trainer t(frugal::test::pattern_model(), dp_settings());
    dp_init(t.store());
    t.set_data_parallel(&dp, zero1);
    Trace& tr = per_rank[size_t(c.rank())];
    for (int64_t s = 0; s < steps; ++s) tr.steps.push_back(t.step(global_batch(s, K)));
    tr.final_values = flat_values(t.store());
  });
  for (int r = 1; r < P; ++r)
    EXPECT_TRUE(per_rank[size_t(r)].final_values == per_rank[0].final_values) << "rank " << r << " differs from rank 0";
  return per_rank[0];
}

void expect_same(const Trace& a, const Trace& b, const std::string& what) {
  ASSERT_EQ(a.steps.size(), b.steps.size());
  for (size_t s = 0; s < a.steps.size(); ++s) {
    EXPECT_EQ(a.steps[s].loss, b.steps[s].loss) << what << " step " << s + 1;
    EXPECT_EQ(a.steps[s].mtp_loss, b.steps[s].mtp_loss) << what << " step " << s + 1;
    EXPECT_EQ(a.steps[s].balance_loss, b.steps[s].balance_loss) << what << " step " << s + 1;
    EXPECT_EQ(a.steps[s].grad_norm, b.steps[s].grad_norm) << what << " step " << s + 1;
    EXPECT_EQ(a.steps[s].expert_load, b.steps[s].expert_load) << what << " step " << s + 1;
    EXPECT_EQ(a.steps[s].tokens, b.steps[s].tokens) << what;
    EXPECT_EQ(a.steps[s].scored, b.steps[s].scored) << what;
  }
  ASSERT_EQ(a.final_values.size(), b.final_values.size());
  EXPECT_EQ(std::memcmp(a.final_values.data(), b.final_values.data(), a.final_values.size() * sizeof(float)), 0)
      << what << ": final parameters differ";
}

struct DpCase {
  int P;
  bool zero1;
  int64_t per_rank;  // micro-batches per rank (K = P · per_rank)
};

class DataParallelEqualsOneProcess : public ::testing::TestWithParam<DpCase> {};

TEST_P(DataParallelEqualsOneProcess, LossesAndWeightsBitIdentical) {
  const DpCase c = GetParam();
  const int64_t K = c.P * c.per_rank, steps = 3;
  const Trace one = single_process(steps, K);
  const Trace dp = data_parallel(c.P, c.zero1, steps, K);
  expect_same(one, dp, fmt::format("dp {} zero1 {} K {}", c.P, c.zero1, K));
  // The run did train (a comparison of two runs that changed nothing would prove little).
  EXPECT_TRUE(one.steps.back().applied);
  EXPECT_LT(one.steps.back().loss, one.steps.front().loss);
}

INSTANTIATE_TEST_SUITE_P(Layouts, DataParallelEqualsOneProcess,
                         ::testing::Values(DpCase{2, false, 1}, DpCase{2, true, 1}, DpCase{4, false, 1},
                                           DpCase{4, true, 1}, DpCase{2, true, 2}, DpCase{3, true, 1}));

// ZeRO-1 shards: every rank owns a non-empty range on chunk boundaries, the ranges tile the flat
// buffer, and each rank's optimizer holds only its share of the moments.
TEST(DataParallelShards, Zero1ShardsTileTheParameters) {
  const int P = 4;
  std::vector<int64_t> moments(P, 0);
  std::vector<int64_t> offsets;
  int64_t total = 0;
  run_in_process(P, [&](Communicator& c) {
    CommDataParallel dp(c);
    Trainer t(frugal::test::pattern_model(), dp_settings());
    t.set_data_parallel(&dp, true);
    for (const AdamWParam& p : t.optimizer().params()) moments[size_t(c.rank())] += p.n;
    if (c.rank() == 0) {
      offsets = t.shard_offsets();
      for (const ParamStore::Entry& e : t.store().entries()) total += e.trainable ? e.numel : 0;
    }
  });
  ASSERT_EQ(offsets.size(), size_t(P) + 1);
  EXPECT_EQ(offsets.front(), 0);
  for (int r = 0; r < P; ++r) EXPECT_LT(offsets[size_t(r)], offsets[size_t(r) + 1]) << "rank " << r << " owns nothing";
  int64_t sum = 0;
  for (int r = 0; r < P; ++r) {
    EXPECT_GT(moments[size_t(r)], 0);
    EXPECT_LT(moments[size_t(r)], total);
    sum += moments[size_t(r)];
  }
  EXPECT_EQ(sum, total) << "the shards' moments cover every trainable element once";
}

// A ZeRO-1 checkpoint at 2 ranks holds whole tensors; it resumes at 4 ranks and in one process,
// both continuing exactly as the uninterrupted single process.
TEST(DataParallelCheckpoint, Zero1SavedAtTwoResumesAtFourAndOne) {
  TempDir dir;
  const int64_t K = 4;
  const Trace whole = single_process(4, K);
  run_in_process(2, [&](Communicator& c) {
    CommDataParallel dp(c);
    Trainer t(frugal::test::pattern_model(), dp_settings());
    dp_init(t.store());
    t.set_data_parallel(&dp, true);
    for (int64_t s = 0; s < 2; ++s) t.step(global_batch(s, K));
    t.gather_state();
    if (c.rank() == 0) save_checkpoint(dir.str(), t.step_count(), t.state_tensors(), t.state_json(), 0);
    c.barrier();
  });
  std::optional<LoadedCheckpoint> ck = load_latest_checkpoint(dir.str());
  ASSERT_TRUE(ck.has_value());
  // The saved moments equal a single process's after 2 steps.
  {
    Trainer ref(frugal::test::pattern_model(), dp_settings());
    dp_init(ref.store());
    for (int64_t s = 0; s < 2; ++s) ref.step(global_batch(s, K));
    for (const CheckpointTensor& ct : ref.state_tensors()) {
      const std::span<const float> got = ck->f32(ct.name, shape_numel(ct.shape));
      ASSERT_EQ(std::memcmp(got.data(), ct.data, got.size() * sizeof(float)), 0) << ct.name;
    }
  }
  std::vector<float> at4;
  std::mutex mu;
  run_in_process(4, [&](Communicator& c) {
    CommDataParallel dp(c);
    Trainer t(frugal::test::pattern_model(), dp_settings());
    t.set_data_parallel(&dp, true);
    t.restore(*ck, ck->meta);
    for (int64_t s = 2; s < 4; ++s) t.step(global_batch(s, K));
    std::lock_guard<std::mutex> lock(mu);
    if (c.rank() == 0) at4 = flat_values(t.store());
  });
  EXPECT_TRUE(at4 == whole.final_values) << "resumed at 4 ranks";
  Trainer one(frugal::test::pattern_model(), dp_settings());
  one.restore(*ck, ck->meta);
  for (int64_t s = 2; s < 4; ++s) one.step(global_batch(s, K));
  EXPECT_TRUE(flat_values(one.store()) == whole.final_values) << "resumed in one process";
}

TEST(DataParallelErrors, RankCountsThatDoNotDivideTheBatch) {
  run_in_process(2, [&](Communicator& c) {
    CommDataParallel dp(c);
    Trainer t(frugal::test::pattern_model(), dp_settings());
    t.set_data_parallel(&dp, false);
    try {
      t.step(global_batch(0, 3));
      ADD_FAILURE() << "3 micro-batches on 2 ranks must be refused";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("do not divide among 2"), std::string::npos) << e.what();
    }
    try {
      t.step(global_batch(0, 6));
      ADD_FAILURE() << "3 micro-batches per rank must be refused";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("power of two"), std::string::npos) << e.what();
    }
  });
}

// A rank that dies mid-run: the survivor's next collective fails with a clear error within the
// timeout (the MPI form is the end-to-end test tests/dist/mpi/killed_rank.sh).
TEST(DataParallelErrors, DeadRankStopsTheOthersWithinTheTimeout) {
  try {
    run_in_process(
        2,
        [&](Communicator& c) {
          CommDataParallel dp(c);
          Trainer t(frugal::test::pattern_model(), dp_settings());
          dp_init(t.store());
          t.set_data_parallel(&dp, true);
          t.step(global_batch(0, 2));
          if (c.rank() == 1) return;  // dies after step 1
          t.step(global_batch(1, 2));
        },
        /*timeout_s=*/1.0);
    FAIL() << "expected the surviving rank to fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rank 0/2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("dist timeout"), std::string::npos) << e.what();
  }
}

TEST(DataParallelHandshake, MismatchedConfigsAreNamed) {
  try {
    run_in_process(3, [&](Communicator& c) { handshake(c, c.rank() == 2 ? "lr=2" : "lr=1", "configuration"); }, 5.0);
    FAIL() << "expected a handshake error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rank 2's configuration differs"), std::string::npos) << e.what();
  }
  run_in_process(2, [&](Communicator& c) { handshake(c, "same", "configuration"); });
}

}  // namespace
}  // namespace frugal::dist
