// GGUF in and out: export of a random micro model and loading it back gives bit-identical logits
// (f32; q8_0 / q4_0 against `frugal quantize`'s blocks; bf16 against the bf16 model itself), and
// the reader refuses every malformed file of issue 14's list with an Error naming the field.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/file.h"
#include "core/gguf.h"
#include "core/gguf_writer.h"
#include "io/gguf_export.h"
#include "io/gguf_model.h"
#include "io/hf_loader.h"
#include "io/quantize.h"
#include "io/random_model.h"
#include "model/transformer.h"
#include "test_util.h"

using namespace frugal;

namespace {

std::vector<float> gg_logits(const LoadedModel& m) {
  Transformer model(m.config, m.weights);
  const std::vector<int32_t> ids = {5, 17, 99, 3, 250, 42, 7};
  const int64_t T = int64_t(ids.size()), V = m.config.vocab_size;
  std::vector<float> out(static_cast<size_t>(T * V));
  LatentKvCache cache = model.make_cache(T);
  model.forward(ids.data(), 3, cache, out.data());  // a prefill of 3, then decode steps
  for (int64_t t = 3; t < T; ++t) model.forward(&ids[size_t(t)], 1, cache, out.data() + t * V);
  return out;
}

std::string gg_export(const test::TempDir& tmp, const std::string& dir, const std::string& type) {
  GgufWriter w;
  add_gguf_model(dir, type, w);
  const std::string out = tmp.file(type + ".gguf");
  w.write(out);
  return out;
}

std::string gg_random(const test::TempDir& tmp, DType dt = DType::kF32) {
  RandomModelOptions opt;
  opt.seed = 7;
  opt.dtype = dt;
  const std::string dir = tmp.file(std::string(dtype_name(dt)));
  write_random_model(dir, random_model_preset("micro"), opt);
  return dir;
}

void gg_expect_same(const std::vector<float>& a, const std::vector<float>& b) {
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
}

}  // namespace

TEST(Gguf, F32RoundTripIsBitIdentical) {
  test::TempDir tmp;
  const std::string dir = gg_random(tmp);
  const std::string g = gg_export(tmp, dir, "f32");
  auto a = load_model(dir);
  auto b = load_model(g);  // the same entry point generate / logits / serve use
  ASSERT_NE(loaded_gguf_file(*b), nullptr);
  EXPECT_EQ(loaded_gguf_file(*b)->get_string("general.architecture"), "deepseek2");
  EXPECT_TRUE(b->config.rope_scaling.yarn);
  EXPECT_EQ(b->config.topk_method, a->config.topk_method);
  gg_expect_same(gg_logits(*a), gg_logits(*b));
}

// q8_0 / q4_0: the exported blocks are `frugal quantize`'s (same quantizer, same tensors), and
// the split k_b / v_b stay F32 like kv_b_proj excluded from quantization.
TEST(Gguf, QuantizedExportMatchesQuantizeBitForBit) {
  test::TempDir tmp;
  const std::string dir = gg_random(tmp);
  for (const std::string type : {"q8_0", "q4_0"}) {
    QuantizeOptions qo;
    qo.type = type;
    qo.exclude = "kv_b_proj";
    const std::string q = tmp.file("q_" + type);
    quantize_model(dir, q, qo);
    const std::vector<float> ref = gg_logits(*load_model(q));
    gg_expect_same(ref, gg_logits(*load_model(gg_export(tmp, dir, type))));
    // From the quantized folder the blocks are copied, not requantized: same logits again.
    gg_expect_same(ref, gg_logits(*load_model(gg_export(tmp, q, type))));
  }
}

TEST(Gguf, Bf16ExportEqualsTheBf16Model) {
  test::TempDir tmp;
  const std::string dir = gg_random(tmp, DType::kBF16);
  auto a = load_model(dir);
  auto b = load_model(gg_export(tmp, dir, "bf16"));
  // Same bf16 values; only the router is widened to F32 (llama.cpp keeps it F32), which changes
  // the kernel but not the products: bf16·f32 products are exact in f32, only the summation
  // order may differ, ~K·u relative on the router logits (K = 64). Bound 1e-4 of the logit scale.
  const std::vector<float> x = gg_logits(*a), y = gg_logits(*b);
  double scale = 0, diff = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    scale = std::max(scale, double(std::fabs(x[i])));
    diff = std::max(diff, double(std::fabs(x[i] - y[i])));
  }
  EXPECT_LE(diff, 1e-4 * scale);
}

// ---- malformed files: a hand-encoded GGUF, one field broken at a time.
namespace {

struct GgRaw {
  std::string s;
  void u32(uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }
  void u64(uint64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); }
  void str(const std::string& v) { u64(v.size()); s += v; }
};

struct GgSpec {
  uint32_t version = 3;
  uint64_t n_tensors = 2, n_kv = 2;
  std::string arch = "deepseek2";
  uint32_t alignment = 32;
  std::string name0 = "a.weight", name1 = "b.weight";
  uint32_t n_dims0 = 2, type1 = 0;
  uint64_t ne0 = 4, off1 = 64, array_count = 2;
  size_t truncate = 0;  // bytes cut from the end
};

// Two F32 tensors: a [4, 4] (64 bytes at 0) and b [8] (32 bytes at 64); keys: architecture and a
// 2-element u32 array.
std::string gg_bytes(const GgSpec& p) {
  GgRaw r;
  r.s = "GGUF";
  r.u32(p.version);
  r.u64(p.n_tensors);
  r.u64(p.n_kv + (p.alignment != 32));
  r.str("general.architecture");
  r.u32(8);
  r.str(p.arch);
  r.str("x.list");
  r.u32(9);
  r.u32(4);
  r.u64(p.array_count);
  r.u32(1);
  r.u32(2);
  if (p.alignment != 32) {
    r.str("general.alignment");
    r.u32(4);
    r.u32(p.alignment);
  }
  r.str(p.name0);
  r.u32(p.n_dims0);
  for (uint32_t d = 0; d < p.n_dims0; ++d) r.u64(d == 0 ? p.ne0 : 4);
  r.u32(0);
  r.u64(0);
  r.str(p.name1);
  r.u32(1);
  r.u64(8);
  r.u32(p.type1);
  r.u64(p.off1);
  const uint64_t a = p.alignment;
  r.s.append(size_t((a - r.s.size() % a) % a), '\0');
  r.s.append(96, '\x01');
  r.s.resize(r.s.size() - p.truncate);
  return r.s;
}

GgufFile gg_parse(const GgSpec& p) { return GgufFile(std::make_shared<const std::string>(gg_bytes(p)), "t.gguf"); }

void gg_expect_error(const GgSpec& p, const std::string& needle) {
  try {
    gg_parse(p);
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("t.gguf"), std::string::npos) << e.what();
  }
}

}  // namespace

TEST(Gguf, ReaderAcceptsTheValidFileAndRefusesEachBrokenField) {
  const GgufFile f = gg_parse({});
  ASSERT_EQ(f.tensors().size(), 2u);
  EXPECT_EQ(f.tensor("b.weight")->ne, std::vector<int64_t>{8});
  EXPECT_EQ(f.tensor("b.weight")->data - f.tensor("a.weight")->data, 64);
  EXPECT_EQ(f.get_array("x.list", GgufType::kU8)->int_at(1), 2);
  EXPECT_EQ(f.get_string("general.architecture"), "deepseek2");

  GgSpec p;
  p.version = 1;
  gg_expect_error(p, "version 1");
  p = {};
  p.n_tensors = uint64_t(1) << 60;
  gg_expect_error(p, "tensor_count");
  p = {};
  p.n_kv = uint64_t(1) << 62;
  gg_expect_error(p, "metadata_kv_count");
  p = {};
  p.array_count = uint64_t(1) << 61;
  gg_expect_error(p, "x.list");
  p = {};
  p.truncate = 20;  // tensor b's bytes run past the end
  gg_expect_error(p, "b.weight");
  p = {};
  p.truncate = 300;  // cut inside the header
  gg_expect_error(p, "truncated");
  p = {};
  p.off1 = 1 << 20;
  gg_expect_error(p, "offset past the end");
  p = {};
  p.off1 = 48;  // misaligned (and overlapping a)
  gg_expect_error(p, "not a multiple of the alignment");
  p = {};
  p.off1 = 32;  // aligned but inside a
  gg_expect_error(p, "overlap");
  p = {};
  p.name1 = p.name0;
  gg_expect_error(p, "duplicate tensor name 'a.weight'");
  p = {};
  p.type1 = 77;
  gg_expect_error(p, "unknown ggml tensor type 77");
  p = {};
  p.n_dims0 = 5;
  gg_expect_error(p, "n_dims 5");
  p = {};
  p.ne0 = uint64_t(1) << 62;  // ne product 2^64 overflows
  gg_expect_error(p, "overflow");
  p = {};
  p.alignment = 24;
  gg_expect_error(p, "power of two");
  p = {};
  p.type1 = 8;  // Q8_0 with ne[0] = 8: not a whole block
  gg_expect_error(p, "multiple of Q8_0's block");
}

TEST(Gguf, LoaderNamesUnknownArchitectureAndTypes) {
  test::TempDir tmp;
  GgSpec p;
  p.arch = "llama";
  const std::string f1 = tmp.file("llama.gguf");
  write_file_atomic(f1, gg_bytes(p));
  try {
    load_model(f1);
    ADD_FAILURE() << "loaded an unknown architecture";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("general.architecture is 'llama'"), std::string::npos) << e.what();
  }
  // A known ggml type frugal cannot compute with is named with the tensor.
  const std::string dir = gg_random(tmp);
  GgufWriter w;
  add_gguf_model(dir, "f32", w);
  std::string bytes = w.serialize();
  const GgufFile ok(std::make_shared<const std::string>(bytes), "x");
  const GgufTensor* t = ok.tensor("blk.0.attn_output.weight");
  ASSERT_NE(t, nullptr);
  // Its type field (the u32 after name and ne) becomes I32 (id 26): the same 4 bytes per value,
  // so the file stays valid, but not a type a projection may have.
  const size_t name_at = bytes.find("blk.0.attn_output.weight");
  const size_t type_at = name_at + t->name.size() + 4 + 8 * t->ne.size();
  const uint32_t i32 = 26;
  std::memcpy(&bytes[type_at], &i32, 4);
  const std::string f2 = tmp.file("i32.gguf");
  write_file_atomic(f2, bytes);
  try {
    load_model(f2);
    ADD_FAILURE() << "loaded an I32 projection";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'blk.0.attn_output.weight' has type I32"), std::string::npos) << e.what();
  }
}
