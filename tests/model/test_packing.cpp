// Packed documents (SFT's packing, TrainModel::forward_backward's `positions`, model/mla_train.h):
// documents packed into one row with positions restarting at 0 compute exactly what they compute
// alone. On the micro fixture (3 layers, MoE, one MTP module), with the loss normaliser N = 1 so
// every loss is a plain sum Σ CE_t:
//  - the packed row's main and MTP losses equal the sums of the documents' own losses, and its
//    gradients equal the sums of their gradients;
//  - the same row without positions (attention across documents, positions running on) differs, so
//    the comparison can fail;
//  - the recompute modes give bit-identical packed gradients (they rerun the same masked code);
//  - a position that neither starts a document nor continues the previous row's is refused.
// Tolerance: the packed and separate runs do the same arithmetic per element except that the GEMMs
// see other row counts (OpenBLAS may block them differently) and the softmax sums exact zeros of
// the masked keys; f32 rounding of ~1e-7 relative per op, compounded through 3 layers, the MTP
// module and the gradient accumulations over ~20 rows, stays well below 1e-4 of the largest
// gradient. The balance loss is off (α = 0): it is defined per packed row, not per document.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/error.h"
#include "io/hf_config.h"
#include "io/hf_params.h"
#include "io/npy.h"
#include "model/param_store.h"
#include "model/transformer_train.h"
#include "test_util.h"

using namespace frugal;

namespace {

struct PackingFixture {
  DeepSeekConfig cfg = load_hf_config(test::kFixtureDir + "/micro_f32");
  ParamStore store{cfg, true};
  TrainModel model{cfg, store.params()};
  std::vector<int32_t> ids;  // row 0 of the fixture's input ids
  PackingFixture() {
    load_params_hf(test::kFixtureDir + "/micro_f32", store);
    Tensor t = npy_read(test::kFixtureDir + "/oracles/input_ids.npy");
    const int32_t* p = t.data_as<int32_t>();
    ids.assign(p, p + t.size(1));
  }
  std::vector<float> grads() const {
    std::vector<float> all;
    for (const ParamStore::Entry& e : store.entries())
      if (e.trainable) all.insert(all.end(), store.grad(e), store.grad(e) + e.numel);
    return all;
  }
};

// A document: tokens, each one's next token as target, the last one unscored.
struct Doc {
  std::vector<int32_t> tokens;
  std::vector<int32_t> targets() const {
    std::vector<int32_t> t(tokens.size(), -1);
    for (size_t i = 0; i + 1 < tokens.size(); ++i) t[i] = tokens[i + 1];
    return t;
  }
};

struct PackRun {
  StepLosses losses;
  std::vector<float> grads;
};

TrainOptions packing_options(Recompute rc) {
  TrainOptions opt;
  opt.mtp_weight = 0.3;
  opt.aux_alpha = 0;
  opt.loss_scale = 1;
  opt.recompute = rc;
  return opt;
}

PackRun run_rows(PackingFixture& fx, const std::vector<int32_t>& in, const std::vector<int32_t>& tg,
                 const std::vector<int32_t>* pos, Recompute rc = Recompute::kNone) {
  fx.store.zero_grad();
  PackRun r;
  r.losses = fx.model.forward_backward(in.data(), tg.data(), 1, int64_t(in.size()), packing_options(rc),
                                       TokenWeights{nullptr, 1.0}, pos ? pos->data() : nullptr);
  r.grads = fx.grads();
  return r;
}

struct Packed {
  std::vector<int32_t> inputs, targets, positions;
};
Packed pack(const std::vector<Doc>& docs) {
  Packed p;
  for (const Doc& d : docs) {
    const std::vector<int32_t> t = d.targets();
    p.inputs.insert(p.inputs.end(), d.tokens.begin(), d.tokens.end());
    p.targets.insert(p.targets.end(), t.begin(), t.end());
    for (size_t i = 0; i < d.tokens.size(); ++i) p.positions.push_back(int32_t(i));
  }
  return p;
}

std::vector<Doc> three_docs(const PackingFixture& fx) {
  const auto& ids = fx.ids;
  EXPECT_GE(ids.size(), size_t(12));
  // Lengths 5, 4, 3 from different parts of the row (the MTP module needs a document of >= 3 to
  // score anything at depth 1).
  return {Doc{{ids.begin(), ids.begin() + 5}}, Doc{{ids.begin() + 5, ids.begin() + 9}},
          Doc{{ids.begin() + 9, ids.begin() + 12}}};
}

TEST(Packing, PackedDocumentsEqualTheirSeparateRuns) {
  PackingFixture fx;
  const std::vector<Doc> docs = three_docs(fx);
  PackRun sum;
  for (const Doc& d : docs) {
    const PackRun r = run_rows(fx, d.tokens, d.targets(), nullptr);
    sum.losses.main += r.losses.main;
    sum.losses.mtp += r.losses.mtp;
    sum.losses.main_count += r.losses.main_count;
    sum.losses.mtp_count += r.losses.mtp_count;
    if (sum.grads.empty()) sum.grads.assign(r.grads.size(), 0.0f);
    for (size_t i = 0; i < r.grads.size(); ++i) sum.grads[i] += r.grads[i];
  }
  const Packed p = pack(docs);
  const PackRun packed = run_rows(fx, p.inputs, p.targets, &p.positions);
  EXPECT_EQ(packed.losses.main_count, sum.losses.main_count);
  EXPECT_EQ(packed.losses.mtp_count, sum.losses.mtp_count);  // cross-document MTP targets are masked
  EXPECT_NEAR(packed.losses.main, sum.losses.main, 1e-4 * std::abs(sum.losses.main));
  EXPECT_NEAR(packed.losses.mtp, sum.losses.mtp, 1e-4 * std::abs(sum.losses.mtp));
  float gmax = 0, dmax = 0;
  for (size_t i = 0; i < sum.grads.size(); ++i) {
    gmax = std::max(gmax, std::abs(sum.grads[i]));
    dmax = std::max(dmax, std::abs(sum.grads[i] - packed.grads[i]));
  }
  ASSERT_GT(gmax, 0.0f);
  EXPECT_LE(dmax, 1e-4f * gmax) << "largest gradient " << gmax;

  // The same row with attention across the documents and running positions is a different
  // computation (this is what the comparison above would see if the mask were missing).
  const PackRun unmasked = run_rows(fx, p.inputs, p.targets, nullptr);
  EXPECT_GT(std::abs(unmasked.losses.main - sum.losses.main), 1e-3 * std::abs(sum.losses.main));
}

TEST(Packing, RecomputeModesGiveIdenticalPackedGradients) {
  PackingFixture fx;
  const Packed p = pack(three_docs(fx));
  const PackRun none = run_rows(fx, p.inputs, p.targets, &p.positions, Recompute::kNone);
  for (Recompute rc : {Recompute::kAttn, Recompute::kFull}) {
    const PackRun r = run_rows(fx, p.inputs, p.targets, &p.positions, rc);
    EXPECT_EQ(r.losses.main, none.losses.main) << recompute_name(rc);
    EXPECT_EQ(r.grads, none.grads) << recompute_name(rc);
  }
}

TEST(Packing, PositionsThatDoNotContinueAreRefused) {
  PackingFixture fx;
  Packed p = pack(three_docs(fx));
  p.positions[3] = 7;  // neither 0 nor positions[2] + 1
  test::error_of([&] { run_rows(fx, p.inputs, p.targets, &p.positions); }, "position 7 at row 3");
  p = pack(three_docs(fx));
  p.positions[0] = 1;  // a row must start a document
  test::error_of([&] { run_rows(fx, p.inputs, p.targets, &p.positions); }, "position 1 at row 0");
}

}  // namespace
