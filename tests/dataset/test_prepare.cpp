// `frugal data prepare` as a library call: packing with EOS, shards, index.json, the validation
// split, JSONL and separator parsing, and the bad inputs that must be clear errors.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "core/file.h"
#include "data/token_source.h"
#include "dataset_test_util.h"
#include "tokenizer/tokenizer_impl.h"

namespace frugal::data {
namespace {

using frugal::test::expect_error;
using frugal::test::read_bytes;

constexpr int32_t kEos = 3985;  // <｜end▁of▁sentence｜> of the test tokenizer

using test::all_ids;

// enc(doc_0) EOS enc(doc_1) EOS ...
std::vector<int32_t> packed(const std::vector<std::string>& docs) {
  std::vector<int32_t> out;
  for (const std::string& d : docs) {
    const auto ids = test::test_tokenizer().encode(d, false);
    out.insert(out.end(), ids.begin(), ids.end());
    out.push_back(kEos);
  }
  return out;
}

TEST(Prepare, TextFilesRoundTripWithEosAfterEveryDocument) {
  test::TempDir dir;
  const std::vector<std::string> texts = {"Hello world.\nSecond line.\n", "A dog is cute", "ünïcödé 中文 🙂\n"};
  std::vector<std::string> files;
  for (size_t i = 0; i < texts.size(); ++i)
    files.push_back(test::write_text(dir, "f" + std::to_string(i) + ".txt", texts[i]));
  PrepareOptions o = test::prepare_options(dir, files);
  o.val_fraction = 0;
  const PrepareStats st = prepare_data(o);
  EXPECT_EQ(st.documents, 3);
  EXPECT_EQ(st.eos_id, kEos);
  EXPECT_EQ(st.vocab_size, test::test_tokenizer().vocab_size());
  EXPECT_EQ(st.val.tokens, 0);
  const TokenSource src = TokenSource::open(o.out_dir);
  EXPECT_EQ(all_ids(src), packed(texts));
  EXPECT_EQ(src.eos_id(), kEos);
  EXPECT_EQ(src.vocab_size(), st.vocab_size);
  EXPECT_FALSE(TokenSource::open_val(o.out_dir).has_value());
  // Decoding the packed stream gives the documents back, EOS-separated.
  const std::string decoded = test::test_tokenizer().decode(all_ids(src), false);
  EXPECT_EQ(decoded, texts[0] + "<｜end▁of▁sentence｜>" + texts[1] + "<｜end▁of▁sentence｜>" + texts[2] +
                         "<｜end▁of▁sentence｜>");

  const auto j = nlohmann::json::parse(read_file(o.out_dir + "/index.json"));
  EXPECT_EQ(j["format"], "frugal.tokens");
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["dtype"], "uint16");
  EXPECT_EQ(j["tokenizer"]["eos_id"], kEos);
  EXPECT_EQ(j["tokenizer"]["eos_token"], "<｜end▁of▁sentence｜>");
  EXPECT_EQ(j["tokenizer"]["vocab_size"], st.vocab_size);
  ASSERT_EQ(j["shards"].size(), 1u);
  EXPECT_EQ(j["shards"][0]["file"], "train_00000.bin");
  EXPECT_EQ(j["shards"][0]["documents"], 3);
  EXPECT_EQ(j["shards"][0]["tokens"], src.size());
  EXPECT_EQ(j["shards"][0]["bytes"], int64_t(read_bytes(o.out_dir + "/train_00000.bin").size()));
  EXPECT_EQ(j["totals"]["train"]["tokens"], src.size());
  EXPECT_EQ(j["inputs"].size(), 3u);
}

TEST(Prepare, SeparatorLinesSplitDocumentsAndEmptyOnesAreSkipped) {
  test::TempDir dir;
  const std::string f = test::write_text(dir, "fortunes", "first fortune\n  -- someone\n%\nsecond\n%\n%\r\nthird");
  PrepareOptions o = test::prepare_options(dir, {f});
  o.documents.doc_separator = "%";
  o.val_fraction = 0;
  const PrepareStats st = prepare_data(o);
  EXPECT_EQ(st.documents, 3);
  EXPECT_EQ(st.empty_documents, 1);
  EXPECT_EQ(all_ids(TokenSource::open(o.out_dir)), packed({"first fortune\n  -- someone\n", "second\n", "third"}));
  // "%" inside a line is text, not a separator.
  const std::string g = test::write_text(dir, "g", "100% sure\n%\nx\n");
  o.inputs = {g};
  EXPECT_EQ(prepare_data(o).documents, 2);
}

TEST(Prepare, SmallShardsSplitDocumentsAndReadAcrossBoundaries) {
  test::TempDir dir;
  std::vector<std::string> docs;
  std::string text;
  for (int i = 0; i < 20; ++i) {
    docs.push_back("document number " + std::to_string(i) + " says hello\n");
    text += docs.back() + "%\n";
  }
  const std::string f = test::write_text(dir, "docs.txt", text);
  PrepareOptions o = test::prepare_options(dir, {f});
  o.documents.doc_separator = "%";
  o.val_fraction = 0;
  o.shard_tokens = 7;
  prepare_data(o);
  const DatasetIndex index = DatasetIndex::load(o.out_dir);
  const std::vector<int32_t> want = packed(docs);
  ASSERT_EQ(int64_t(index.shards.size()), (int64_t(want.size()) + 6) / 7);
  int64_t docs_total = 0;
  for (size_t i = 0; i < index.shards.size(); ++i) {
    EXPECT_EQ(index.shards[i].file, fmt::format("train_{:05d}.bin", i));
    EXPECT_LE(index.shards[i].tokens, 7);
    docs_total += index.shards[i].documents;
  }
  EXPECT_EQ(docs_total, 20);
  const TokenSource src = TokenSource::open(o.out_dir);
  EXPECT_EQ(all_ids(src), want);
  // Random reads across shard boundaries agree with the flat vector.
  for (int64_t pos = 0; pos < src.size(); pos += 3)
    for (int64_t n : {0, 1, 6, 7, 8, 15}) {
      if (pos + n > src.size()) continue;
      std::vector<int32_t> got(static_cast<size_t>(n));
      src.read(pos, n, got.data());
      EXPECT_EQ(got, std::vector<int32_t>(want.begin() + pos, want.begin() + pos + n)) << pos << " " << n;
    }
  expect_error([&] { int32_t x; src.read(src.size(), 1, &x); }, ErrorKind::kInvalidArgument, {"outside"});

  // Re-preparing with bigger shards removes the old shard files.
  o.shard_tokens = 1000;
  prepare_data(o);
  std::set<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(o.out_dir)) names.insert(e.path().filename().string());
  EXPECT_EQ(names, (std::set<std::string>{"index.json", "train_00000.bin"}));
  EXPECT_EQ(all_ids(TokenSource::open(o.out_dir)), want);
}

std::string many_docs_jsonl(int n) {
  std::string s;
  for (int i = 0; i < n; ++i)
    s += nlohmann::json{{"text", "doc " + std::to_string(i) + " text"}, {"id", i}}.dump() + "\n";
  return s;
}

TEST(Prepare, ValidationSplitIsSeededPerDocumentAndReproducible) {
  test::TempDir dir;
  const std::string f = test::write_text(dir, "docs.jsonl", many_docs_jsonl(200));
  PrepareOptions o = test::prepare_options(dir, {f});
  o.val_fraction = 0.1;
  o.seed = 3;
  const PrepareStats st = prepare_data(o);
  std::vector<std::string> train_docs, val_docs;
  for (int i = 0; i < 200; ++i)
    (is_val_document(i, 3, 0.1) ? val_docs : train_docs).push_back("doc " + std::to_string(i) + " text");
  ASSERT_GT(val_docs.size(), 5u);
  ASSERT_LT(val_docs.size(), 40u);
  EXPECT_EQ(st.val.documents, int64_t(val_docs.size()));
  EXPECT_EQ(st.train.documents, int64_t(train_docs.size()));
  EXPECT_EQ(all_ids(TokenSource::open(o.out_dir)), packed(train_docs));
  EXPECT_EQ(all_ids(*TokenSource::open_val(o.out_dir)), packed(val_docs));
  EXPECT_EQ(all_ids(TokenSource::open(o.out_dir, Split::kVal)), packed(val_docs));

  // Same options, same bytes; the split does not depend on shard size or threads.
  PrepareOptions o2 = o;
  o2.out_dir = dir.file("out2");
  o2.threads = 1;
  prepare_data(o2);
  for (const char* name : {"train_00000.bin", "val_00000.bin"})
    EXPECT_EQ(read_bytes(o.out_dir + "/" + name), read_bytes(o2.out_dir + "/" + name)) << name;
  o2.shard_tokens = 50;
  prepare_data(o2);
  EXPECT_EQ(all_ids(*TokenSource::open_val(o2.out_dir)), packed(val_docs));
  // Another seed, another split.
  o2.seed = 4;
  prepare_data(o2);
  EXPECT_NE(all_ids(*TokenSource::open_val(o2.out_dir)), packed(val_docs));
}

TEST(Prepare, AtLeastOneValidationDocumentAndOneTrainingDocument) {
  test::TempDir dir;
  const std::string f = test::write_text(dir, "two.jsonl", many_docs_jsonl(2));
  PrepareOptions o = test::prepare_options(dir, {f});
  o.val_fraction = 1e-9;  // no document hashes below this
  PrepareStats st = prepare_data(o);
  EXPECT_EQ(st.train.documents, 1);
  EXPECT_EQ(st.val.documents, 1);
  EXPECT_EQ(all_ids(*TokenSource::open_val(o.out_dir)), packed({"doc 1 text"}));
  o.val_fraction = 0.999999;  // both hash to val; one must train
  st = prepare_data(o);
  EXPECT_EQ(st.train.documents, 1);
  EXPECT_EQ(st.val.documents, 1);
  // One document always trains.
  o.inputs = {test::write_text(dir, "one.jsonl", many_docs_jsonl(1))};
  st = prepare_data(o);
  EXPECT_EQ(st.train.documents, 1);
  EXPECT_EQ(st.val.documents, 0);
  EXPECT_FALSE(TokenSource::open_val(o.out_dir).has_value());
}

TEST(Prepare, JsonlFieldsBlankLinesAndKeys) {
  test::TempDir dir;
  const std::string f = test::write_text(
      dir, "a.jsonl",
      "{\"text\": \"alpha\", \"meta\": {\"x\": 1}}\n\n   \n{\"text\": \"\"}\n{\"text\": \"be\\nta\"}\r\n");
  PrepareOptions o = test::prepare_options(dir, {f});
  o.val_fraction = 0;
  PrepareStats st = prepare_data(o);
  EXPECT_EQ(st.documents, 2);
  EXPECT_EQ(st.empty_documents, 1);
  EXPECT_EQ(all_ids(TokenSource::open(o.out_dir)), packed({"alpha", "be\nta"}));
  // --jsonl-key, and .json picked as JSONL by auto.
  const std::string g = test::write_text(dir, "b.json", "{\"content\": \"gamma\"}\n");
  o.inputs = {g};
  o.documents.jsonl_key = "content";
  prepare_data(o);
  EXPECT_EQ(all_ids(TokenSource::open(o.out_dir)), packed({"gamma"}));
  // Forcing text makes the whole JSONL file one document.
  o.documents.format = InputFormat::kText;
  prepare_data(o);
  EXPECT_EQ(all_ids(TokenSource::open(o.out_dir)), packed({"{\"content\": \"gamma\"}\n"}));
}

TEST(Prepare, JsonlErrorsNameFileAndLine) {
  test::TempDir dir;
  auto run = [&](const std::string& text) {
    PrepareOptions o = test::prepare_options(dir, {test::write_text(dir, "bad.jsonl", text)});
    prepare_data(o);
  };
  const std::string ok = "{\"text\": \"fine\"}\n";
  expect_error([&] { run(ok + ok + "{\"text\": \"unterminated}\n"); }, ErrorKind::kFormat,
               {"bad.jsonl:3", "not valid JSON"});
  // Nesting beyond the JSON depth limit is refused while parsing (no deep copies of it later).
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  expect_error([&] { run(ok + "{\"text\": \"x\", \"meta\": " + deep + "}\n"); }, ErrorKind::kFormat,
               {"bad.jsonl:2", "nested deeper than 64 levels", "under key 'meta'"});
  expect_error([&] { run(ok + "{\"txt\": \"x\"}\n"); }, ErrorKind::kFormat, {"bad.jsonl:2", "no \"text\" field"});
  expect_error([&] { run("\n{\"text\": 5}\n"); }, ErrorKind::kFormat, {"bad.jsonl:2", "\"text\" is a number"});
  expect_error([&] { run("[\"text\"]\n"); }, ErrorKind::kFormat, {"bad.jsonl:1", "JSON object"});
  expect_error([&] { run(ok + "{\"text\": \"a\"} trailing\n"); }, ErrorKind::kFormat, {"bad.jsonl:2"});
}

TEST(Prepare, EmptyCorpusAndBadInputsAreErrors) {
  test::TempDir dir;
  const std::string empty = test::write_text(dir, "empty.txt", "");
  expect_error([&] { prepare_data(test::prepare_options(dir, {empty, empty})); }, ErrorKind::kInvalidArgument,
               {"no documents", "2 input file(s)"});
  PrepareOptions o = test::prepare_options(dir, {test::write_text(dir, "seps.txt", "%\n%\n")});
  o.documents.doc_separator = "%";
  expect_error([&] { prepare_data(o); }, ErrorKind::kInvalidArgument, {"no documents"});
  // No index.json is left claiming a finished directory.
  EXPECT_FALSE(file_exists(o.out_dir + "/index.json"));
  expect_error([&] { prepare_data(test::prepare_options(dir, {dir.file("missing.txt")})); }, ErrorKind::kIo,
               {"missing.txt", "does not exist"});
  const std::string bin = test::write_text(dir, "blob.dat", std::string("ab\0cd", 5));
  expect_error([&] { prepare_data(test::prepare_options(dir, {bin})); }, ErrorKind::kFormat,
               {"blob.dat", "NUL byte at offset 2"});
  expect_error([&] { prepare_data(test::prepare_options(dir, {})); }, ErrorKind::kInvalidArgument, {"no input"});
  o = test::prepare_options(dir, {test::write_text(dir, "x.txt", "x")});
  o.val_fraction = 1.0;
  expect_error([&] { prepare_data(o); }, ErrorKind::kInvalidArgument, {"val fraction"});
  o.val_fraction = 0.1;
  o.out_dir = empty;
  expect_error([&] { prepare_data(o); }, ErrorKind::kIo, {"empty.txt", "not a directory"});
}

TEST(Prepare, EosTokenFromOverrideConfigOrError) {
  test::TempDir dir;
  const std::string f = test::write_text(dir, "a.txt", "hello");
  PrepareOptions o = test::prepare_options(dir, {f});
  o.eos_token = "<｜User｜>";
  EXPECT_EQ(prepare_data(o).eos_id, *test::test_tokenizer().token_to_id("<｜User｜>"));
  o.eos_token = "<nope>";
  expect_error([&] { prepare_data(o); }, ErrorKind::kConfig, {"has no token \"<nope>\""});

  // tokenizer_config.json beside tokenizer.json names the EOS.
  const std::string json = tok::read_tokenizer_file(test::tokenizer_path(), nullptr);
  const std::string tdir = dir.file("tok");
  std::filesystem::create_directories(tdir);
  test::write_text(dir, "tok/tokenizer.json", json);
  test::write_text(dir, "tok/tokenizer_config.json", "{\"eos_token\": \"<｜Assistant｜>\"}");
  o.eos_token.reset();
  o.tokenizer = tdir;
  EXPECT_EQ(prepare_data(o).eos_id, *test::test_tokenizer().token_to_id("<｜Assistant｜>"));
  test::write_text(dir, "tok/tokenizer_config.json", "{\"eos_token\": \"<|eot|>\"}");
  expect_error([&] { prepare_data(o); }, ErrorKind::kConfig, {"<|eot|>", "tokenizer_config.json"});

  // A tokenizer with none of the usual end tokens and no config: an error asking for --eos-token.
  std::string renamed = json;
  const std::string end = "end▁of▁sentence";
  for (size_t p; (p = renamed.find(end)) != std::string::npos;) renamed.replace(p, end.size(), "xx");
  const std::string ndir = dir.file("noeos");
  std::filesystem::create_directories(ndir);
  test::write_text(dir, "noeos/tokenizer.json", renamed);
  o.tokenizer = ndir;
  expect_error([&] { prepare_data(o); }, ErrorKind::kConfig, {"no end-of-sequence token", "--eos-token"});
}

}  // namespace
}  // namespace frugal::data
