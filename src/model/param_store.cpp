#include "model/param_store.h"

#include <algorithm>

#include "core/error.h"
#include "core/rng.h"
#include "model/params.h"
#include "model/tensor_table.h"

namespace frugal {

namespace {

// A matrix entry as [rows, cols]; a vector as [1, n] (the Param convention).
Param param_at(float* values, float* grads, const ParamStore::Entry& e) {
  Param p;
  p.w = values + e.offset;
  p.g = e.trainable ? grads + e.offset : nullptr;
  p.rows = e.shape.size() == 2 ? e.shape[0] : 1;
  p.cols = e.shape.size() == 2 ? e.shape[1] : e.shape[0];
  return p;
}

// The f32 value of a matrix entry as a WeightView (what Param::view gives in training).
WeightView view_at(const float* values, const ParamStore::Entry& e) {
  WeightView v;
  v.dtype = DType::kF32;
  v.rows = e.shape.size() == 2 ? e.shape[0] : 1;
  v.cols = e.shape.size() == 2 ? e.shape[1] : e.shape[0];
  v.ld = v.cols;
  v.data = values + e.offset;
  return v;
}

}  // namespace

ParamStore::ParamStore(const DeepSeekConfig& cfg, bool with_mtp)
    : cfg_(cfg), with_mtp_(with_mtp && cfg.num_nextn_predict_layers > 0) {
  int64_t offset = 0;
  for (const TensorSpec& t : expected_tensors(cfg_, with_mtp_)) {
    if (t.is_mtp_copy()) continue;  // the main model's embedding / head, shared
    Entry e;
    e.name = t.name;
    e.shape = t.shape;
    e.numel = shape_numel(t.shape);
    // 64-byte aligned tensors: the GEMMs and the optimizer's vector loops start on a cache line.
    e.offset = offset;
    offset += (e.numel + 15) / 16 * 16;
    e.trainable = t.trainable();
    e.decay = t.decay();
    e.mtp = t.mtp;
    e.role = t.role;
    e.layer = t.layer;
    e.expert = t.expert;
    entries_.push_back(std::move(e));
  }
  values_.assign(size_t(offset), 0.0f);
  grads_.assign(size_t(offset), 0.0f);
  bind();
}

const ParamStore::Entry* ParamStore::find(const std::string& name) const {
  for (const Entry& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

const ParamStore::Entry& ParamStore::entry_of(const TensorSpec& t, size_t& next) const {
  if (t.is_mtp_copy()) {
    const Entry* e = find(t.copy_of());
    if (!e) fail(ErrorKind::kInternal, "ParamStore: tensor '{}' missing", t.copy_of());
    return *e;
  }
  if (next >= entries_.size() || entries_[next].name != t.name)
    fail(ErrorKind::kInternal, "ParamStore: tensor '{}' missing", t.name);
  return entries_[next++];
}

// The same table walk as the constructor, so the i-th tensor binds to the i-th entry.
void ParamStore::bind() {
  size_t next = 0;
  params_ = ModelParams{};
  visit_model_tensors(cfg_, with_mtp_, params_,
                      Overloaded{[&](const TensorSpec& t, Param& p) {
                                   p = param_at(values_.data(), grads_.data(), entry_of(t, next));
                                 },
                                 [&](const TensorSpec& t, float*& buffer) { buffer = value(entry_of(t, next)); }});
}

ModelWeights ParamStore::weights() const {
  size_t next = 0;
  ModelWeights mw;
  visit_model_tensors(cfg_, with_mtp_, mw,
                      Overloaded{[&](const TensorSpec& t, WeightView& w) {
                                   w = view_at(values_.data(), entry_of(t, next));
                                 },
                                 [&](const TensorSpec& t, std::vector<float>& v) {
                                   const Entry& e = entry_of(t, next);
                                   v.assign(value(e), value(e) + e.numel);
                                 }});
  return mw;
}

void ParamStore::zero_grad() { std::fill(grads_.begin(), grads_.end(), 0.0f); }

void ParamStore::init_random(Rng& rng, double std) {
  for (const Entry& e : entries_) {
    float* v = value(e);
    if (!e.trainable) {
      std::fill(v, v + e.numel, 0.0f);  // routing bias starts neutral
    } else if (e.shape.size() == 1) {
      std::fill(v, v + e.numel, 1.0f);  // RMSNorm weights
    } else {
      for (int64_t i = 0; i < e.numel; ++i) v[i] = float(std * double(rng.normal()));
    }
  }
}

}  // namespace frugal
