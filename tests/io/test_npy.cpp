#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>

#include "core/error.h"
#include "test_util.h"
#include "io/npy.h"

using namespace frugal;
using frugal::test::read_bytes;
using frugal::test::TempDir;
using frugal::test::write_bytes;

namespace {

// An npy file with the given version, header text (used verbatim) and data.
std::string npy_bytes(const std::string& header, const std::string& data, int major = 1) {
  std::string s("\x93NUMPY", 6);
  s += char(major);
  s += char(0);
  const size_t len_bytes = major == 1 ? 2 : 4;
  for (size_t i = 0; i < len_bytes; ++i) s += char((header.size() >> (8 * i)) & 0xff);
  return s + header + data;
}

std::string dict(const std::string& descr, const std::string& shape, const std::string& fortran = "False") {
  return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }\n";
}

void expect_error(const std::function<void()>& fn, const std::vector<std::string>& needles) {
  frugal::test::expect_error(fn, std::nullopt, needles);
}

}  // namespace

TEST(Npy, RoundTripF32) {
  TempDir dir;
  Tensor t = Tensor::zeros(DType::kF32, {2, 3, 4});
  for (int i = 0; i < 24; ++i) t.data_as<float>()[i] = float(i) * 0.5f - 3.0f;
  const std::string path = dir.file("x.npy");
  npy_write(path, t);

  const std::string bytes = read_bytes(path);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  const size_t header_len = uint8_t(bytes[8]) | (size_t(uint8_t(bytes[9])) << 8);
  EXPECT_EQ((10 + header_len) % 64, 0u);  // numpy's data alignment
  EXPECT_EQ(bytes[10 + header_len - 1], '\n');
  EXPECT_NE(bytes.find("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 4), }"), std::string::npos);

  Tensor r = npy_read(path);
  EXPECT_EQ(r.dtype(), DType::kF32);
  EXPECT_EQ(r.shape(), (Shape{2, 3, 4}));
  EXPECT_EQ(std::memcmp(r.data(), t.data(), t.nbytes()), 0);
  EXPECT_EQ(dir.count(), 1);  // the atomic write left no temp file
}

TEST(Npy, RoundTripI32AndOtherDtypes) {
  TempDir dir;
  const std::string path = dir.file("x.npy");
  for (DType dt : {DType::kI32, DType::kI64, DType::kF64, DType::kU8, DType::kF16, DType::kI8, DType::kI16,
                   DType::kU16, DType::kU32, DType::kU64, DType::kBool}) {
    SCOPED_TRACE(std::string(dtype_name(dt)));
    Tensor t = Tensor::zeros(dt, {3, 5});
    auto* b = t.data_as<uint8_t>();
    for (size_t i = 0; i < t.nbytes(); ++i) b[i] = uint8_t(dt == DType::kBool ? i % 2 : i * 37 + 11);
    npy_write(path, t);
    Tensor r = npy_read(path);
    EXPECT_EQ(r.dtype(), dt);
    EXPECT_EQ(r.shape(), (Shape{3, 5}));
    EXPECT_EQ(std::memcmp(r.data(), t.data(), t.nbytes()), 0);
  }
}

TEST(Npy, ShapesScalarOneDimAndEmpty) {
  TempDir dir;
  const std::string path = dir.file("x.npy");
  for (const Shape& shape : {Shape{}, Shape{5}, Shape{0, 3}, Shape{1, 1, 1, 1, 2}}) {
    SCOPED_TRACE(shape_str(shape));
    Tensor t = Tensor::zeros(DType::kI32, shape);
    for (int64_t i = 0; i < t.numel(); ++i) t.data_as<int32_t>()[i] = int32_t(-i - 1);
    npy_write(path, t);
    Tensor r = npy_read(path);
    EXPECT_EQ(r.shape(), shape);
    if (t.nbytes()) {
      EXPECT_EQ(std::memcmp(r.data(), t.data(), t.nbytes()), 0);
    }
  }
  EXPECT_NE(npy_serialize(Tensor::zeros(DType::kF32, {5})).find("'shape': (5,)"), std::string::npos);
  EXPECT_NE(npy_serialize(Tensor::zeros(DType::kF32, {})).find("'shape': ()"), std::string::npos);
}

TEST(Npy, NonContiguousIsWrittenInLogicalOrder) {
  Tensor m = Tensor::zeros(DType::kF32, {2, 3});
  for (int i = 0; i < 6; ++i) m.data_as<float>()[i] = float(i);
  TempDir dir;
  npy_write(dir.file("t.npy"), m.transpose(0, 1));
  Tensor r = npy_read(dir.file("t.npy"));
  EXPECT_EQ(r.shape(), (Shape{3, 2}));
  const float expected[6] = {0, 3, 1, 4, 2, 5};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(r.data_as<float>()[i], expected[i]);
}

TEST(Npy, UnsupportedDtypeOnWrite) {
  expect_error([] { npy_serialize(Tensor::zeros(DType::kBF16, {2})); }, {"BF16"});
  expect_error([] { npy_serialize(Tensor::zeros(DType::kF8E4M3, {2})); }, {"F8_E4M3"});
}

TEST(Npy, ReadsVersions2And3AndLenientSpellings) {
  TempDir dir;
  const std::string path = dir.file("v.npy");
  const std::string data("\x01\x00\x02\x00\x03\x00", 6);
  for (int major : {2, 3}) {
    write_bytes(path, npy_bytes(dict("<u2", "(3,)"), data, major));
    Tensor t = npy_read(path);
    EXPECT_EQ(t.dtype(), DType::kU16);
    EXPECT_EQ(t.data_as<uint16_t>()[2], 3);
  }
  // Double quotes, no trailing comma or newline, keys in another order, Python 2 longs.
  write_bytes(path, npy_bytes(R"({"shape": (1L, 3L), "fortran_order": False, "descr": "<f2"})", data));
  Tensor h = npy_read(path);
  EXPECT_EQ(h.dtype(), DType::kF16);
  EXPECT_EQ(h.shape(), (Shape{1, 3}));
  // One-byte types: numpy writes '|u1', and the byte order of a 1-byte type does not matter.
  for (const char* descr : {"|u1", "<u1", "|i1", "|b1"}) {
    write_bytes(path, npy_bytes(dict(descr, "(2, 3)"), data));
    EXPECT_EQ(npy_read(path).nbytes(), 6u) << descr;
  }
}

TEST(NpyFixtures, InputIds) {
  Tensor t = npy_read(std::string(FRUGAL_TEST_DATA) + "/fixtures/oracles/input_ids.npy");
  EXPECT_EQ(t.dtype(), DType::kI32);
  EXPECT_EQ(t.shape(), (Shape{2, 12}));
  EXPECT_EQ(t.data_as<int32_t>()[0], 241);
  EXPECT_EQ(t.data_as<int32_t>()[1], 160);
  for (int64_t i = 0; i < t.numel(); ++i) {
    EXPECT_GE(t.data_as<int32_t>()[i], 0);
    EXPECT_LT(t.data_as<int32_t>()[i], 256);  // micro vocab
  }
}

TEST(NpyFixtures, MicroF32Logits) {
  Tensor t = npy_read(std::string(FRUGAL_TEST_DATA) + "/fixtures/oracles/micro_f32_logits.npy");
  EXPECT_EQ(t.dtype(), DType::kF32);
  EXPECT_EQ(t.shape(), (Shape{2, 12, 256}));
  for (int64_t i = 0; i < t.numel(); ++i) ASSERT_TRUE(std::isfinite(t.data_as<float>()[i])) << i;
}

// ---------------------------------------------------------------------------------------------
// Corruptions: each must be rejected with an error that names the file.

struct NpyCorruption {
  const char* name;
  std::function<std::string()> bytes;
  std::string needle;
};

// gtest names a failing case by its parameter; print the case name, not its bytes.
void PrintTo(const NpyCorruption& c, std::ostream* os) { *os << c.name; }

class NpyCorrupt : public ::testing::TestWithParam<NpyCorruption> {};

TEST_P(NpyCorrupt, IsRejectedNamingTheFile) {
  TempDir dir;
  const std::string path = dir.file("bad.npy");
  write_bytes(path, GetParam().bytes());
  expect_error([&] { npy_read(path); }, {path, GetParam().needle});
}

namespace {
const std::string k6 = std::string(24, '\0');  // enough for (2, 3) of 4-byte elements
const std::vector<NpyCorruption> kNpyCorruptions = {
    {"EmptyFile", [] { return std::string(); }, "magic"},
    {"BadMagic", [] { return std::string("\x93NUMPZ\x01\x00\x10\x00", 10) + dict("<f4", "(2, 3)") + k6; }, "magic"},
    {"TruncatedLength", [] { return std::string("\x93NUMPY\x01\x00\x10", 9); }, "header length"},
    {"Version4", [] { return npy_bytes(dict("<f4", "(2, 3)"), k6, 4); }, "version 4.0"},
    {"HeaderPastEnd", [] { return std::string("\x93NUMPY\x01\x00\xff\x00{'descr'", 18); }, "exceeds"},
    {"HeaderNotDict", [] { return npy_bytes("['<f4', False, (2, 3)]\n", k6); }, "expected '{'"},
    {"MissingShape", [] { return npy_bytes("{'descr': '<f4', 'fortran_order': False}\n", k6); }, "must contain"},
    {"ExtraKey", [] { return npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", k6); },
     "unexpected key 'x'"},
    {"DuplicateKey",
     [] { return npy_bytes("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", k6); },
     "duplicate key 'descr'"},
    {"FortranOrder", [] { return npy_bytes(dict("<f4", "(2, 3)", "True"), k6); }, "fortran_order"},
    {"BoolNotBool", [] { return npy_bytes(dict("<f4", "(2, 3)", "0"), k6); }, "True or False"},
    {"BigEndian", [] { return npy_bytes(dict(">f4", "(2, 3)"), k6); }, "big-endian"},
    {"NoByteOrderMultiByte", [] { return npy_bytes(dict("|f4", "(2, 3)"), k6); }, "no byte order"},
    {"ComplexDtype", [] { return npy_bytes(dict("<c8", "(2, 3)"), k6); }, "'<c8' is not supported"},
    {"UnicodeDtype", [] { return npy_bytes(dict("<U4", "(2, 3)"), k6); }, "not supported"},
    {"GarbageDescr", [] { return npy_bytes(dict("f", "(2, 3)"), k6); }, "numpy type string"},
    {"DescrSizeNotNumber", [] { return npy_bytes(dict("<f4x", "(2, 3)"), k6); }, "numpy type string"},
    {"StructuredDtype",
     [] { return npy_bytes("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}", k6); },
     "structured"},
    {"NegativeDim", [] { return npy_bytes(dict("<f4", "(2, -3)"), k6); }, "negative dimension"},
    {"ShapeNotTuple", [] { return npy_bytes(dict("<f4", "[2, 3]"), k6); }, "expected '('"},
    {"ShapeOneElementNoComma", [] { return npy_bytes(dict("<f4", "(6)"), k6); }, "(n,)"},
    {"ShapeFloat", [] { return npy_bytes(dict("<f4", "(2.0, 3)"), k6); }, "expected ',' or ')'"},
    {"DimPastInt64", [] { return npy_bytes(dict("<f4", "(99999999999999999999,)"), k6); }, "does not fit int64"},
    {"ByteCountOverflow", [] { return npy_bytes(dict("<f8", "(4294967296, 4294967296)"), k6); }, "too large"},
    {"UnterminatedString", [] { return npy_bytes("{'descr: <f4}", k6); }, "unterminated string"},
    {"GarbageAfterDict", [] { return npy_bytes(dict("<f4", "(2, 3)") + "x", k6); }, "after the closing"},
    {"MissingCloseBrace", [] { return npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)", k6); },
     "expected ',' or '}'"},
    {"TruncatedData", [] { return npy_bytes(dict("<f4", "(2, 3)"), k6.substr(0, 23)); }, "truncated"},
    {"TrailingData", [] { return npy_bytes(dict("<f4", "(2, 3)"), k6 + "x"); }, "trailing bytes"},
};
}  // namespace

INSTANTIATE_TEST_SUITE_P(Table, NpyCorrupt, ::testing::ValuesIn(kNpyCorruptions),
                         [](const ::testing::TestParamInfo<NpyCorruption>& info) { return info.param.name; });

TEST(Npy, MissingFileNamesIt) {
  TempDir dir;
  const std::string path = dir.file("absent.npy");
  expect_error([&] { npy_read(path); }, {path});
}
