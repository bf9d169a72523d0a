#include "model/transformer.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "kernels/ops.h"
#include "kernels/quant_blocks.h"
#include "model/batch_mla.h"
#include "model/rope_yarn.h"

namespace frugal {

void weight_row_f32(const WeightView& w, int64_t r, float* out) {
  if (dtype_is_block(w.dtype)) {  // GGUF files may store the embedding as q8_0 / q4_0 blocks
    dequantize_row_q(w.dtype, static_cast<const char*>(w.data) + r * dtype_row_bytes(w.dtype, w.ld), out, w.cols);
    return;
  }
  if (w.scale_inv == nullptr) {
    const size_t es = dtype_size(w.dtype);
    convert_to_f32(w.dtype, static_cast<const char*>(w.data) + size_t(r * w.ld) * es, out, size_t(w.cols));
    return;
  }
  for (int64_t c = 0; c < w.cols; ++c) out[c] = w.at(r, c);
}

Transformer::Transformer(const DeepSeekConfig& cfg, const ModelWeights& weights) : cfg_(cfg), w_(weights) {
  rope_.inv_freq = rope_inv_freq(cfg);
  rope_.mscale = yarn_cos_sin_mscale(cfg);
  rope_.softmax_scale = float(softmax_scale(cfg));
}

LatentKvCache Transformer::make_cache(int64_t capacity) const {
  return LatentKvCache(cfg_, cfg_.num_hidden_layers, capacity);
}

void Transformer::check_ids(const int32_t* ids, int64_t T) const {
  for (int64_t t = 0; t < T; ++t)
    if (ids[t] < 0 || ids[t] >= cfg_.vocab_size)
      fail(ErrorKind::kInvalidArgument, "token id {} at position {} is outside the vocabulary [0, {})", ids[t], t,
           cfg_.vocab_size);
}

void Transformer::decoder_layer(const LayerWeights& lw, int64_t layer, float* x, int64_t T, const AttnFn& attn,
                                const ForwardOptions& opt) {
  const int64_t D = cfg_.hidden_size;
  const float eps = float(cfg_.rms_norm_eps);
  const Arena::Mark mark = arena_.mark();
  float* xn = arena_.alloc<float>(size_t(T * D));   // normalised input [T, D]
  float* out = arena_.alloc<float>(size_t(T * D));  // sublayer output [T, D]

  // h = x + MLA(RMSNorm(x))
  rmsnorm_forward(x, D, lw.input_layernorm.data(), T, D, eps, xn, D);
  attn(xn, out);
  if (opt.dump) opt.dump("attn_out", layer, out, T, D);
  add_inplace(x, out, T * D);

  // out = h + FFN(RMSNorm(h)): dense SwiGLU in the first layers, DeepSeekMoE after.
  rmsnorm_forward(x, D, lw.post_attention_layernorm.data(), T, D, eps, xn, D);
  if (lw.is_moe) moe_forward(cfg_, lw.moe, xn, T, arena_, out);
  else mlp_forward(lw.mlp, xn, T, D, arena_, out);
  if (opt.dump) opt.dump("ffn_out", layer, out, T, D);
  add_inplace(x, out, T * D);
  if (opt.dump) opt.dump("layer_out", layer, x, T, D);
  arena_.rewind(mark);
}

void Transformer::forward(const int32_t* ids, int64_t T, LatentKvCache& cache, float* logits,
                          const ForwardOptions& opt) {
  if (T <= 0) fail(ErrorKind::kInvalidArgument, "forward needs at least one token");
  check_ids(ids, T);
  const int64_t pos0 = cache.length();
  if (pos0 + T > cache.capacity())
    fail(ErrorKind::kInvalidArgument, "context full: {} cached + {} new tokens exceed the cache capacity {}", pos0,
         T, cache.capacity());
  const int64_t D = cfg_.hidden_size, V = cfg_.vocab_size;
  arena_.reset();
  float* x = arena_.alloc<float>(size_t(T * D));  // residual stream [T, D]
  for (int64_t t = 0; t < T; ++t) weight_row_f32(w_.embed_tokens, ids[t], x + t * D);

  for (int64_t l = 0; l < cfg_.num_hidden_layers; ++l) {
    const LayerWeights& lw = w_.layers[size_t(l)];
    float* cache_layer = cache.layer(l);
    decoder_layer(lw, l, x, T, [&](const float* xn, float* out) {
      mla_forward(cfg_, lw.self_attn, rope_, xn, T, pos0, cache_layer, cache.width(), opt.attn, arena_, out);
    }, opt);
  }
  cache.set_length(pos0 + T);
  if (opt.hidden_out) std::memcpy(opt.hidden_out, x, size_t(T * D) * sizeof(float));

  const int64_t rows = opt.all_logits ? T : 1;
  const float* xs = opt.all_logits ? x : x + (T - 1) * D;
  float* xn = arena_.alloc<float>(size_t(rows * D));
  rmsnorm_forward(xs, D, w_.norm.data(), rows, D, float(cfg_.rms_norm_eps), xn, D);
  if (opt.dump) opt.dump("final_norm", -1, xn, rows, D);
  matmul_xwt(xn, rows, D, w_.lm_head, logits, V, &arena_);
}

void Transformer::forward_mtp(int64_t k, const float* hidden, const int32_t* next_ids, int64_t T, float* logits) {
  if (k < 0 || k >= int64_t(w_.mtp.size()))
    fail(ErrorKind::kInvalidArgument, "MTP module {} is not loaded (the checkpoint has {})", k, w_.mtp.size());
  check_ids(next_ids, T);
  const MtpWeights& m = w_.mtp[size_t(k)];
  const int64_t D = cfg_.hidden_size, V = cfg_.vocab_size;
  const float eps = float(cfg_.rms_norm_eps);
  arena_.reset();
  // h' = eh_proj([enorm(emb(next_id)) ; hnorm(h)]): the embedding comes first (docs/model.md, Multi-token prediction).
  float* cat = arena_.alloc<float>(size_t(T * 2 * D));  // [T, 2D]
  for (int64_t t = 0; t < T; ++t) {
    weight_row_f32(m.embed_tokens, next_ids[t], cat + t * 2 * D);
    rmsnorm_forward(cat + t * 2 * D, 2 * D, m.enorm.data(), 1, D, eps, cat + t * 2 * D, 2 * D);
    rmsnorm_forward(hidden + t * D, D, m.hnorm.data(), 1, D, eps, cat + t * 2 * D + D, 2 * D);
  }
  float* x = arena_.alloc<float>(size_t(T * D));
  matmul_xwt(cat, T, 2 * D, m.eh_proj, x, D, &arena_);
  LatentKvCache cache(cfg_, 1, T);
  decoder_layer(m.block, cfg_.num_hidden_layers + k, x, T, [&](const float* xn, float* out) {
    mla_forward(cfg_, m.block.self_attn, rope_, xn, T, 0, cache.layer(0), cache.width(), AttnImpl::kAuto, arena_, out);
  }, {});
  float* xn = arena_.alloc<float>(size_t(T * D));
  rmsnorm_forward(x, D, m.shared_head_norm.data(), T, D, eps, xn, D);
  matmul_xwt(xn, T, D, m.shared_head_head, logits, V, &arena_);
}

void Transformer::decode_batch(const int32_t* ids, int64_t n, LatentKvCache* const* caches, float* logits) {
  const std::vector<int64_t> ones(static_cast<size_t>(std::max<int64_t>(n, 0)), 1);
  forward_batch(ids, ones.data(), n, caches, logits);
}

void Transformer::forward_batch(const int32_t* ids, const int64_t* n_tokens, int64_t n, LatentKvCache* const* caches,
                                float* logits) {
  if (n <= 0) fail(ErrorKind::kInvalidArgument, "forward_batch needs at least one sequence");
  const int64_t D = cfg_.hidden_size, V = cfg_.vocab_size;
  std::vector<int64_t> row0(static_cast<size_t>(n + 1), 0);  // row offsets of the sequences
  for (int64_t i = 0; i < n; ++i) {
    const LatentKvCache* c = caches[i];
    if (n_tokens[i] < 1)
      fail(ErrorKind::kInvalidArgument, "forward_batch: sequence {} has {} new tokens (need >= 1)", i, n_tokens[i]);
    if (c == nullptr) fail(ErrorKind::kInvalidArgument, "forward_batch: sequence {} has no cache", i);
    if (c->width() != cfg_.kv_cache_dim() ||
        c->bytes() != int64_t(sizeof(float)) * cfg_.num_hidden_layers * c->capacity() * c->width())
      fail(ErrorKind::kInvalidArgument, "forward_batch: the cache of sequence {} was not made by this model", i);
    if (c->length() + n_tokens[i] > c->capacity())
      fail(ErrorKind::kInvalidArgument, "context full: sequence {} has {} cached + {} new tokens, capacity {}", i,
           c->length(), n_tokens[i], c->capacity());
    for (int64_t j = 0; j < i; ++j)
      if (caches[j] == c) fail(ErrorKind::kInvalidArgument, "forward_batch: sequences {} and {} share a cache", j, i);
    row0[size_t(i + 1)] = row0[size_t(i)] + n_tokens[i];
  }
  const int64_t R = row0[size_t(n)];
  check_ids(ids, R);
  arena_.reset();
  float* x = arena_.alloc<float>(size_t(R * D));  // residual stream [R, D]
  for (int64_t r = 0; r < R; ++r) weight_row_f32(w_.embed_tokens, ids[r], x + r * D);
  const ForwardOptions opt;  // no dumps on the serving path
  for (int64_t l = 0; l < cfg_.num_hidden_layers; ++l) {
    const LayerWeights& lw = w_.layers[size_t(l)];
    decoder_layer(lw, l, x, R, [&](const float* xn, float* out) {
      mla_forward_ragged(cfg_, lw.self_attn, rope_, xn, row0.data(), n, l, caches, arena_, out);
    }, opt);
  }
  for (int64_t i = 0; i < n; ++i) caches[i]->set_length(caches[i]->length() + n_tokens[i]);
  // Only each sequence's last row goes through the final norm and lm_head.
  float* last = arena_.alloc<float>(size_t(n * D));  // [n, D]
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(last + i * D, x + (row0[size_t(i + 1)] - 1) * D, size_t(D) * sizeof(float));
  rmsnorm_forward(last, D, w_.norm.data(), n, D, float(cfg_.rms_norm_eps), last, D);
  matmul_xwt(last, n, D, w_.lm_head, logits, V, &arena_);
}

}  // namespace frugal
