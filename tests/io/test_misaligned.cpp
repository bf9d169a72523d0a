// Safetensors files whose tensor data is not aligned for its dtype (an odd offset, or a header
// length that shifts the whole data section). Such tensors are served from aligned copies; raw
// pointers into those copies (a checkpoint's spans, a model's WeightViews) must stay valid as long
// as the file does. They used to point into a temporary copy freed as soon as tensor() returned.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "io/hf_loader.h"
#include "io/safetensors.h"
#include "model/transformer.h"
#include "test_util.h"

using namespace frugal;
using namespace frugal::test;

namespace {

// The same file with a header one byte longer (one more trailing space): every tensor moves one
// byte, so nothing wider than a byte is aligned any more.
std::string shift_data_by_one(const std::string& bytes) {
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(uint8_t(bytes[size_t(i)])) << (8 * i);
  return le64(n + 1) + bytes.substr(8, n) + " " + bytes.substr(8 + n);
}

TEST(SafetensorsMisaligned, CopiesLiveAsLongAsTheFile) {
  TempDir dir;
  const std::string path = dir.file("odd.safetensors");
  // "b" (U8, 1 byte) first, so "a" and "c" (F32, same size) start at odd offsets.
  const std::string header =
      R"({"b":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
      R"("a":{"dtype":"F32","shape":[2],"data_offsets":[1,9]},"c":{"dtype":"F32","shape":[2],"data_offsets":[9,17]}})";
  const std::string padded = header + std::string((8 - header.size() % 8) % 8, ' ');
  write_bytes(path, le64(padded.size()) + padded + "\x07" + f32_bytes({4.0f, 5.0f}) + f32_bytes({-1.0f, -2.0f}));
  const SafetensorsFile f(path);
  // The Tensor is dropped at once; its data must not be. Asking for "c" next would reuse freed
  // memory of "a"'s size if the copy had died with the Tensor.
  const float* a = f.tensor("a").data_as<const float>();
  const float* c = f.tensor("c").data_as<const float>();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a) % alignof(float), 0u);
  EXPECT_EQ(a[0], 4.0f);
  EXPECT_EQ(a[1], 5.0f);
  EXPECT_EQ(c[0], -1.0f);
  EXPECT_EQ(c[1], -2.0f);
  EXPECT_EQ(f.tensor("a").data(), a);  // one copy per tensor, not one per call
  // A copy of the file shares its copies; a Tensor keeps its copy after the file is gone.
  Tensor kept;
  {
    const SafetensorsFile g(f);
    EXPECT_EQ(g.tensor("c").data(), c);
    const SafetensorsFile h(path);
    kept = h.tensor("a");
  }
  EXPECT_EQ(kept.data_as<float>()[1], 5.0f);
}

// A model loaded from a misaligned copy of a checkpoint computes the same logits, bit for bit:
// its bf16 matrices and f32 norms (and fp8 block scales) are read through the aligned copies.
TEST(SafetensorsMisaligned, ModelFromMisalignedCheckpointGivesTheSameLogits) {
  for (const char* name : {"micro_bf16", "micro_fp8"}) {
    SCOPED_TRACE(name);
    TempDir dir;
    const std::string src = std::string(FRUGAL_TEST_DATA) + "/fixtures/" + name;
    std::filesystem::copy_file(src + "/config.json", dir.file("config.json"));
    write_bytes(dir.file("model.safetensors"), shift_data_by_one(read_bytes(src + "/model.safetensors")));
    std::vector<float> logits[2];
    for (int k = 0; k < 2; ++k) {
      auto m = load_model(k == 0 ? src : dir.str());
      Transformer model(m->config, m->weights);
      const std::vector<int32_t> ids = {1, 5, 9, 2, 7, 3};
      const int64_t T = int64_t(ids.size());
      logits[k].resize(size_t(T * m->config.vocab_size));
      LatentKvCache cache = model.make_cache(T);
      model.forward(ids.data(), T, cache, logits[k].data());
    }
    ASSERT_EQ(logits[0].size(), logits[1].size());
    EXPECT_EQ(std::memcmp(logits[0].data(), logits[1].data(), logits[0].size() * sizeof(float)), 0);
  }
}

}  // namespace
