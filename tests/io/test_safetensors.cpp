#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>

#include "core/error.h"
#include "core/rng.h"
#include "test_util.h"
#include "io/safetensors.h"

using namespace frugal;
using namespace frugal::test;

namespace {

// A safetensors file from a literal header and data section.
std::string st_bytes(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

const std::string kOneTensor = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
const std::string kTwoFloats = std::string(8, '\x01');

}  // namespace

// ---------------------------------------------------------------------------------------------
// Handcrafted corruptions, one test case each (in the spirit of llama.cpp's test-gguf.cpp).

struct Corruption {
  const char* name;
  std::function<std::string()> bytes;
  std::vector<std::string> needles;  // the file path is always checked too
  ErrorKind kind = ErrorKind::kFormat;
};

// gtest names a failing case by its parameter; print the case name, not its bytes.
void PrintTo(const Corruption& c, std::ostream* os) { *os << c.name; }

class SafetensorsCorrupt : public ::testing::TestWithParam<Corruption> {};

TEST_P(SafetensorsCorrupt, IsRejectedNamingTheFile) {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  write_bytes(path, GetParam().bytes());
  std::vector<std::string> needles = GetParam().needles;
  needles.push_back(path);
  expect_error([&] { SafetensorsFile f(path); }, GetParam().kind, needles);
}

namespace {

std::string tensor_json(const std::string& name, const std::string& dtype, const std::string& shape, uint64_t b,
                        uint64_t e) {
  return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
         std::to_string(b) + "," + std::to_string(e) + "]}";
}

std::string deep_nesting(size_t depth) {
  return "{\"__metadata__\":" + std::string(depth, '[') + std::string(depth, ']') + "}";
}

const std::vector<Corruption> kCorruptions = {
    {"EmptyFile", [] { return std::string(); }, {"too small"}},
    {"SevenBytes", [] { return std::string(7, '\0'); }, {"too small"}},
    {"HeaderLengthMaxU64", [] { return le64(~uint64_t(0)) + "{}"; }, {"too large"}},
    {"HeaderLengthOverLimit", [] { return le64(100'000'001) + "{}"; }, {"too large"}},
    {"HeaderLongerThanFile", [] { return le64(100) + kOneTensor; }, {"exceeds the file size"}},
    {"HeaderNotUtf8", [] { return st_bytes("{\"a\xff\":1}", ""); }, {"UTF-8"}},
    {"HeaderOverlongUtf8", [] { return st_bytes("{\"a\xc0\xaf\":1}", ""); }, {"UTF-8"}},
    {"HeaderSurrogateUtf8", [] { return st_bytes("{\"a\xed\xa0\x80\":1}", ""); }, {"UTF-8"}},
    {"HeaderNotJson", [] { return st_bytes("hello world", ""); }, {"not valid JSON"}},
    {"HeaderTruncatedJson", [] { return st_bytes(kOneTensor.substr(0, 20), ""); }, {"not valid JSON"}},
    {"HeaderNotObject", [] { return st_bytes("[1, 2]", ""); }, {"must be a JSON object", "array"}},
    {"TrailingGarbage", [] { return st_bytes(kOneTensor + " x", kTwoFloats); }, {"not valid JSON"}},
    // nlohmann's lexer takes a NUL byte for the end of input, which would hide whatever follows.
    {"NulPadding", [] { return st_bytes(kOneTensor + std::string(2, '\0'), kTwoFloats); }, {"NUL byte"}},
    {"NulThenGarbage", [] { return st_bytes(kOneTensor + std::string(1, '\0') + "garbage", kTwoFloats); },
     {"NUL byte"}},
    {"DeepNesting", [] { return st_bytes(deep_nesting(100000), ""); }, {"nested deeper than 2"}},
    {"NestedMetadataValue", [] { return st_bytes(R"({"__metadata__":{"k":{"x":[1]}}})", ""); }, {"nested deeper"}},
    {"EntryNotObject", [] { return st_bytes(R"({"a":5})", ""); }, {"'a'", "expected an object"}},
    {"MissingDtype", [] { return st_bytes(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", kTwoFloats); },
     {"'a'", "missing 'dtype'"}},
    {"MissingShape", [] { return st_bytes(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", kTwoFloats); },
     {"'a'", "missing 'shape'"}},
    {"MissingOffsets", [] { return st_bytes(R"({"a":{"dtype":"F32","shape":[2]}})", kTwoFloats); },
     {"'a'", "missing 'data_offsets'"}},
    {"DtypeNotString",
     [] { return st_bytes(R"({"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}})", kTwoFloats); },
     {"'a'", "'dtype' must be a string"}},
    {"ShapeNotArray",
     [] { return st_bytes(R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", kTwoFloats); },
     {"'a'", "'shape' must be an array"}},
    {"ShapeFloatDim",
     [] { return st_bytes(R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", kTwoFloats); },
     {"'a'", "non-integer dimension"}},
    {"ShapeStringDim",
     [] { return st_bytes(R"({"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}})", kTwoFloats); },
     {"'a'", "non-integer dimension"}},
    {"OffsetsOneValue",
     [] { return st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8]}})", kTwoFloats); },
     {"'a'", "data_offsets"}},
    {"OffsetsThreeValues",
     [] { return st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}})", kTwoFloats); },
     {"'a'", "data_offsets"}},
    {"OffsetsNegative",
     [] { return st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", kTwoFloats); },
     {"'a'", "data_offsets"}},
    {"OffsetsNotArray",
     [] { return st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":"0,8"}})", kTwoFloats); },
     {"'a'", "data_offsets"}},
    {"UnknownDtype", [] { return st_bytes("{" + tensor_json("a", "F12", "[2]", 0, 8) + "}", kTwoFloats); },
     {"'a'", "unknown dtype 'F12'"}},
    {"NegativeDim", [] { return st_bytes("{" + tensor_json("a", "F32", "[-2]", 0, 8) + "}", kTwoFloats); },
     {"'a'", "negative dimension"}},
    {"DimPastInt64",
     [] { return st_bytes("{" + tensor_json("a", "U8", "[9223372036854775808]", 0, 8) + "}", kTwoFloats); },
     {"'a'", "does not fit int64"}},
    {"NumelOverflow",
     [] { return st_bytes("{" + tensor_json("a", "U8", "[4294967296,4294967296,2]", 0, 8) + "}", kTwoFloats); },
     {"'a'", "more elements than fit"}},
    {"ByteCountOverflow",
     [] { return st_bytes("{" + tensor_json("a", "F64", "[4611686018427387904]", 0, 8) + "}", kTwoFloats); },
     {"'a'", "overflows"}},
    {"EndBeforeBegin", [] { return st_bytes("{" + tensor_json("a", "F32", "[2]", 8, 0) + "}", kTwoFloats); },
     {"'a'", "end 0 < begin 8"}},
    {"ByteCountMismatch", [] { return st_bytes("{" + tensor_json("a", "F32", "[3]", 0, 8) + "}", kTwoFloats); },
     {"'a'", "span 8 bytes", "needs 12 bytes"}},
    {"Gap",
     [] {
       return st_bytes("{" + tensor_json("a", "F32", "[2]", 0, 8) + "," + tensor_json("b", "F32", "[2]", 12, 20) + "}",
                       std::string(20, '\0'));
     },
     {"gap of 4 bytes", "'b'", "'a'"}},
    {"Overlap",
     [] {
       return st_bytes("{" + tensor_json("a", "F32", "[2]", 0, 8) + "," + tensor_json("b", "F32", "[2]", 4, 12) + "}",
                       std::string(12, '\0'));
     },
     {"'b'", "overlaps tensor 'a'"}},
    {"ZeroSizedInsideAnother",
     [] {
       return st_bytes("{" + tensor_json("a", "F32", "[2]", 0, 8) + "," + tensor_json("z", "F32", "[0]", 4, 4) + "}",
                       kTwoFloats);
     },
     {"'z'", "overlaps"}},
    {"FirstBeginNotZero",
     [] { return st_bytes("{" + tensor_json("a", "F32", "[2]", 4, 12) + "}", kTwoFloats + "xxxx"); },
     {"'a'", "begins at 4, expected 0"}},
    {"DataLongerThanDeclared", [] { return st_bytes(kOneTensor, kTwoFloats + "x"); },
     {"declares 8 bytes", "holds 9"}},
    {"TruncatedInLastTensor",
     [] {
       return st_bytes("{" + tensor_json("a", "F32", "[2]", 0, 8) + "," + tensor_json("b", "F32", "[2]", 8, 16) + "}",
                       std::string(15, '\0'));
     },
     {"declares 16 bytes", "holds 15"}},
    {"NoDataAtAll", [] { return st_bytes(kOneTensor, ""); }, {"declares 8 bytes", "holds 0"}},
    {"DuplicateTensorName",
     [] {
       return st_bytes("{" + tensor_json("a", "F32", "[2]", 0, 8) + "," + tensor_json("a", "F32", "[2]", 8, 16) + "}",
                       std::string(16, '\0'));
     },
     {"duplicate tensor name 'a'"}},
    {"DuplicateMetadataKey",
     [] { return st_bytes(R"({"__metadata__":{"k":"1","k":"2"},)" + kOneTensor.substr(1), kTwoFloats); },
     {"duplicate key 'k'", "__metadata__"}},
    {"DuplicateMetadataObject",
     [] { return st_bytes(R"({"__metadata__":{},"__metadata__":{},)" + kOneTensor.substr(1), kTwoFloats); },
     {"duplicate tensor name '__metadata__'"}},
    {"DuplicateFieldInEntry",
     [] { return st_bytes(R"({"a":{"dtype":"F32","dtype":"F16","shape":[2],"data_offsets":[0,8]}})", kTwoFloats); },
     {"duplicate key 'dtype'", "'a'"}},
    {"MetadataNotObject", [] { return st_bytes(R"({"__metadata__":"x",)" + kOneTensor.substr(1), kTwoFloats); },
     {"__metadata__", "must be an object"}},
    {"MetadataNull", [] { return st_bytes(R"({"__metadata__":null,)" + kOneTensor.substr(1), kTwoFloats); },
     {"__metadata__", "must be an object"}},
    {"MetadataNumberValue",
     [] { return st_bytes(R"({"__metadata__":{"k":1},)" + kOneTensor.substr(1), kTwoFloats); },
     {"__metadata__", "'k'", "must be a string"}},
    {"MetadataNestedValue",
     [] { return st_bytes(R"({"__metadata__":{"k":{"x":"y"}},)" + kOneTensor.substr(1), kTwoFloats); },
     {"__metadata__", "'k'", "must be a string"}},
};

}  // namespace

INSTANTIATE_TEST_SUITE_P(Table, SafetensorsCorrupt, ::testing::ValuesIn(kCorruptions),
                         [](const ::testing::TestParamInfo<Corruption>& info) { return info.param.name; });

TEST(Safetensors, MissingFileIsAnIoError) {
  TempDir dir;
  const std::string path = dir.file("absent.safetensors");
  expect_error([&] { SafetensorsFile f(path); }, ErrorKind::kIo, {path});
}

// ---------------------------------------------------------------------------------------------
// Valid edge cases

TEST(Safetensors, WhitespacePaddingAndEmptyHeaderAreAccepted) {
  TempDir dir;
  const std::string path = dir.file("pad.safetensors");
  write_bytes(path, st_bytes(" \n" + kOneTensor + "  \t\r\n   ", f32_bytes({1.5f, -2.0f})));
  SafetensorsFile f(path);
  ASSERT_EQ(f.entries().size(), 1u);
  Tensor t = f.tensor("a");
  EXPECT_EQ(t.dtype(), DType::kF32);
  EXPECT_EQ(t.shape(), (Shape{2}));
  EXPECT_EQ(t.data_as<float>()[0], 1.5f);
  EXPECT_EQ(t.data_as<float>()[1], -2.0f);

  write_bytes(path, st_bytes("{}", ""));
  SafetensorsFile empty(path);
  EXPECT_TRUE(empty.entries().empty());
  EXPECT_TRUE(empty.metadata().empty());
}

TEST(Safetensors, ZeroElementAndScalarTensors) {
  TempDir dir;
  const std::string path = dir.file("edge.safetensors");
  const std::string header = "{" + tensor_json("s", "F32", "[]", 0, 4) + "," + tensor_json("z0", "F32", "[0]", 4, 4) +
                             "," + tensor_json("z2", "BF16", "[2,0]", 4, 4) + "," +
                             tensor_json("z_end", "I64", "[0,5]", 4, 4) + "}";
  write_bytes(path, st_bytes(header, f32_bytes({3.25f})));
  SafetensorsFile f(path);
  EXPECT_EQ(f.entries().size(), 4u);
  EXPECT_EQ(f.entries()[0].name, "s");  // file order: by offset
  Tensor s = f.tensor("s");
  EXPECT_EQ(s.shape(), Shape{});
  EXPECT_EQ(s.numel(), 1);
  EXPECT_EQ(s.data_as<float>()[0], 3.25f);
  EXPECT_EQ(f.tensor("z0").numel(), 0);
  EXPECT_EQ(f.tensor("z2").shape(), (Shape{2, 0}));
  EXPECT_EQ(f.tensor("z_end").nbytes(), 0u);
}

TEST(Safetensors, UnknownEntryFieldsAreIgnoredLikeTheReferenceReader) {
  TempDir dir;
  const std::string path = dir.file("extra.safetensors");
  write_bytes(path, st_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"note":"x"}})", kTwoFloats));
  EXPECT_TRUE(SafetensorsFile(path).has("a"));
}

TEST(Safetensors, FiftyMegabyteMetadataBlob) {
  TempDir dir;
  const std::string path = dir.file("big_meta.safetensors");
  const std::string blob(50u << 20, 'm');
  write_bytes(path, st_bytes(R"({"__metadata__":{"blob":")" + blob + R"("},)" + kOneTensor.substr(1), kTwoFloats));
  SafetensorsFile f(path);
  ASSERT_EQ(f.metadata().count("blob"), 1u);
  EXPECT_EQ(f.metadata().at("blob").size(), blob.size());
  EXPECT_TRUE(f.has("a"));
}

TEST(Safetensors, UnalignedTensorIsServedAsAnAlignedCopy) {
  TempDir dir;
  const std::string path = dir.file("unaligned.safetensors");
  // "b" (U8, 1 byte) first, so "a" (F32) starts at an odd offset.
  std::string header = "{" + tensor_json("b", "U8", "[1]", 0, 1) + "," + tensor_json("a", "F32", "[2]", 1, 9) + "}";
  header.append((8 - header.size() % 8) % 8, ' ');  // data section 8-aligned, so "a" sits at 1 mod 8
  write_bytes(path, st_bytes(header, "\x07" + f32_bytes({4.0f, 5.0f})));
  SafetensorsFile f(path);
  Tensor a = f.tensor("a");
  EXPECT_EQ(reinterpret_cast<uintptr_t>(a.data()) % 4, 0u);
  EXPECT_EQ(a.data_as<float>()[0], 4.0f);
  EXPECT_EQ(a.data_as<float>()[1], 5.0f);
}

TEST(Safetensors, MissingTensorNamesFileAndTensor) {
  TempDir dir;
  const std::string path = dir.file("one.safetensors");
  write_bytes(path, st_bytes(kOneTensor, kTwoFloats));
  SafetensorsFile f(path);
  EXPECT_FALSE(f.has("nope"));
  expect_error([&] { f.tensor("nope"); }, ErrorKind::kShape, {path, "'nope'"});
  expect_error([&] { f.entry("nope"); }, ErrorKind::kShape, {path, "'nope'"});
}

TEST(Safetensors, TensorKeepsTheMappingAlive) {
  TempDir dir;
  const std::string path = dir.file("alive.safetensors");
  write_bytes(path, st_bytes(kOneTensor, f32_bytes({7.0f, 8.0f})));
  Tensor t;
  {
    SafetensorsFile f(path);
    t = f.tensor("a");
  }
  EXPECT_EQ(t.data_as<float>()[1], 8.0f);
}

// ---------------------------------------------------------------------------------------------
// Writer

TEST(SafetensorsWriter, RejectsDuplicatesReservedNamesAndWrongSizes) {
  SafetensorsWriter w;
  Tensor t = Tensor::zeros(DType::kF32, {2});
  w.add("x", t);
  expect_error([&] { w.add("x", t); }, ErrorKind::kInvalidArgument, {"'x'", "twice"});
  expect_error([&] { w.add("__metadata__", t); }, ErrorKind::kInvalidArgument, {"reserved"});
  expect_error([&] { w.add("bad\xff", t); }, ErrorKind::kInvalidArgument, {"UTF-8"});
  float v[3] = {};
  expect_error([&] { w.add_raw("y", DType::kF32, {2}, v, sizeof(v)); }, ErrorKind::kShape,
               {"'y'", "needs 8 bytes", "got 12"});
}

TEST(SafetensorsWriter, HeaderIsPaddedWithSpacesTo8Bytes) {
  SafetensorsWriter w;
  const uint8_t b = 1;
  w.add_raw("odd", DType::kU8, {1}, &b, 1);
  w.set_metadata("k", "v");
  const std::string bytes = w.serialize();
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  ASSERT_EQ(bytes.size(), 8 + n + 1);
  const std::string header = bytes.substr(8, n);
  const size_t close = header.rfind('}');
  EXPECT_EQ(header.find_first_not_of(' ', close + 1), std::string::npos) << header;
}

TEST(SafetensorsWriter, NonContiguousTensorIsWrittenInLogicalOrder) {
  TempDir dir;
  Tensor m = Tensor::zeros(DType::kF32, {2, 3});
  for (int i = 0; i < 6; ++i) m.data_as<float>()[i] = float(i);
  SafetensorsWriter w;
  w.add("t", m.transpose(0, 1));  // [3, 2]: 0 3 1 4 2 5
  const std::string path = dir.file("t.safetensors");
  w.write(path);
  SafetensorsFile f(path);
  Tensor t = f.tensor("t");
  EXPECT_EQ(t.shape(), (Shape{3, 2}));
  const float expected[6] = {0, 3, 1, 4, 2, 5};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(t.data_as<float>()[i], expected[i]);
  // The atomic write leaves nothing but the file behind.
  EXPECT_EQ(dir.count(), 1);
}

// Property: random tensors of every dtype survive serialize -> write -> mmap read bit for bit,
// and each one lands at an address aligned to its element size.
TEST(SafetensorsWriter, RandomRoundTripIsExactAndAligned) {
  TempDir dir;
  const std::string path = dir.file("rt.safetensors");
  const DType kAll[] = {DType::kF32, DType::kF16, DType::kBF16, DType::kF8E4M3, DType::kF8E5M2,
                        DType::kF64, DType::kBool, DType::kU8,  DType::kI8,     DType::kI16,
                        DType::kU16, DType::kI32,  DType::kU32, DType::kI64,    DType::kU64};
  Rng rng(1234);
  for (int iter = 0; iter < 60; ++iter) {
    SCOPED_TRACE(iter);
    struct Want { DType dtype; Shape shape; std::string bytes; };
    std::map<std::string, Want> want;
    std::map<std::string, std::string> meta;
    SafetensorsWriter w;
    const int n = int(rng.below(9));  // 0..8 tensors
    for (int k = 0; k < n; ++k) {
      const DType dt = kAll[rng.below(std::size(kAll))];
      Shape shape(rng.below(4));
      for (auto& d : shape) d = int64_t(rng.below(6));
      std::string bytes(size_t(shape_numel(shape)) * dtype_size(dt), '\0');
      for (char& c : bytes) c = char(rng.below(256));
      const std::string name = fmt::format("t{}.{}", rng.below(1000), k);
      w.add_raw(name, dt, shape, bytes.data(), bytes.size());
      want[name] = {dt, shape, bytes};
    }
    for (uint64_t k = 0, m = rng.below(3); k < m; ++k) {
      const std::string key = fmt::format("key{}", k);
      meta[key] = std::string(rng.below(20), char('a' + k));
      w.set_metadata(key, meta[key]);
    }
    w.write(path);

    SafetensorsFile f(path);
    EXPECT_EQ(f.metadata(), meta);
    ASSERT_EQ(f.entries().size(), want.size());
    for (const auto& [name, wt] : want) {
      SCOPED_TRACE(name);
      Tensor t = f.tensor(name);
      EXPECT_EQ(t.dtype(), wt.dtype);
      EXPECT_EQ(t.shape(), wt.shape);
      ASSERT_EQ(t.nbytes(), wt.bytes.size());
      if (!wt.bytes.empty()) {
        EXPECT_EQ(std::memcmp(t.data(), wt.bytes.data(), wt.bytes.size()), 0);
      }
      EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % dtype_size(t.dtype()), 0u);
      // Zero copy: the view points into the mapping itself.
      const SafetensorsEntry& e = f.entry(name);
      EXPECT_EQ(e.end - e.begin, wt.bytes.size());
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Real fixtures

TEST(SafetensorsFixtures, MicroF32Loads) {
  SafetensorsFile f(std::string(FRUGAL_TEST_DATA) + "/fixtures/micro_f32/model.safetensors");
  ASSERT_TRUE(f.has("model.embed_tokens.weight"));
  const SafetensorsEntry& e = f.entry("model.embed_tokens.weight");
  EXPECT_EQ(e.dtype, DType::kF32);
  EXPECT_EQ(e.shape, (Shape{256, 64}));
  Tensor t = f.tensor("model.embed_tokens.weight");
  EXPECT_EQ(t.nbytes(), 256u * 64 * 4);
  EXPECT_TRUE(std::isfinite(t.get_f32({255, 63})));
  EXPECT_EQ(f.metadata().at("format"), "pt");
}

TEST(SafetensorsFixtures, MicroFp8HasE4M3WeightsWithF32Scales) {
  SafetensorsFile f(std::string(FRUGAL_TEST_DATA) + "/fixtures/micro_fp8/model.safetensors");
  const std::string w = "model.layers.0.self_attn.q_a_proj.weight";
  EXPECT_EQ(f.entry(w).dtype, DType::kF8E4M3);
  EXPECT_EQ(f.entry(w).shape, (Shape{32, 64}));
  EXPECT_EQ(f.entry(w + "_scale_inv").dtype, DType::kF32);
  EXPECT_EQ(f.entry(w + "_scale_inv").shape, (Shape{1, 2}));
  EXPECT_GT(f.tensor(w + "_scale_inv").get_f32({0, 1}), 0.0f);
}

TEST(SafetensorsFixtures, EveryFixtureCheckpointLoads) {
  for (const char* rel : {"micro_f32/model.safetensors", "micro_bf16/model.safetensors", "micro_fp8/model.safetensors",
                          "micro_v2/model.safetensors", "oracles/train_micro_f32_grads.safetensors",
                          "oracles/train_micro_f32_after_adamw.safetensors"}) {
    SCOPED_TRACE(rel);
    SafetensorsFile f(std::string(FRUGAL_TEST_DATA) + "/fixtures/" + rel);
    EXPECT_FALSE(f.entries().empty());
    for (const SafetensorsEntry& e : f.entries())
      EXPECT_EQ(reinterpret_cast<uintptr_t>(f.tensor(e.name).data()) % dtype_size(e.dtype), 0u) << e.name;
  }
}

TEST(WeightStoreFixtures, MicroF32Directory) {
  const std::string dir = std::string(FRUGAL_TEST_DATA) + "/fixtures/micro_f32";
  WeightStore ws(dir);
  EXPECT_TRUE(ws.has("model.embed_tokens.weight"));
  EXPECT_EQ(ws.get("model.embed_tokens.weight").shape(), (Shape{256, 64}));
  const auto names = ws.names();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_EQ(ws.file_of("model.embed_tokens.weight"), dir + "/model.safetensors");
  EXPECT_GT(ws.total_bytes(), 256 * 64 * 4);
}

// ---------------------------------------------------------------------------------------------
// WeightStore

namespace {

// Writes a shard holding F32 tensors of shape [2] filled with `fill`.
void write_shard(const std::string& path, const std::vector<std::string>& names, float fill = 1.0f) {
  SafetensorsWriter w;
  for (const std::string& n : names) {
    const float v[2] = {fill, fill};
    w.add_raw(n, DType::kF32, {2}, v, sizeof(v));
  }
  w.write(path);
}

std::string index_json(const std::vector<std::pair<std::string, std::string>>& map) {
  std::string s = R"({"metadata":{"total_size":16},"weight_map":{)";
  for (size_t i = 0; i < map.size(); ++i)
    s += fmt::format("{}\"{}\":\"{}\"", i ? "," : "", map[i].first, map[i].second);
  return s + "}}";
}

}  // namespace

TEST(WeightStore, ShardedIndexResolvesNames) {
  TempDir dir;
  write_shard(dir.file("model-00001-of-00002.safetensors"), {"a", "b"}, 1.0f);
  write_shard(dir.file("model-00002-of-00002.safetensors"), {"c"}, 2.0f);
  write_bytes(dir.file("model.safetensors.index.json"),
              index_json({{"a", "model-00001-of-00002.safetensors"},
                          {"b", "model-00001-of-00002.safetensors"},
                          {"c", "model-00002-of-00002.safetensors"}}));
  WeightStore ws(dir.str());
  EXPECT_EQ(ws.names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(ws.file_of("c"), dir.file("model-00002-of-00002.safetensors"));
  EXPECT_EQ(ws.get("c").data_as<float>()[0], 2.0f);
  EXPECT_EQ(ws.get("a").data_as<float>()[1], 1.0f);
  EXPECT_EQ(ws.entry("b").shape, (Shape{2}));
  EXPECT_EQ(ws.total_bytes(), 24);
  expect_error([&] { ws.get("d"); }, ErrorKind::kShape, {dir.str(), "'d'"});
  expect_error([&] { ws.file_of("d"); }, ErrorKind::kShape, {"'d'"});
}

TEST(WeightStore, IndexNamingMissingShard) {
  TempDir dir;
  write_shard(dir.file("s1.safetensors"), {"a"});
  write_bytes(dir.file("model.safetensors.index.json"), index_json({{"a", "s1.safetensors"}, {"b", "s2.safetensors"}}));
  expect_error([&] { WeightStore ws(dir.str()); }, ErrorKind::kIo, {"'s2.safetensors'", "does not exist"});
}

TEST(WeightStore, IndexShardPathsMustBePlainNames) {
  for (const std::string shard : {"../x.safetensors", "/abs/x.safetensors", "sub/x.safetensors", "..", ""}) {
    SCOPED_TRACE(shard);
    TempDir dir;
    write_shard(dir.file("x.safetensors"), {"a"});
    write_bytes(dir.file("model.safetensors.index.json"), index_json({{"a", shard}}));
    expect_error([&] { WeightStore ws(dir.str()); }, ErrorKind::kFormat, {"'" + shard + "'", "plain file name"});
  }
}

TEST(WeightStore, TensorInTwoShards) {
  TempDir dir;
  write_shard(dir.file("s1.safetensors"), {"a", "b"});
  write_shard(dir.file("s2.safetensors"), {"b"});
  write_bytes(dir.file("model.safetensors.index.json"),
              index_json({{"a", "s1.safetensors"}, {"b", "s2.safetensors"}}));
  expect_error([&] { WeightStore ws(dir.str()); }, ErrorKind::kFormat, {"'b'", "two shards"});
}

TEST(WeightStore, IndexedTensorMissingFromItsShard) {
  TempDir dir;
  write_shard(dir.file("s1.safetensors"), {"a"});
  write_shard(dir.file("s2.safetensors"), {"b"});
  write_bytes(dir.file("model.safetensors.index.json"),
              index_json({{"a", "s1.safetensors"}, {"ghost", "s2.safetensors"}}));
  expect_error([&] { WeightStore ws(dir.str()); }, ErrorKind::kFormat, {"'ghost'", "s2.safetensors"});
  // Listed in the wrong shard (both shards are loaded, each holds the other's tensor).
  write_bytes(dir.file("model.safetensors.index.json"), index_json({{"a", "s2.safetensors"}, {"b", "s1.safetensors"}}));
  expect_error([&] { WeightStore ws(dir.str()); }, ErrorKind::kFormat, {"'a'", "stored in"});
}

TEST(WeightStore, MalformedIndex) {
  TempDir dir;
  write_shard(dir.file("s1.safetensors"), {"a"});
  const std::string index = dir.file("model.safetensors.index.json");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"not json", "not valid JSON"},
      {"[1]", "expected a JSON object"},
      {R"({"metadata":{}})", "missing 'weight_map'"},
      {R"({"weight_map":[]})", "'weight_map' must be an object"},
      {R"({"weight_map":{"a":1}})", "must be a string"},
      {R"({"weight_map":{"a":"s1.safetensors","a":"s1.safetensors"}})", "duplicate key 'a'"},
  };
  for (const auto& [text, needle] : cases) {
    SCOPED_TRACE(text);
    write_bytes(index, text);
    expect_error([&] { WeightStore ws(dir.str()); }, ErrorKind::kFormat, {index, needle});
  }
}

TEST(WeightStore, WithoutIndexPrefersModelSafetensorsElseAllFiles) {
  TempDir dir;
  write_shard(dir.file("first.safetensors"), {"a"});
  write_shard(dir.file("second.safetensors"), {"b"});
  write_bytes(dir.file("notes.txt"), "not a checkpoint");
  EXPECT_EQ(WeightStore(dir.str()).names(), (std::vector<std::string>{"a", "b"}));

  write_shard(dir.file("model.safetensors"), {"m"});
  EXPECT_EQ(WeightStore(dir.str()).names(), (std::vector<std::string>{"m"}));
}

TEST(WeightStore, WithoutIndexDuplicateAcrossFiles) {
  TempDir dir;
  write_shard(dir.file("first.safetensors"), {"a"});
  write_shard(dir.file("second.safetensors"), {"a"});
  expect_error([&] { WeightStore ws(dir.str()); }, ErrorKind::kFormat, {"'a'", "two shards"});
}

TEST(WeightStore, EmptyOrMissingDirectory) {
  TempDir dir;
  write_bytes(dir.file("config.json"), "{}");
  expect_error([&] { WeightStore ws(dir.str()); }, ErrorKind::kIo, {dir.str(), "no checkpoint"});
  const std::string missing = dir.file("nope");
  expect_error([&] { WeightStore ws(missing); }, ErrorKind::kIo, {missing});
}

TEST(WeightStore, CorruptShardNamesTheShard) {
  TempDir dir;
  write_bytes(dir.file("model.safetensors"), std::string(5, '\0'));
  expect_error([&] { WeightStore ws(dir.str()); }, ErrorKind::kFormat, {dir.file("model.safetensors"), "too small"});
}
