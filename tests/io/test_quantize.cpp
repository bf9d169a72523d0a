// frugal quantize and the loader's side of it: q8_0 / q4_0 blocks byte-identical to the reference
// quantizer of the source weights, fp8-block in the released V3 layout, untouched non-projection
// tensors, logits that stay close to f32, and every bad input as an Error naming the tensor.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "io/hf_config.h"
#include "io/hf_loader.h"
#include "io/hf_params.h"
#include "io/quant_format.h"
#include "io/quantize.h"
#include "io/random_model.h"
#include "io/safetensors.h"
#include "kernels/quant_blocks.h"
#include "model/param_store.h"
#include "model/params.h"
#include "model/transformer.h"
#include "test_util.h"

using namespace frugal;

namespace {

// The micro preset with kv_lora_rank 32, so every projection's input dimension is a multiple of 32.
std::string qz_write_source(const test::TempDir& tmp, uint64_t seed = 3) {
  DeepSeekConfig cfg = random_model_preset("micro");
  cfg.kv_lora_rank = 32;
  RandomModelOptions opt;
  opt.seed = seed;
  opt.mtp = true;
  const std::string dir = tmp.file("f32");
  write_random_model(dir, cfg, opt);
  write_file_atomic(path_join(dir, "tokenizer_config.json"), "{\"x\": 1}\n");  // must be copied along
  return dir;
}

std::string qz_quantize(const test::TempDir& tmp, const std::string& src, const std::string& type,
                        const std::string& exclude = "") {
  const std::string out = tmp.file(type + (exclude.empty() ? "" : "_ex"));
  QuantizeOptions opt;
  opt.type = type;
  opt.exclude = exclude;
  quantize_model(src, out, opt);
  return out;
}

std::vector<float> qz_f32(const WeightStore& s, const std::string& name) {
  const SafetensorsEntry& e = s.entry(name);
  std::vector<float> v(static_cast<size_t>(shape_numel(e.shape)));
  convert_to_f32(e.dtype, s.get(name).data(), v.data(), v.size());
  return v;
}

// Rewrites the single-file model in `src` into `dst` with `edit` applied to each tensor's bytes
// and to the metadata (corrupted-file tests).
void qz_rewrite(const std::string& src, const std::string& dst,
                const std::function<void(const std::string&, DType&, Shape&, std::string&)>& edit,
                const std::function<void(std::map<std::string, std::string>&)>& edit_meta = {}) {
  std::filesystem::create_directories(dst);
  SafetensorsFile f(path_join(src, "model.safetensors"));
  SafetensorsWriter w;
  std::map<std::string, std::string> meta = f.metadata();
  if (edit_meta) edit_meta(meta);
  for (const auto& [k, v] : meta) w.set_metadata(k, v);
  for (const SafetensorsEntry& e : f.entries()) {
    Tensor t = f.tensor(e.name);
    std::string bytes(static_cast<const char*>(t.data()), t.nbytes());
    DType dt = e.dtype;
    Shape sh = e.shape;
    edit(e.name, dt, sh, bytes);
    w.add_raw(e.name, dt, sh, bytes.data(), bytes.size());
  }
  w.write(path_join(dst, "model.safetensors"));
  write_file_atomic(path_join(dst, "config.json"), read_file(path_join(src, "config.json")));
}

const char* kQzProj = "model.layers.1.mlp.experts.3.up_proj.weight";

}  // namespace

// Each quantized tensor's bytes are exactly quantize_row_q of the source rows (so a GGUF writer
// can copy them), everything else is copied byte for byte, and the loader binds block views.
TEST(Quantize, BlocksAreTheReferenceQuantizerOutput) {
  test::TempDir tmp;
  const std::string src = qz_write_source(tmp);
  const WeightStore in(src);
  const DeepSeekConfig cfg = load_hf_config(src);
  std::map<std::string, bool> proj;
  for (const TensorSpec& t : expected_tensors(cfg, true)) proj[t.name] = t.fp8_in_release;
  for (const std::string type : {"q8_0", "q4_0"}) {
    const std::string out = qz_quantize(tmp, src, type);
    const DType bt = *block_type_from_name(type);
    const WeightStore st(out);
    EXPECT_TRUE(file_exists(path_join(out, "tokenizer_config.json")));
    int64_t quantized = 0;
    for (const std::string& name : in.names()) {
      const auto b = find_block_tensor(st, name);
      ASSERT_EQ(b.has_value(), proj.at(name)) << name;
      if (!b) {
        const Tensor a = in.get(name), c = st.get(name);
        ASSERT_EQ(st.entry(name).dtype, in.entry(name).dtype) << name;
        ASSERT_EQ(a.nbytes(), c.nbytes());
        EXPECT_EQ(std::memcmp(a.data(), c.data(), a.nbytes()), 0) << name;
        continue;
      }
      ++quantized;
      EXPECT_EQ(b->type, bt);
      const std::vector<float> w = qz_f32(in, name);
      const int64_t rb = dtype_row_bytes(bt, b->cols);
      std::vector<uint8_t> want(static_cast<size_t>(rb));
      for (int64_t r = 0; r < b->rows; ++r) {
        quantize_row_q(bt, w.data() + r * b->cols, want.data(), b->cols);
        ASSERT_EQ(std::memcmp(want.data(), b->data + r * rb, size_t(rb)), 0) << name << " row " << r;
      }
    }
    EXPECT_GT(quantized, 20);
    auto m = load_model(out);
    EXPECT_TRUE(m->config.quant.gguf_blocks);
    EXPECT_EQ(m->config.quant.gguf_weight_type, type);
    EXPECT_EQ(m->weights.layers[1].moe.experts[3].up_proj.dtype, bt);
    EXPECT_EQ(m->weights.layers[0].self_attn.kv_b_proj.dtype, bt);
    EXPECT_EQ(m->weights.embed_tokens.dtype, DType::kF32);
    EXPECT_EQ(m->weights.lm_head.dtype, DType::kF32);
    EXPECT_EQ(m->weights.mtp.at(0).eh_proj.dtype, DType::kF32);
    EXPECT_EQ(m->weights.mtp.at(0).block.self_attn.o_proj.dtype, bt);
    // Training from a quantized folder (`frugal train --init`) starts from the blocks' exact values.
    ParamStore ps(m->config, true);
    load_params_hf(out, ps);
    const WeightView up = m->weights.layers[1].moe.experts[3].up_proj;
    for (const ParamStore::Entry& e : ps.entries()) {
      if (e.name != kQzProj) continue;
      for (int64_t r = 0; r < up.rows; ++r)
        for (int64_t c = 0; c < up.cols; ++c) ASSERT_EQ(ps.value(e)[r * up.cols + c], up.at(r, c));
    }
  }
}

// The V3 release layout: F8_E4M3 codes, F32 scale_inv [ceil(N/128), ceil(K/128)], the release's
// quantization_config; each weight within e4m3's rounding of the source (relative 2^-4 for normal
// codes, 2^-10 · scale absolute in the subnormal range).
TEST(Quantize, Fp8BlockIsTheReleasedV3Layout) {
  test::TempDir tmp;
  const std::string src = qz_write_source(tmp);
  const std::string out = qz_quantize(tmp, src, "fp8-block");
  const nlohmann::json q = parse_json(read_file(path_join(out, "config.json")), "config.json")["quantization_config"];
  EXPECT_EQ(q, nlohmann::json::parse(R"({"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                                         "weight_block_size": [128, 128]})"));
  const WeightStore in(src), st(out);
  EXPECT_EQ(st.entry(kQzProj).dtype, DType::kF8E4M3);
  EXPECT_EQ(st.entry(std::string(kQzProj) + "_scale_inv").shape, (Shape{1, 1}));  // [32, 64]: one partial block
  auto m = load_model(out);
  EXPECT_TRUE(m->config.quant.fp8);
  const WeightView wv = m->weights.layers[1].moe.experts[3].up_proj;
  ASSERT_EQ(wv.dtype, DType::kF8E4M3);
  ASSERT_NE(wv.scale_inv, nullptr);
  const std::vector<float> w = qz_f32(in, kQzProj);
  for (int64_t r = 0; r < wv.rows; ++r)
    for (int64_t c = 0; c < wv.cols; ++c) {
      const double x = w[size_t(r * wv.cols + c)];
      // (1 + 1e-5): the f32 roundings of x / scale and code · scale.
      EXPECT_LE(std::fabs(x - wv.at(r, c)), std::max(std::fabs(x) / 16, double(wv.scale_inv[0]) / 1024) * (1 + 1e-5))
          << r << "," << c;
    }
  // The largest magnitude of the block is exactly representable: it maps to ±448 · scale.
  float amax = 0;
  for (float x : w) amax = std::max(amax, std::fabs(x));
  EXPECT_FLOAT_EQ(wv.scale_inv[0], amax / 448.0f);
}

// Logits of the quantized models against f32 on one sequence, as a relative RMS error
// ‖Δlogits‖ / ‖logits − mean‖. Expected size (a loose derivation, not a fit): a weight's
// rounding error is uniform with RMS step/√12 — q8_0: step = amax/127, and a block of 32
// N(0, σ²) values has amax ≈ 2.5σ, so 0.6% of σ; q4_0: step = amax/8, so ~9% of σ; fp8 e4m3: 3 mantissa bits, ~2.5% relative. The q8 activations (same 0.6%, more with
// outlier blocks) add to every integer matmul. Independent errors of the ~4 matmuls in series per
// layer and 3 layers + head add in quadrature: × √13 ≈ 3.6. So q8_0 ≈ 3%, fp8 ≈ 9%, q4_0 ≈ 33%;
// the bounds are twice that. A wrong scale, block or nibble order gives errors of order 1 (√2
// for unrelated logits).
TEST(Quantize, LogitsStayCloseToF32) {
  test::TempDir tmp;
  const std::string src = qz_write_source(tmp, 11);
  auto ref = load_model(src);
  Transformer ref_model(ref->config, ref->weights);
  const std::vector<int32_t> ids = {5, 17, 99, 3, 250, 42, 7, 7, 130, 64, 1, 200};
  const int64_t T = int64_t(ids.size()), V = ref->config.vocab_size;
  auto run = [&](Transformer& model) {
    std::vector<float> out(static_cast<size_t>(T * V));
    LatentKvCache cache = model.make_cache(T);
    for (int64_t t = 0; t < T; ++t) model.forward(&ids[size_t(t)], 1, cache, out.data() + t * V);  // decode path
    return out;
  };
  const std::vector<float> y0 = run(ref_model);
  double mean = 0;
  for (float v : y0) mean += v / double(y0.size());
  double spread = 0;
  for (float v : y0) spread += (v - mean) * (v - mean);
  const std::map<std::string, double> bound = {{"q8_0", 0.06}, {"fp8-block", 0.18}, {"q4_0", 0.66}};
  std::map<std::string, double> err;
  for (const auto& [type, b] : bound) {
    auto m = load_model(qz_quantize(tmp, src, type));
    Transformer model(m->config, m->weights);
    const std::vector<float> y = run(model);
    double d = 0;
    for (size_t i = 0; i < y.size(); ++i) d += (double(y[i]) - y0[i]) * (double(y[i]) - y0[i]);
    err[type] = std::sqrt(d / spread);
    std::printf("relative RMS logit error %s: %.4f (bound %.2f)\n", type.c_str(), err[type], b);
    EXPECT_LE(err[type], b) << type;
  }
  EXPECT_LT(err["q8_0"], err["q4_0"]);
}

TEST(Quantize, RefusesBadInput) {
  test::TempDir tmp;
  const std::string src = qz_write_source(tmp);
  const std::string q8 = qz_quantize(tmp, src, "q8_0");
  QuantizeOptions opt;
  opt.type = "q4_0";
  // Already quantized: by its config.json, and by its tensors when the config says nothing.
  test::expect_error([&] { quantize_model(q8, tmp.file("again"), opt); }, ErrorKind::kInvalidArgument,
                     {"config.json", "already quantized", "frugal_gguf_blocks"});
  qz_rewrite(src, tmp.file("has_u8"), [](const std::string& n, DType& dt, Shape& sh, std::string& b) {
    if (n == kQzProj) dt = DType::kU8, sh = {int64_t(b.size())};
  });
  test::expect_error([&] { quantize_model(tmp.file("has_u8"), tmp.file("again2"), opt); }, ErrorKind::kInvalidArgument,
                     {kQzProj, "already quantized"});
  // NaN / Inf weights.
  qz_rewrite(src, tmp.file("nan"), [](const std::string& n, DType&, Shape&, std::string& b) {
    if (n == kQzProj) {
      const float inf = std::numeric_limits<float>::infinity();
      std::memcpy(b.data() + 4 * 70, &inf, 4);  // [1, 6] of [32, 64]
    }
  });
  test::expect_error([&] { quantize_model(tmp.file("nan"), tmp.file("out_nan"), opt); }, ErrorKind::kInvalidArgument,
                     {kQzProj, "[1, 6]", "non-finite"});
  EXPECT_FALSE(std::filesystem::exists(tmp.file("out_nan")));
  // An input dimension that is not a multiple of the block: the micro fixture's kv_b_proj (K = 16).
  const std::string fixture = std::string(FRUGAL_TEST_DATA) + "/fixtures/micro_f32";
  test::expect_error([&] { quantize_model(fixture, tmp.file("out_k"), opt); }, ErrorKind::kInvalidArgument,
                     {"kv_b_proj", "16 input columns", "not a multiple of the 32"});
  for (const auto& e : std::filesystem::directory_iterator(tmp.path()))  // no temporary folder left behind
    EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
  // ... which --exclude leaves out, or fp8-block (partial edge blocks) takes.
  opt.exclude = "kv_b_proj";
  quantize_model(fixture, tmp.file("out_k_ex"), opt);
  EXPECT_EQ(load_model(tmp.file("out_k_ex"))->weights.layers[0].self_attn.kv_b_proj.dtype, DType::kF32);
  opt.exclude = "(";
  test::expect_error([&] { quantize_model(src, tmp.file("out_re"), opt); }, ErrorKind::kInvalidArgument, {"--exclude"});
  opt.exclude = "";
  test::expect_error([&] { quantize_model(src, q8, opt); }, ErrorKind::kInvalidArgument, {"already exists"});
  opt.type = "q5_1";
  test::expect_error([&] { quantize_model(src, tmp.file("out_t"), opt); }, ErrorKind::kInvalidArgument, {"q5_1"});
}

// What the loader refuses in a quantized folder, each naming the tensor.
TEST(Quantize, LoaderValidatesBlockTensors) {
  test::TempDir tmp;
  const std::string src = qz_write_source(tmp);
  const std::string q8 = qz_quantize(tmp, src, "q8_0");
  const std::string key = std::string(kQuantMetadataPrefix) + kQzProj;
  auto no_edit = [](const std::string&, DType&, Shape&, std::string&) {};
  // An Inf block scale (fp16 0x7c00) in row 2, block 1.
  qz_rewrite(q8, tmp.file("inf_scale"), [](const std::string& n, DType&, Shape&, std::string& b) {
    if (n == kQzProj) b[size_t(2 * 68 + 34)] = 0x00, b[size_t(2 * 68 + 35)] = 0x7c;
  });
  test::expect_error([&] { load_model(tmp.file("inf_scale")); }, ErrorKind::kShape, {kQzProj, "row 2, block 1"});
  // Metadata whose shape disagrees with the U8 bytes, or with config.json.
  qz_rewrite(q8, tmp.file("bad_meta"), no_edit, [&](auto& m) { m[key] = R"({"type": "Q4_0", "shape": [32, 64]})"; });
  test::expect_error([&] { load_model(tmp.file("bad_meta")); }, ErrorKind::kShape, {kQzProj, "U8 shape"});
  qz_rewrite(q8, tmp.file("bad_k"), no_edit, [&](auto& m) { m[key] = R"({"type": "Q8_0", "shape": [32, 48]})"; });
  test::expect_error([&] { load_model(tmp.file("bad_k")); }, ErrorKind::kShape, {kQzProj, "multiple of the 32"});
  qz_rewrite(q8, tmp.file("bad_type"), no_edit, [&](auto& m) { m[key] = R"({"type": "Q5_K", "shape": [32, 64]})"; });
  test::expect_error([&] { load_model(tmp.file("bad_type")); }, ErrorKind::kFormat, {kQzProj, "Q5_K"});
  // U8 without its metadata entry.
  qz_rewrite(q8, tmp.file("no_meta"), no_edit, [&](auto& m) { m.erase(key); });
  test::expect_error([&] { load_model(tmp.file("no_meta")); }, ErrorKind::kShape, {kQzProj, "U8"});
  // Blocks where config.json has no quantization_config.
  qz_rewrite(q8, tmp.file("no_cfg"), no_edit);
  write_file_atomic(path_join(tmp.file("no_cfg"), "config.json"), read_file(path_join(src, "config.json")));
  test::expect_error([&] { load_model(tmp.file("no_cfg")); }, ErrorKind::kConfig, {"stored as Q8_0 blocks", "quantization_config"});
  // A non-projection tensor stored as blocks (the embedding is read row by row, not by the kernels).
  qz_rewrite(q8, tmp.file("embed_q"), [](const std::string& n, DType& dt, Shape& sh, std::string& b) {
    if (n != "model.embed_tokens.weight") return;
    std::vector<float> v(b.size() / 4);
    std::memcpy(v.data(), b.data(), b.size());
    std::string q(size_t(256 * 2 * 34), '\0');
    for (int64_t r = 0; r < 256; ++r) quantize_row_q8_0(v.data() + r * 64, q.data() + r * 68, 64);
    b = q, dt = DType::kU8, sh = {256, 68};
  }, [](auto& m) { m[std::string(kQuantMetadataPrefix) + "model.embed_tokens.weight"] = R"({"type": "Q8_0", "shape": [256, 64]})"; });
  test::expect_error([&] { load_model(tmp.file("embed_q")); }, ErrorKind::kShape,
                     {"model.embed_tokens.weight", "only projection weights"});
  // fp8: a zero block scale.
  const std::string f8 = qz_quantize(tmp, src, "fp8-block");
  qz_rewrite(f8, tmp.file("zero_scale"), [](const std::string& n, DType&, Shape&, std::string& b) {
    if (n == std::string(kQzProj) + "_scale_inv") std::memset(b.data(), 0, 4);
  });
  test::expect_error([&] { load_model(tmp.file("zero_scale")); }, ErrorKind::kShape,
                     {std::string(kQzProj) + "_scale_inv", "block [0, 0]", "> 0"});
}
