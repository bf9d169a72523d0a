// The tensor table (model/tensor_table.h) drives every consumer the same way: the expected list,
// the checkpoint loader, the training ParamStore (layout, Param binding, f32 WeightViews), --init
// and export agree on names, order, shapes, roles and counts for configs covering each branch of
// the table (q_lora on/off, V2 routing without the correction bias, dense-only, MTP on/off, FP8
// block scales, tied embeddings).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "io/hf_loader.h"
#include "io/hf_params.h"
#include "io/random_model.h"
#include "io/safetensors.h"
#include "model/param_store.h"
#include "model/params.h"
#include "test_util.h"

namespace frugal {
namespace {

using test::TempDir;

struct Case {
  std::string label;
  DeepSeekConfig cfg;
};

DeepSeekConfig micro() {
  DeepSeekConfig c = random_model_preset("micro");
  c.num_nextn_predict_layers = 1;
  return c;
}

std::vector<Case> cases() {
  std::vector<Case> out;
  out.push_back({"micro", micro()});
  DeepSeekConfig c = micro();
  c.q_lora_rank = 0;  // plain q_proj (V2-Lite)
  out.push_back({"micro_no_q_lora", c});
  c = micro();  // V2 routing: softmax, group-limited greedy, no e_score_correction_bias
  c.model_type = "deepseek_v2";
  c.topk_method = TopkMethod::kGroupLimitedGreedy;
  c.scoring_func = ScoringFunc::kSoftmax;
  c.n_shared_experts = 2;
  out.push_back({"micro_v2", c});
  c = micro();
  c.n_routed_experts = 0;  // every layer dense
  out.push_back({"micro_dense", c});
  c = random_model_preset("tiny");
  c.num_nextn_predict_layers = 1;
  out.push_back({"tiny", c});
  return out;
}

std::string prefix(const TensorSpec& t) {
  return t.layer < 0 ? "" : "model.layers." + std::to_string(t.layer) + ".";
}

// The values of every slot of a ModelWeights, by tensor name (matrices dequantised).
std::map<std::string, std::vector<float>> values_by_name(const DeepSeekConfig& c, bool mtp, ModelWeights& w) {
  std::map<std::string, std::vector<float>> out;
  visit_model_tensors(c, mtp, w,
                      Overloaded{[&](const TensorSpec& t, WeightView& v) {
                                   std::vector<float>& o = out[t.name];
                                   for (int64_t r = 0; r < v.rows; ++r)
                                     for (int64_t k = 0; k < v.cols; ++k) o.push_back(v.at(r, k));
                                 },
                                 [&](const TensorSpec& t, std::vector<float>& v) { out[t.name] = v; }});
  return out;
}

// The list itself: names unique and tagged, roles and dtype rules consistent, sizes == count_params.
TEST(TensorTable, ListAgreesWithCounts) {
  for (const Case& k : cases())
    for (bool mtp : {false, true}) {
      SCOPED_TRACE(k.label + (mtp ? " +mtp" : ""));
      const DeepSeekConfig& c = k.cfg;
      std::set<std::string> names;
      int64_t n = 0, copies = 0, biases = 0, routed = 0;
      for (const TensorSpec& t : expected_tensors(c, mtp)) {
        EXPECT_TRUE(names.insert(t.name).second) << t.name;
        EXPECT_EQ(t.name.rfind(prefix(t), 0), 0u) << t.name;
        EXPECT_EQ(t.mtp, t.layer >= c.num_hidden_layers) << t.name;
        EXPECT_EQ(t.fp8_in_release, t.role == TensorRole::kProjection) << t.name;
        EXPECT_EQ(t.shape.size(), t.role == TensorRole::kNorm || t.role == TensorRole::kRoutingBias ? 1u : 2u);
        EXPECT_EQ(t.trainable(), t.role != TensorRole::kRoutingBias);
        if (t.expert >= 0) {
          ++routed;
          EXPECT_NE(t.name.find(".mlp.experts." + std::to_string(t.expert) + "."), std::string::npos) << t.name;
        }
        n += shape_numel(t.shape);
        copies += t.is_mtp_copy();
        biases += t.role == TensorRole::kRoutingBias;
      }
      const ParamCounts p = count_params(c);
      const int64_t modules = mtp ? c.num_nextn_predict_layers : 0;
      EXPECT_EQ(n, p.total_main + (mtp ? p.mtp_unique + modules * (p.embedding + p.head) : 0));
      EXPECT_EQ(copies, 2 * modules);
      const int64_t moe_layers = p.n_moe_layers + (c.is_moe_layer(c.num_hidden_layers) ? modules : 0);
      EXPECT_EQ(biases, c.topk_method == TopkMethod::kNoauxTc ? moe_layers : 0);
      EXPECT_EQ(routed, 3 * c.n_routed_experts * moe_layers);
    }
}

// ParamStore: one entry per table tensor but the MTP copies, in table order; every Param slot
// points at its entry (the copies at the main embedding / head), and the routing bias is a buffer.
TEST(TensorTable, ParamStoreLayoutAndBinding) {
  for (const Case& k : cases())
    for (bool mtp : {false, true}) {
      SCOPED_TRACE(k.label + (mtp ? " +mtp" : ""));
      ParamStore store(k.cfg, mtp);
      std::vector<TensorSpec> want = expected_tensors(k.cfg, mtp);
      size_t i = 0;
      int64_t end = 0;
      for (const TensorSpec& t : want) {
        if (t.is_mtp_copy()) continue;
        ASSERT_LT(i, store.entries().size());
        const ParamStore::Entry& e = store.entries()[i++];
        EXPECT_EQ(e.name, t.name);
        EXPECT_EQ(e.shape, t.shape);
        EXPECT_EQ(e.offset, end);
        end = e.offset + (e.numel + 15) / 16 * 16;
        EXPECT_EQ(e.trainable, t.role != TensorRole::kRoutingBias) << t.name;
        EXPECT_EQ(e.decay, e.trainable && t.shape.size() == 2) << t.name;
        EXPECT_EQ(e.mtp, t.mtp);
        EXPECT_EQ(e.role, t.role);
        EXPECT_EQ(e.layer, t.layer);
        EXPECT_EQ(e.expert, t.expert);
      }
      EXPECT_EQ(i, store.entries().size());
      EXPECT_EQ(end, store.total_numel());

      size_t visited = 0;
      ModelParams& params = store.params();
      visit_model_tensors(k.cfg, mtp, params,
                          Overloaded{[&](const TensorSpec& t, Param& p) {
                                       ++visited;
                                       const ParamStore::Entry* e = store.find(t.is_mtp_copy() ? t.copy_of() : t.name);
                                       ASSERT_NE(e, nullptr) << t.name;
                                       EXPECT_EQ(p.w, store.value(*e)) << t.name;
                                       EXPECT_EQ(p.g, store.grad(*e)) << t.name;
                                       EXPECT_EQ(p.numel(), e->numel) << t.name;
                                       EXPECT_EQ(p.rows, t.shape.size() == 2 ? t.shape[0] : 1) << t.name;
                                     },
                                     [&](const TensorSpec& t, float*& b) {
                                       ++visited;
                                       EXPECT_EQ(b, store.value(*store.find(t.name))) << t.name;
                                     }});
      EXPECT_EQ(visited, want.size());
      EXPECT_EQ(params.mtp.size(), size_t(mtp ? k.cfg.num_nextn_predict_layers : 0));
      if (mtp) {
        EXPECT_EQ(params.mtp[0].embed_tokens.w, params.embed_tokens.w);
        EXPECT_EQ(params.mtp[0].shared_head_head.g, params.lm_head.g);
      }
    }
}

// A checkpoint written from the table loads with every tensor bound to its slot (no leftovers),
// --init fills the ParamStore with the same numbers, ParamStore::weights() views them in the same
// slots, and export writes back exactly the table's names with the MTP copies.
TEST(TensorTable, LoaderParamStoreAndExportAgree) {
  for (const Case& k : cases())
    for (bool mtp : {false, true})
      for (DType dtype : {DType::kF32, DType::kF8E4M3}) {
        if (dtype == DType::kF8E4M3 && k.label != "micro") continue;
        SCOPED_TRACE(k.label + (mtp ? " +mtp " : " ") + std::string(dtype_name(dtype)));
        TempDir dir;
        RandomModelOptions opt;
        opt.dtype = dtype;
        opt.seed = 7;
        opt.mtp = mtp;
        write_random_model(dir.file("m"), k.cfg, opt);
        auto loaded = load_model(dir.file("m"));
        const DeepSeekConfig& c = loaded->config;
        std::vector<TensorSpec> want = expected_tensors(c, mtp);
        ASSERT_EQ(loaded->weights.mtp.size(), mtp ? 1u : 0u);

        // Loader: each slot views the checkpoint tensor of its table name, with the FP8 scales
        // exactly where the table says the release has them.
        size_t visited = 0;
        visit_model_tensors(c, mtp, loaded->weights,
                            Overloaded{[&](const TensorSpec& t, WeightView& w) {
                                         ++visited;
                                         EXPECT_EQ(w.data, loaded->store->get(t.name).data()) << t.name;
                                         EXPECT_EQ((Shape{w.rows, w.cols}), t.shape) << t.name;
                                         EXPECT_EQ(w.scale_inv != nullptr, dtype == DType::kF8E4M3 && t.fp8_in_release)
                                             << t.name;
                                       },
                                       [&](const TensorSpec& t, std::vector<float>& v) {
                                         ++visited;
                                         EXPECT_EQ(int64_t(v.size()), t.shape[0]) << t.name;
                                       }});
        EXPECT_EQ(visited, want.size());
        EXPECT_EQ(loaded->store->names().size(),
                  want.size() + (dtype == DType::kF8E4M3 ? size_t(std::count_if(want.begin(), want.end(), [](auto& t) {
                                                             return t.fp8_in_release;
                                                           }))
                                                         : 0));

        // --init: same numbers in the same slots (FP8 dequantised the same way).
        ParamStore store(c, mtp);
        load_params_hf(dir.file("m"), store);
        ModelWeights from_store = store.weights();
        auto a = values_by_name(c, mtp, loaded->weights);
        auto b = values_by_name(c, mtp, from_store);
        // Training shares the MTP embedding / head with the main model; the random file does not.
        if (mtp)
          for (const TensorSpec& t : want)
            if (t.is_mtp_copy()) a[t.name] = a[t.copy_of()];
        EXPECT_TRUE(a == b);

        // Export: the table's names, the copies equal to the main tensors.
        export_params_hf(store, dir.file("x"));
        WeightStore out(dir.file("x"));
        std::vector<std::string> names;
        for (const TensorSpec& t : want) names.push_back(t.name);
        std::sort(names.begin(), names.end());
        EXPECT_EQ(out.names(), names);
        auto reloaded = load_model(dir.file("x"));
        EXPECT_TRUE(values_by_name(c, mtp, reloaded->weights) == b);
      }
}

// V2 checkpoints carry no e_score_correction_bias: --init into a noaux_tc store leaves the bias as
// it was (zero in a fresh store) instead of failing.
TEST(TensorTable, InitWithoutCorrectionBiasLeavesIt) {
  TempDir dir;
  DeepSeekConfig v2 = cases()[2].cfg;
  write_random_model(dir.file("m"), v2, {});
  DeepSeekConfig v3 = micro();
  v3.num_nextn_predict_layers = 0;
  v3.n_shared_experts = v2.n_shared_experts;
  ParamStore store(v3, false);
  for (const ParamStore::Entry& e : store.entries())
    if (e.role == TensorRole::kRoutingBias) std::fill(store.value(e), store.value(e) + e.numel, 5.0f);
  load_params_hf(dir.file("m"), store);
  int biases = 0;
  for (const ParamStore::Entry& e : store.entries())
    if (e.role == TensorRole::kRoutingBias) {
      ++biases;
      for (int64_t i = 0; i < e.numel; ++i) EXPECT_EQ(store.value(e)[i], 5.0f) << e.name;
    }
  EXPECT_EQ(biases, 2);
}

// tie_word_embeddings: a checkpoint without lm_head.weight binds the head to the embedding; with
// the head present it is bound on its own; untied, a missing head is an error naming it.
TEST(TensorTable, TiedEmbeddings) {
  TempDir dir;
  DeepSeekConfig c = micro();
  c.num_nextn_predict_layers = 0;
  write_random_model(dir.file("m"), c, {});
  {
    SafetensorsFile f(dir.file("m/model.safetensors"));
    SafetensorsWriter w;
    for (const SafetensorsEntry& e : f.entries())
      if (e.name != "lm_head.weight") w.add(e.name, f.tensor(e.name).contiguous());
    std::filesystem::create_directories(dir.file("no_head"));
    w.write(dir.file("no_head/model.safetensors"));
  }
  DeepSeekConfig tied = c;
  tied.tie_word_embeddings = true;
  std::string note;
  {
    WeightStore ws(dir.file("no_head"));
    ModelWeights w = bind_weights(ws, tied, {}, note);
    EXPECT_EQ(w.lm_head.data, w.embed_tokens.data);
    EXPECT_EQ(w.lm_head.rows, c.vocab_size);
    test::expect_error([&] { bind_weights(ws, c, {}, note); }, ErrorKind::kShape,
                       {"missing tensor 'lm_head.weight'", "[256, 64]"});
  }
  WeightStore ws(dir.file("m"));
  ModelWeights w = bind_weights(ws, tied, {}, note);
  EXPECT_EQ(w.lm_head.data, ws.get("lm_head.weight").data());
  EXPECT_NE(w.lm_head.data, w.embed_tokens.data);
}

}  // namespace
}  // namespace frugal
