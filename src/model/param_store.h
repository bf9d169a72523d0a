// ParamStore: the f32 master copy of a model being trained. Every tensor of the Hugging Face
// layout lives at an offset in one flat value buffer, with a gradient buffer of the same layout
// beside it, so the optimizer, the gradient-norm reduction and checkpoints work on a plain list of
// (name, pointer, size) while the model code sees the structured ModelParams (train_params.h).
//
// The MTP modules' `embed_tokens` / `shared_head.head` are not stored: in training they are the
// main model's embedding and head (docs/model.md, Multi-token prediction); export writes them as copies.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/config.h"
#include "model/params.h"
#include "model/train_params.h"
#include "model/weights.h"

namespace frugal {

class Rng;

class ParamStore {
 public:
  struct Entry {
    std::string name;  // Hugging Face name
    Shape shape;
    int64_t offset = 0, numel = 0;
    bool trainable = true;  // false: a buffer (e_score_correction_bias): no gradient, not stepped
    bool decay = false;     // weight decay applies (every 2-D tensor, as in the V3 recipe)
    bool mtp = false;       // part of an MTP module
    TensorRole role = TensorRole::kNorm;  // from the tensor table (model/tensor_table.h)
    int64_t layer = -1, expert = -1;      // as TensorSpec: what pipeline / expert sharding pick by
  };

  // All tensors of `cfg` (the MTP modules too when with_mtp and cfg has them), values zero.
  ParamStore(const DeepSeekConfig& cfg, bool with_mtp);
  ParamStore(const ParamStore&) = delete;
  ParamStore& operator=(const ParamStore&) = delete;

  const DeepSeekConfig& config() const { return cfg_; }
  bool with_mtp() const { return with_mtp_; }
  const std::vector<Entry>& entries() const { return entries_; }
  const Entry* find(const std::string& name) const;  // null if absent
  float* value(const Entry& e) { return values_.data() + e.offset; }
  const float* value(const Entry& e) const { return values_.data() + e.offset; }
  float* grad(const Entry& e) { return grads_.data() + e.offset; }
  const float* grad(const Entry& e) const { return grads_.data() + e.offset; }
  int64_t total_numel() const { return int64_t(values_.size()); }
  // The flat buffers (total_numel() floats; entries at their offsets, padding zero): what data
  // parallelism reduces and gathers as one range.
  float* values_data() { return values_.data(); }
  float* grads_data() { return grads_.data(); }

  ModelParams& params() { return params_; }
  const ModelParams& params() const { return params_; }
  // f32 views for the inference forward (validation, generation from a run without export).
  // Valid while the store lives; norm vectors are copied, so call again after an update.
  ModelWeights weights() const;

  // Every tensor of the checkpoint layout in table order (expected_tensors), with the entry that
  // holds it; an MTP copy of the embedding / head comes with the main model's entry.
  template <class F>
  void for_each_tensor(F&& f) const {
    size_t i = 0;
    for (const TensorSpec& t : expected_tensors(cfg_, with_mtp_)) f(t, entry_of(t, i));
  }

  void zero_grad();
  // From-scratch init: linear and embedding weights N(0, std²), norm weights 1, routing bias 0.
  void init_random(Rng& rng, double std);

 private:
  void bind();
  // The entry of table tensor `t`, given that `next` entries were walked before it (the table
  // order is the entry order; the MTP copies have no entry of their own).
  const Entry& entry_of(const TensorSpec& t, size_t& next) const;

  DeepSeekConfig cfg_;
  bool with_mtp_;
  std::vector<Entry> entries_;
  std::vector<float> values_, grads_;
  ModelParams params_;
};

}  // namespace frugal
