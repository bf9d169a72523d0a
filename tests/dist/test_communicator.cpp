// The communicator's collectives against plain references (collective_checks.h) with the
// in-process implementation at 1..4 ranks; the MPI implementation runs the same checks under
// mpirun (ctest dist_mpi_collectives_np2/np4). Plus the failure paths: a rank that stops taking
// part makes the others fail within the timeout, and mismatched collectives are named.
#include <gtest/gtest.h>

#include <atomic>

#include "core/error.h"
#include "core/sys.h"
#include "dist/collective_checks.h"
#include "dist/in_process.h"
#include "train/tree_sum.h"

namespace frugal::dist {
namespace {

class CommInProcess : public ::testing::TestWithParam<int> {};

TEST_P(CommInProcess, EveryCollectiveMatchesReference) {
  std::vector<std::vector<std::string>> bad(static_cast<size_t>(GetParam()));
  run_in_process(GetParam(), [&](Communicator& c) { bad[size_t(c.rank())] = testing::check_every_collective(c); });
  for (size_t r = 0; r < bad.size(); ++r)
    for (const std::string& b : bad[r]) ADD_FAILURE() << "rank " << r << ": " << b;
}

INSTANTIATE_TEST_SUITE_P(Ranks, CommInProcess, ::testing::Values(1, 2, 3, 4));

// The determinism claim of train/tree_sum.h: P ranks each summing an aligned block of m = 2^a
// parts, then the tree over the P block sums, equals the tree over all P·m parts bit for bit.
TEST(TreeSum, BlockSumsThenRankSumEqualWholeTree) {
  const int64_t n = 257;
  for (int P : {1, 2, 3, 4, 5, 6, 7})
    for (int m : {1, 2, 4, 8}) {
      const int K = P * m;
      std::vector<std::vector<float>> parts(size_t(K), std::vector<float>(static_cast<size_t>(n)));
      for (int k = 0; k < K; ++k)
        for (int64_t i = 0; i < n; ++i) parts[size_t(k)][size_t(i)] = testing::part_value<float>(k, i);
      std::vector<float> whole(static_cast<size_t>(n)), two_level(static_cast<size_t>(n));
      TreeAccumulator acc(n);
      for (int k = 0; k < K; ++k) acc.push(parts[size_t(k)].data());
      acc.finish(whole.data());
      std::vector<std::vector<float>> blocks(size_t(P), std::vector<float>(static_cast<size_t>(n)));
      std::vector<const float*> block_ptrs;
      for (int p = 0; p < P; ++p) {
        std::vector<const float*> ptrs;
        for (int j = 0; j < m; ++j) ptrs.push_back(parts[size_t(p * m + j)].data());
        tree_sum<float>(ptrs, blocks[size_t(p)].data(), n);
        block_ptrs.push_back(blocks[size_t(p)].data());
      }
      tree_sum<float>(block_ptrs, two_level.data(), n);
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_TRUE(testing::same_bits(whole[size_t(i)], testing::ref_tree<float>(0, K, i))) << "K=" << K << " i=" << i;
        ASSERT_TRUE(testing::same_bits(whole[size_t(i)], two_level[size_t(i)])) << "P=" << P << " m=" << m << " i=" << i;
      }
    }
}

// The tree is not the sequential order: the test data does detect a different grouping (else the
// checks above could not fail).
TEST(TreeSum, DataDistinguishesGroupings) {
  int differ = 0;
  for (int64_t i = 0; i < 200; ++i) {
    float seq = 0;
    for (int k = 0; k < 4; ++k) seq += testing::part_value<float>(k, i);
    if (!testing::same_bits(seq, testing::ref_tree<float>(0, 4, i))) ++differ;
  }
  EXPECT_GT(differ, 0);
}

TEST(CommFailure, MissingRankTimesOutWithClearError) {
  std::atomic<double> seconds{0};
  try {
    run_in_process(
        2,
        [&](Communicator& c) {
          if (c.rank() == 1) return;  // "dies": never joins the collective
          std::vector<float> x(10, 1.0f);
          const double t0 = now_seconds();
          try {
            c.all_reduce_sum(x.data(), 10);
          } catch (...) {
            seconds = now_seconds() - t0;
            throw;
          }
        },
        /*timeout_s=*/0.3);
    FAIL() << "expected a timeout";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rank 0/2 (in-process): all-reduce f32"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("another rank has died"), std::string::npos) << e.what();
  }
  EXPECT_GE(seconds.load(), 0.3);
  EXPECT_LT(seconds.load(), 5.0);
}

TEST(CommFailure, MismatchedCollectivesAreNamed) {
  try {
    run_in_process(
        2,
        [&](Communicator& c) {
          if (c.rank() == 0) c.barrier();
          else {
            std::vector<double> v(1);
            c.all_gather(v.data(), Communicator::even_offsets(1, 2));
          }
        },
        2.0);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("issued"), std::string::npos) << e.what();
  }
}

TEST(CommFailure, BadOffsetsAreRefused) {
  run_in_process(2, [&](Communicator& c) {
    std::vector<float> v(4);
    EXPECT_THROW(c.all_gather(v.data(), {0, 3, 2}), Error);
    EXPECT_THROW(c.reduce_scatter_sum(v.data(), {0, 4}), Error);
  });
}

}  // namespace
}  // namespace frugal::dist
