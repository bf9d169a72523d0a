#include "train/optimizer.h"

#include "core/dtype.h"

#include <cmath>
#include <set>

#include "core/error.h"
#include "io/safetensors.h"

namespace frugal {

namespace {

// Σ g² over [0, n) in double, four fixed lanes (exact same order on every run).
double sum_squares(const float* g, int64_t n) {
  double acc[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int j = 0; j < 4; ++j) acc[j] += double(g[i + j]) * double(g[i + j]);
  for (; i < n; ++i) acc[0] += double(g[i]) * double(g[i]);
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

void check_params(const std::vector<AdamWParam>& params) {
  std::set<std::string> names;
  for (const AdamWParam& p : params) {
    if (p.name.empty()) fail(ErrorKind::kInvalidArgument, "AdamW: a parameter has an empty name");
    if (!names.insert(p.name).second) fail(ErrorKind::kInvalidArgument, "AdamW: duplicate parameter '{}'", p.name);
    if (p.n < 0) fail(ErrorKind::kInvalidArgument, "AdamW: parameter '{}' has negative size {}", p.name, p.n);
    if (p.n > 0 && (!p.w || !p.g))
      fail(ErrorKind::kInvalidArgument, "AdamW: parameter '{}' has a null weight or gradient pointer", p.name);
    const int64_t whole = p.shape.empty() ? p.n : shape_numel(p.shape);
    if (p.slice ? (p.offset < 0 || p.offset + p.n > whole) : (p.offset != 0 || whole != p.n))
      fail(ErrorKind::kInvalidArgument, "AdamW: parameter '{}' has shape {} but n = {} at offset {}", p.name,
           shape_str(p.shape), p.n, p.offset);
    if (p.offset % kAdamWChunk != 0)
      fail(ErrorKind::kInvalidArgument, "AdamW: slice of '{}' starts at {}, not on a chunk boundary", p.name, p.offset);
  }
}

}  // namespace

void validate(const AdamWConfig& c) {
  auto in_unit = [](double b) { return std::isfinite(b) && b >= 0 && b < 1; };
  if (!in_unit(c.beta1)) fail(ErrorKind::kConfig, "optim.beta1 = {} must be in [0, 1)", c.beta1);
  if (!in_unit(c.beta2)) fail(ErrorKind::kConfig, "optim.beta2 = {} must be in [0, 1)", c.beta2);
  if (!std::isfinite(c.eps) || c.eps <= 0) fail(ErrorKind::kConfig, "optim.eps = {} must be > 0", c.eps);
  if (!std::isfinite(c.weight_decay) || c.weight_decay < 0)
    fail(ErrorKind::kConfig, "optim.weight_decay = {} must be >= 0", c.weight_decay);
  if (std::isnan(c.grad_clip) || std::isinf(c.grad_clip))
    fail(ErrorKind::kConfig, "optim.grad_clip = {} must be finite (<= 0 disables clipping)", c.grad_clip);
}

// Work unit of both loops. Chunks start at fixed offsets inside each tensor, never at
// thread-dependent ones, so a chunk is computed the same way whichever thread takes it (the
// vector body / scalar tail split, and the norm's partial sums, are thread-count independent).
std::vector<AdamWChunk> adamw_chunks(const std::vector<AdamWParam>& params) {
  std::vector<AdamWChunk> chunks;
  for (size_t p = 0; p < params.size(); ++p)
    for (int64_t b = 0; b < params[p].n; b += kAdamWChunk)
      chunks.push_back({p, b, std::min(params[p].n, b + kAdamWChunk)});
  return chunks;
}

std::vector<double> grad_norm_partials(const std::vector<AdamWParam>& params, const std::vector<AdamWChunk>& chunks) {
  std::vector<double> partial(chunks.size());
  const int64_t nc = int64_t(chunks.size());
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < nc; ++c) {
    const AdamWChunk& ch = chunks[size_t(c)];
    partial[size_t(c)] = sum_squares(params[ch.param].g + ch.begin, ch.end - ch.begin);
  }
  return partial;
}

double combine_norm_partials(const std::vector<AdamWChunk>& chunks, const std::vector<double>& partial) {
  if (partial.size() != chunks.size())
    fail(ErrorKind::kInvalidArgument, "gradient norm: {} partial sums for {} chunks", partial.size(), chunks.size());
  // Chunks of a tensor in order, then tensors in list order: a fixed combine tree.
  double total = 0;
  for (size_t c = 0; c < chunks.size();) {
    double tensor_sum = 0;
    const size_t p = chunks[c].param;
    for (; c < chunks.size() && chunks[c].param == p; ++c) tensor_sum += partial[c];
    total += tensor_sum;
  }
  return total;
}

double global_grad_norm(const std::vector<AdamWParam>& params) {
  const std::vector<AdamWChunk> chunks = adamw_chunks(params);
  return std::sqrt(combine_norm_partials(chunks, grad_norm_partials(params, chunks)));
}

float grad_clip_scale(double norm, double clip) {
  if (clip <= 0) return 1.0f;
  return float(std::min(1.0, clip / (norm + 1e-6)));
}

AdamW::AdamW(std::vector<AdamWParam> params, AdamWConfig cfg) : params_(std::move(params)), cfg_(cfg) {
  validate(cfg_);
  check_params(params_);
  const size_t nf = cfg_.bf16_moments ? 0 : 1, nb = cfg_.bf16_moments ? 1 : 0;
  for (const AdamWParam& p : params_) {
    m_.emplace_back(size_t(p.n) * nf, 0.0f);
    v_.emplace_back(size_t(p.n) * nf, 0.0f);
    mb_.emplace_back(size_t(p.n) * nb, uint16_t(0));
    vb_.emplace_back(size_t(p.n) * nb, uint16_t(0));
  }
}

std::vector<float> AdamW::moment_f32(const std::vector<float>& f, const std::vector<uint16_t>& b) {
  if (b.empty()) return f;
  std::vector<float> out(b.size());
  for (size_t i = 0; i < b.size(); ++i) out[i] = bf16_to_f32(b[i]);
  return out;
}

int64_t AdamW::state_bytes() const {
  int64_t n = 0;
  for (const AdamWParam& p : params_) n += p.n;
  return 2 * n * (cfg_.bf16_moments ? 2 : 4);
}

AdamWStepResult AdamW::step(double lr) {
  if (!std::isfinite(lr) || lr < 0) fail(ErrorKind::kInvalidArgument, "AdamW: learning rate {} must be >= 0", lr);
  AdamWStepResult r;
  const std::vector<AdamWChunk> chunks = adamw_chunks(params_);
  const std::vector<double> partials = grad_norm_partials(params_, chunks);
  r.grad_norm = std::sqrt(norm_reducer_ ? norm_reducer_(partials) : combine_norm_partials(chunks, partials));
  if (!std::isfinite(r.grad_norm)) return r;  // skip: a NaN/Inf gradient must not reach the state
  const float scale = grad_clip_scale(r.grad_norm, cfg_.grad_clip);
  r.clip_scale = scale;
  r.applied = true;
  ++t_;

  // Per-step constants in double, rounded once; the element loop is pure f32 like PyTorch's.
  const float b1 = float(cfg_.beta1), b2 = float(cfg_.beta2);
  const float omb1 = float(1 - cfg_.beta1), omb2 = float(1 - cfg_.beta2);
  const float bc1 = float(1 - std::pow(cfg_.beta1, double(t_)));
  const float bc2 = float(1 - std::pow(cfg_.beta2, double(t_)));
  const float lr_f = float(lr), eps = float(cfg_.eps);
  const float keep = float(1 - lr * cfg_.weight_decay);  // decoupled decay factor

  const int64_t nc = int64_t(chunks.size());
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < nc; ++c) {
    const AdamWChunk& ch = chunks[size_t(c)];
    const AdamWParam& p = params_[ch.param];
    float* __restrict w = p.w;
    const float* __restrict g = p.g;
    const float k = p.decay ? keep : 1.0f;
    if (cfg_.bf16_moments) {
      uint16_t* __restrict mb = mb_[ch.param].data();
      uint16_t* __restrict vb = vb_[ch.param].data();
      for (int64_t i = ch.begin; i < ch.end; ++i) {
        const float gc = g[i] * scale;
        const float mi = b1 * bf16_to_f32(mb[i]) + omb1 * gc;
        const float vi = b2 * bf16_to_f32(vb[i]) + omb2 * (gc * gc);
        mb[i] = f32_to_bf16(mi);
        vb[i] = f32_to_bf16(vi);
        const float mhat = mi / bc1, vhat = vi / bc2;
        w[i] = w[i] * k - lr_f * (mhat / (std::sqrt(vhat) + eps));
      }
      continue;
    }
    float* __restrict m = m_[ch.param].data();
    float* __restrict v = v_[ch.param].data();
    for (int64_t i = ch.begin; i < ch.end; ++i) {
      const float gc = g[i] * scale;
      const float mi = b1 * m[i] + omb1 * gc;
      const float vi = b2 * v[i] + omb2 * (gc * gc);
      m[i] = mi;
      v[i] = vi;
      const float mhat = mi / bc1, vhat = vi / bc2;
      w[i] = w[i] * k - lr_f * (mhat / (std::sqrt(vhat) + eps));
    }
  }
  return r;
}

std::vector<CheckpointTensor> AdamW::state_tensors() const {
  std::vector<CheckpointTensor> out;
  for (size_t i = 0; i < params_.size(); ++i) {
    const AdamWParam& p = params_[i];
    if (p.slice)
      fail(ErrorKind::kInvalidArgument, "AdamW: '{}' is a slice; a sharded optimizer's moments are gathered to save them",
           p.name);
    const Shape shape = p.shape.empty() ? Shape{p.n} : p.shape;
    if (cfg_.bf16_moments) {
      export_.resize(2 * params_.size());
      export_[2 * i] = exp_avg(i);
      export_[2 * i + 1] = exp_avg_sq(i);
      out.push_back({p.name + ".exp_avg", shape, export_[2 * i].data()});
      out.push_back({p.name + ".exp_avg_sq", shape, export_[2 * i + 1].data()});
      continue;
    }
    out.push_back({p.name + ".exp_avg", shape, m_[i].data()});
    out.push_back({p.name + ".exp_avg_sq", shape, v_[i].data()});
  }
  return out;
}

nlohmann::json AdamW::state_json() const { return {{"step", t_}, {"moments", cfg_.bf16_moments ? "bf16" : "f32"}}; }

void AdamW::import_state(const nlohmann::json& state, const LoadedCheckpoint& ckpt) {
  auto it = state.is_object() ? state.find("step") : state.end();
  if (it == state.end() || !it->is_number_integer() || it->get<int64_t>() < 0)
    fail(ErrorKind::kFormat, "{}: optimizer state needs a non-negative integer 'step', found {}", ckpt.dir,
         state.dump());
  // No "moments": written before bf16 moments existed, so f32. A change is refused: f32 moments
  // read into bf16 would be rounded, and the run would not continue as it was written.
  const auto mk = state.find("moments");
  const std::string written = mk == state.end() ? "f32" : mk->is_string() ? mk->get<std::string>() : "?";
  const char* wanted = cfg_.bf16_moments ? "bf16" : "f32";
  if (written != wanted)
    fail(ErrorKind::kConfig, "{}: the checkpoint's AdamW moments are {}, this run asks for {}; resume with "
         "--optim-moments {}", ckpt.dir, written, wanted, written);
  // Read everything before changing anything, so a bad checkpoint leaves the optimizer as it was.
  std::vector<std::span<const float>> ms, vs;
  for (const AdamWParam& p : params_) {
    const int64_t whole = p.shape.empty() ? p.n : shape_numel(p.shape);
    ms.push_back(ckpt.f32(p.name + ".exp_avg", whole).subspan(size_t(p.offset), size_t(p.n)));
    vs.push_back(ckpt.f32(p.name + ".exp_avg_sq", whole).subspan(size_t(p.offset), size_t(p.n)));
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    if (cfg_.bf16_moments) {  // bf16 values written as f32: the rounding gives them back exactly
      for (size_t j = 0; j < ms[i].size(); ++j) mb_[i][j] = f32_to_bf16(ms[i][j]);
      for (size_t j = 0; j < vs[i].size(); ++j) vb_[i][j] = f32_to_bf16(vs[i][j]);
      continue;
    }
    std::copy(ms[i].begin(), ms[i].end(), m_[i].begin());
    std::copy(vs[i].begin(), vs[i].end(), v_[i].begin());
  }
  t_ = it->get<int64_t>();
}

void adamw_update_ref(double* w, double* m, double* v, const double* g, int64_t n, int64_t t, double lr,
                      const AdamWConfig& cfg, bool decay) {
  const double bc1 = 1 - std::pow(cfg.beta1, double(t)), bc2 = 1 - std::pow(cfg.beta2, double(t));
  for (int64_t i = 0; i < n; ++i) {
    m[i] = cfg.beta1 * m[i] + (1 - cfg.beta1) * g[i];
    v[i] = cfg.beta2 * v[i] + (1 - cfg.beta2) * g[i] * g[i];
    const double wd = decay ? lr * cfg.weight_decay : 0.0;
    w[i] = w[i] * (1 - wd) - lr * (m[i] / bc1) / (std::sqrt(v[i] / bc2) + cfg.eps);
  }
}

}  // namespace frugal
