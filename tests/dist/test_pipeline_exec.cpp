// Pipeline-parallel execution (dist/pipeline_exec.h) of a stack of dense DeepSeek-V3 decoder layers
// (MLA + SwiGLU, dist/pipeline_blocks.h) on in-process ranks equals one process on the same global batch:
// losses bit for bit, and gradients and SGD-updated weights over two steps bit for bit for 1F1B and
// ZB1P (every stage sums all M micro-batches in the one tree) and for DualPipe when M is a power of
// two (the two directions' halves are the tree's two root subtrees). For DualPipe with other M the
// root regroups the sum; the gradients then agree within the derived bound below, and their
// cosine distance is far below the 1e-13 the issue asks of DualPipe.
#include <gtest/gtest.h>

#include <omp.h>

#include <cmath>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "core/error.h"
#include "dist/in_process.h"
#include "dist/pipeline_blocks.h"
#include "dist/pipeline_exec.h"
#include "dist/pipeline_schedule.h"

namespace frugal::dist {
namespace {

struct PipeCase {
  PipeKind kind;
  int P, M;
  bool exact;  // bit-identical gradients expected
};

std::string pipe_case_name(const ::testing::TestParamInfo<PipeCase>& i) {
  return std::string(pipe_kind_name(i.param.kind)) + "_P" + std::to_string(i.param.P) + "_M" + std::to_string(i.param.M);
}

class PipelineEqualsOneProcess : public ::testing::TestWithParam<PipeCase> {};

// Per step: losses, and per stage (by first layer) its gradient and its weights after the update.
struct PipeStepRecord {
  std::vector<double> losses;
  double loss = 0;
  std::map<int64_t, std::vector<float>> grads, weights;
};

TEST_P(PipelineEqualsOneProcess, LossesGradientsWeights) {
  const PipeCase pc = GetParam();
  PipeBlocksConfig cfg;
  cfg.layers = 2 * pc.P;  // two layers per stage
  const PipeSchedule s = make_schedule(pc.kind, pc.P, pc.M);
  constexpr int kSteps = 2;
  constexpr float kLr = 0.5f;

  // One process, one OpenMP thread like each rank (the kernels' sums do not depend on the thread
  // count, but P ranks of several threads each would oversubscribe the test machine).
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  PipeBlockParams ref(cfg, 0, cfg.layers);
  std::vector<PipeBlocksResult> ref_res;
  std::vector<std::vector<float>> ref_grads, ref_weights;
  std::vector<std::vector<std::vector<float>>> ref_parts;  // [step][mb] per-micro-batch gradients
  for (int step = 0; step < kSteps; ++step) {
    ref_parts.emplace_back();
    ref_res.push_back(pipe_blocks_reference_step(ref, pc.M, &ref_parts.back()));
    ref_grads.emplace_back(ref.grads(), ref.grads() + ref.numel());
    for (int64_t k = 0; k < ref.numel(); ++k) ref.weights()[k] = ref.weights()[k] - kLr * ref.grads()[k];
    ref_weights.emplace_back(ref.weights(), ref.weights() + ref.numel());
  }

  omp_set_num_threads(threads);

  // P in-process ranks; every rank records each of its chunks.
  std::mutex mu;
  std::vector<std::vector<PipeStepRecord>> recs(size_t(pc.P), std::vector<PipeStepRecord>(kSteps));
  run_in_process(pc.P, [&](Communicator& comm) {
    omp_set_num_threads(1);
    PipeBlocksStage stage(cfg, s, comm.rank());
    for (int step = 0; step < kSteps; ++step) {
      run_pipeline(s, comm, stage);
      const PipeBlocksResult r = stage.finish_step(comm);
      stage.sgd(kLr);
      std::lock_guard<std::mutex> lock(mu);
      PipeStepRecord& rec = recs[size_t(comm.rank())][size_t(step)];
      rec.losses = r.losses;
      rec.loss = r.loss;
      for (int d = 0; d < s.chunks_per_rank(); ++d) {
        PipeBlockParams& c = stage.chunk(d);
        rec.grads[c.first_layer()].assign(c.grads(), c.grads() + c.numel());
        rec.weights[c.first_layer()].assign(c.weights(), c.weights() + c.numel());
      }
    }
  });

  const int64_t per_layer = PipeBlockParams::layer_numel(cfg);
  const double u = std::ldexp(1.0, -24);
  const int depth = int(std::ceil(std::log2(double(pc.M)))) + 1;
  const double gamma = depth * u / (1 - depth * u);
  for (int step = 0; step < kSteps; ++step)
    for (int r = 0; r < pc.P; ++r) {
      SCOPED_TRACE("step " + std::to_string(step) + " rank " + std::to_string(r));
      const PipeStepRecord& rec = recs[size_t(r)][size_t(step)];
      ASSERT_EQ(rec.losses.size(), size_t(pc.M));
      if (!pc.exact && step > 0) continue;  // the weights differ in the last bits after step 0
      for (int mb = 0; mb < pc.M; ++mb) EXPECT_EQ(rec.losses[size_t(mb)], ref_res[size_t(step)].losses[size_t(mb)]) << mb;
      EXPECT_EQ(rec.loss, ref_res[size_t(step)].loss);
      ASSERT_EQ(rec.grads.size(), size_t(s.chunks_per_rank()));
      for (const auto& [l0, g] : rec.grads) {
        const float* rg = ref_grads[size_t(step)].data() + l0 * per_layer;
        if (pc.exact) {
          for (size_t k = 0; k < g.size(); ++k) ASSERT_EQ(g[k], rg[k]) << "layer " << l0 << " element " << k;
        } else if (!pc.exact) {
          // Both are float sums of the same M per-micro-batch gradients g_i (identical bits on both
          // sides: the same operations on the same data), grouped as trees of depth <= d =
          // ceil(log2 M) + 1. Each is within γ_d·Σ|g_i| of the exact sum (γ_d = d·u/(1 − d·u),
          // u = 2^-24), so they differ by at most 2·γ_d·Σ|g_i|. Step 0 only: after a differing
          // update the later steps run on different weights.
          double dot = 0, n1 = 0, n2 = 0;
          for (size_t k = 0; k < g.size(); ++k) {
            double abs_sum = 0;
            for (const auto& part : ref_parts[0]) abs_sum += std::fabs(double(part[size_t(l0 * per_layer) + k]));
            ASSERT_LE(std::fabs(double(g[k]) - double(rg[k])), 2 * gamma * abs_sum) << "layer " << l0 << " element " << k;
            dot += double(g[k]) * rg[k], n1 += double(g[k]) * g[k], n2 += double(rg[k]) * rg[k];
          }
          EXPECT_LT(1 - dot / std::sqrt(n1 * n2), 1e-13);
        }
      }
      if (pc.exact)
        for (const auto& [l0, w] : rec.weights) {
          const float* rw = ref_weights[size_t(step)].data() + l0 * per_layer;
          for (size_t k = 0; k < w.size(); ++k) ASSERT_EQ(w[k], rw[k]) << "layer " << l0 << " element " << k;
        }
    }
  if (pc.exact) {
    // The data distinguishes groupings: summing the micro-batches left to right differs somewhere
    // (else a wrong order could pass), checked on step 0's parts.
    std::vector<float> seq(ref_parts[0][0]);
    for (size_t i = 1; i < ref_parts[0].size(); ++i)
      for (size_t k = 0; k < seq.size(); ++k) seq[k] = seq[k] + ref_parts[0][i][k];
    if (pc.M >= 4) {  // (M = 3: the tree is left to right)
      EXPECT_NE(seq, ref_grads[0]);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Schedules, PipelineEqualsOneProcess,
                         ::testing::Values(PipeCase{PipeKind::k1F1B, 2, 4, true}, PipeCase{PipeKind::k1F1B, 4, 6, true},
                                         PipeCase{PipeKind::k1F1B, 3, 5, true}, PipeCase{PipeKind::kZB1P, 4, 6, true},
                                         PipeCase{PipeKind::kZB1P, 2, 3, true}, PipeCase{PipeKind::kDualPipe, 2, 4, true},
                                         PipeCase{PipeKind::kDualPipe, 4, 8, true},
                                         PipeCase{PipeKind::kDualPipe, 4, 16, true},
                                         PipeCase{PipeKind::kDualPipe, 2, 6, false},
                                         PipeCase{PipeKind::kDualPipe, 4, 12, false}),
                         pipe_case_name);

TEST(PipelineExec, WrongRankCountAndLayerSplit) {
  const PipeSchedule s = make_schedule(PipeKind::k1F1B, 3, 3);
  PipeBlocksConfig cfg;
  cfg.layers = 4;
  EXPECT_THROW(PipeBlocksStage(cfg, s, 0), Error);  // 4 layers into 3 stages
  cfg.layers = 3;
  EXPECT_THROW(run_in_process(2,
                              [&](Communicator& comm) {
                                PipeBlocksStage st(cfg, s, comm.rank());
                                run_pipeline(s, comm, st);
                              }),
               Error);
}

TEST(PipelineExec, DeadPeerTimesOut) {
  // Rank 1 fails before its first op: rank 0 waits for B0's gradient and gives up after the
  // communicator's timeout, naming the receive, instead of hanging.
  const PipeSchedule s = make_schedule(PipeKind::k1F1B, 2, 2);
  PipeBlocksConfig cfg;
  cfg.layers = 2;
  try {
    run_in_process(
        2,
        [&](Communicator& comm) {
          if (comm.rank() == 1) fail(ErrorKind::kIo, "rank 1 stops");
          PipeBlocksStage st(cfg, s, comm.rank());
          run_pipeline(s, comm, st);
        },
        1.0);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    // Rank 0's error (run_in_process rethrows the lowest rank's): the receive of B0's gradient.
    EXPECT_NE(std::string(e.what()).find("recv from rank 1 tag 1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace frugal::dist
