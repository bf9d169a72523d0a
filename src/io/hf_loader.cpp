#include "io/hf_loader.h"

#include <cmath>
#include <set>
#include <type_traits>

#include "core/error.h"
#include "io/gguf_model.h"
#include "io/hf_config.h"
#include "io/quant_format.h"
#include "model/tensor_table.h"

namespace frugal {

namespace {

bool is_fp8(DType t) { return t == DType::kF8E4M3 || t == DType::kF8E5M2; }

// Binds tensors by name and remembers which names were consumed, so leftovers can be reported.
class Binder {
 public:
  Binder(const WeightStore& store, const DeepSeekConfig& cfg, bool check_finite)
      : store_(store), cfg_(cfg), check_finite_(check_finite) {}

  bool has(const std::string& name) const { return store_.has(name); }

  const SafetensorsEntry& require(const std::string& name, const Shape& shape) {
    if (!store_.has(name))
      fail(ErrorKind::kShape, "{}: missing tensor '{}' (expected shape {} for this config.json)", store_.dir(), name,
           shape_str(shape));
    const SafetensorsEntry& e = store_.entry(name);
    if (e.shape != shape)
      fail(ErrorKind::kShape, "{}: tensor '{}' has shape {}, expected {} for this config.json", store_.file_of(name),
           name, shape_str(e.shape), shape_str(shape));
    used_.insert(name);
    return e;
  }

  // A [rows, cols] matrix in any float dtype; fp8 with its `<name>_scale_inv` block scales;
  // GGUF q8_0 / q4_0 blocks (io/quant_format.h) where `may_be_blocks` (projection weights: the
  // embedding, head and router rows are read by other code than the linear kernels).
  WeightView matrix(const std::string& name, int64_t rows, int64_t cols, bool may_be_blocks) {
    if (auto b = find_block_tensor(store_, name)) return block_matrix(name, *b, rows, cols, may_be_blocks);
    const SafetensorsEntry& e = require(name, {rows, cols});
    if (!dtype_is_float(e.dtype) || e.dtype == DType::kF64)
      fail(ErrorKind::kShape, "{}: tensor '{}' has dtype {}, expected F32, BF16, F16, F8 (or Q8_0/Q4_0 blocks)",
           store_.file_of(name), name, dtype_name(e.dtype));
    Tensor t = store_.get(name);
    WeightView w;
    w.dtype = e.dtype;
    w.rows = rows;
    w.cols = cols;
    w.ld = cols;
    w.data = t.data();
    if (is_fp8(e.dtype)) bind_scales(name, w);
    else if (store_.has(name + "_scale_inv"))
      fail(ErrorKind::kShape, "{}: '{}_scale_inv' accompanies a {} weight; block scales are only for FP8",
           store_.file_of(name), name, dtype_name(e.dtype));
    if (check_finite_) check_finite(name, w);
    return w;
  }

  std::vector<float> vector(const std::string& name, int64_t n) {
    const SafetensorsEntry& e = require(name, {n});
    if (!dtype_is_float(e.dtype))
      fail(ErrorKind::kShape, "{}: tensor '{}' has dtype {}, expected a float type", store_.file_of(name), name,
           dtype_name(e.dtype));
    std::vector<float> v(static_cast<size_t>(n));
    convert_to_f32(e.dtype, store_.get(name).data(), v.data(), size_t(n));
    if (check_finite_)
      for (float x : v)
        if (!std::isfinite(x)) fail(ErrorKind::kShape, "{}: tensor '{}' contains NaN or Inf", store_.file_of(name), name);
    return v;
  }

  std::vector<std::string> unused() const {
    std::vector<std::string> out;
    for (const auto& n : store_.names())
      if (!used_.count(n)) out.push_back(n);
    return out;
  }

 private:
  WeightView block_matrix(const std::string& name, const BlockTensor& b, int64_t rows, int64_t cols, bool allowed) {
    const std::string& file = store_.file_of(name);
    if (!allowed)
      fail(ErrorKind::kShape, "{}: tensor '{}' is stored as {} blocks, but only projection weights may be quantized", file,
           name, dtype_name(b.type));
    if (!cfg_.quant.gguf_blocks)
      fail(ErrorKind::kConfig, "{}: tensor '{}' is stored as {} blocks, but config.json has no quantization_config with "
           "quant_method \"{}\"", file, name, dtype_name(b.type), kGgufBlocksMethod);
    if (b.rows != rows || b.cols != cols)
      fail(ErrorKind::kShape, "{}: tensor '{}' has shape [{}, {}], expected [{}, {}] for this config.json", file, name,
           b.rows, b.cols, rows, cols);
    if (store_.has(name + "_scale_inv"))
      fail(ErrorKind::kShape, "{}: '{}_scale_inv' accompanies a {} weight; block scales are only for FP8", file, name,
           dtype_name(b.type));
    used_.insert(name);
    WeightView w;
    w.dtype = b.type;
    w.rows = rows;
    w.cols = cols;
    w.ld = cols;
    w.data = b.data;
    if (check_finite_) check_finite(name, w);
    return w;
  }

  void bind_scales(const std::string& name, WeightView& w) {
    const std::string sname = name + "_scale_inv";
    if (!store_.has(sname)) {
      if (cfg_.quant.fp8)
        fail(ErrorKind::kShape, "{}: FP8 weight '{}' has no '{}' block-scale tensor", store_.file_of(name), name, sname);
      return;  // plain fp8 values, scale 1
    }
    const int64_t br = cfg_.quant.block_rows, bc = cfg_.quant.block_cols;
    const Shape want = {(w.rows + br - 1) / br, (w.cols + bc - 1) / bc};
    const SafetensorsEntry& e = require(sname, want);
    if (e.dtype != DType::kF32)
      fail(ErrorKind::kShape, "{}: scale tensor '{}' has dtype {}, expected F32", store_.file_of(sname), sname,
           dtype_name(e.dtype));
    w.scale_inv = static_cast<const float*>(store_.get(sname).data());
    // A zero, negative or non-finite scale is a damaged or hand-made file, never a quantizer's output.
    for (int64_t i = 0; i < want[0] * want[1]; ++i)
      if (!(std::isfinite(w.scale_inv[i]) && w.scale_inv[i] > 0.0f))
        fail(ErrorKind::kShape, "{}: scale tensor '{}' has {} at block [{}, {}]; scales must be finite and > 0",
             store_.file_of(sname), sname, w.scale_inv[i], i / want[1], i % want[1]);
    w.scale_ld = want[1];
    w.block_rows = br;
    w.block_cols = bc;
  }

  void check_finite(const std::string& name, const WeightView& w) {
    for (int64_t r = 0; r < w.rows; ++r)
      for (int64_t c = 0; c < w.cols; ++c)
        if (!std::isfinite(w.at(r, c)))
          fail(ErrorKind::kShape, "{}: tensor '{}' has a non-finite value at [{}, {}]", store_.file_of(name), name, r, c);
  }

  const WeightStore& store_;
  const DeepSeekConfig& cfg_;
  bool check_finite_;
  std::set<std::string> used_;
};

// Binds one tensor of the table: a matrix slot as a WeightView into the checkpoint, a vector or
// buffer slot as an f32 copy.
auto slot_binder(Binder& b) {
  return Overloaded{
      [&b](const TensorSpec& t, WeightView& w) { w = b.matrix(t.name, t.shape[0], t.shape[1], t.fp8_in_release); },
      [&b](const TensorSpec& t, std::vector<float>& v) { v = b.vector(t.name, t.shape[0]); }};
}

bool store_has_layer(const WeightStore& s, int64_t l) {
  const std::string p = "model.layers." + std::to_string(l) + ".";
  for (const auto& n : s.names())
    if (n.rfind(p, 0) == 0) return true;
  return false;
}

}  // namespace

std::unique_ptr<LoadedModel> load_model(const std::string& dir, const LoadOptions& opt) {
  if (is_gguf_path(dir)) return load_gguf_model(dir, opt);
  auto m = std::make_unique<LoadedModel>();
  m->dir = dir;
  m->config = load_hf_config(dir);
  m->store = std::make_unique<WeightStore>(dir);
  const DeepSeekConfig& c = m->config;
  m->weights = bind_weights(*m->store, c, opt, m->mtp_note);
  return m;
}

ModelWeights bind_weights(const WeightStore& store, const DeepSeekConfig& c, const LoadOptions& opt,
                          std::string& mtp_note) {
  Binder b(store, c, opt.check_finite);
  ModelWeights w;
  auto bind = slot_binder(b);
  visit_main_tensors(c, w, [&](const TensorSpec& t, auto& slot) {
    if constexpr (std::is_same_v<std::decay_t<decltype(slot)>, WeightView>) {
      if (t.role == TensorRole::kHead && c.tie_word_embeddings && !b.has(t.name)) {
        slot = w.embed_tokens;  // tied: the head is the embedding (bound before it in table order)
        return;
      }
    }
    bind(t, slot);
  });

  for (int64_t k = 0; k < c.num_nextn_predict_layers; ++k) {
    const int64_t l = c.num_hidden_layers + k;
    if (!store_has_layer(store, l)) {  // many conversions drop the MTP layer: fine for inference
      mtp_note = fmt::format("config.json declares {} MTP module(s) but the checkpoint has no layer {}",
                             c.num_nextn_predict_layers, l);
      break;
    }
    if (!opt.load_mtp) {
      mtp_note = "MTP modules not loaded (load_mtp = false)";
      break;
    }
    visit_mtp_tensors(c, k, w.mtp.emplace_back(), bind);
  }
  std::vector<std::string> extra = b.unused();
  if (opt.load_mtp && !extra.empty()) {
    std::string list;
    for (size_t i = 0; i < extra.size() && i < 5; ++i) list += (i ? ", " : "") + extra[i];
    fail(ErrorKind::kShape, "{}: {} tensor(s) not used by this config.json (e.g. {}); the checkpoint and config disagree",
         store.dir(), extra.size(), list);
  }
  return w;
}

}  // namespace frugal
