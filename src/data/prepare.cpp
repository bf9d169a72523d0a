#include "data/prepare.h"

#include <algorithm>
#include <filesystem>
#include <regex>
#include <set>

#include "core/error.h"
#include "core/rng.h"
#include "core/file.h"
#include "core/progress.h"
#include "core/sys.h"
#include "data/shard_format.h"
#include "tokenizer/tokenizer_config.h"

namespace frugal::data {

namespace {

namespace fs = std::filesystem;

// Packs the documents of one split into shards of exactly shard_tokens ids (the last one shorter).
class SplitWriter {
 public:
  SplitWriter(Split split, const PrepareOptions& opt, int64_t vocab_size, int32_t eos_id,
              std::vector<ShardEntry>* entries)
      : split_(split), opt_(opt), vocab_size_(vocab_size), eos_id_(eos_id), entries_(entries) {}

  void add(const std::vector<int32_t>& ids) {
    buf_.insert(buf_.end(), ids.begin(), ids.end());
    buf_.push_back(eos_id_);
    ends_.push_back(int64_t(buf_.size()));
    while (int64_t(buf_.size()) >= opt_.shard_tokens) flush(opt_.shard_tokens);
  }
  void finish() {
    if (!buf_.empty()) flush(int64_t(buf_.size()));
  }

 private:
  Split split_;
  const PrepareOptions& opt_;
  int64_t vocab_size_;
  int32_t eos_id_;
  std::vector<ShardEntry>* entries_;
  std::vector<int32_t> buf_;  // ids not yet written
  std::vector<int64_t> ends_; // end offsets (in buf_) of the documents ending in buf_
  int shards_ = 0;

  // Writes buf_[0, n) as the next shard; documents = those whose EOS falls inside it.
  void flush(int64_t n) {
    const auto done = std::upper_bound(ends_.begin(), ends_.end(), n);
    const int64_t documents = done - ends_.begin();
    ends_.erase(ends_.begin(), done);
    for (int64_t& e : ends_) e -= n;
    ShardEntry e;
    e.file = fmt::format("{}_{:05d}.bin", split_name(split_), shards_++);
    e.split = split_;
    const ShardHeader h =
        shard_write(path_join(opt_.out_dir, e.file), buf_.data(), n, vocab_size_, eos_id_, documents);
    e.tokens = h.tokens;
    e.documents = h.documents;
    e.crc32 = h.crc32;
    e.bytes = int64_t(kShardHeaderBytes) + h.tokens * h.token_bytes;
    entries_->push_back(std::move(e));
    buf_.erase(buf_.begin(), buf_.begin() + n);
  }
};

void check_options(const PrepareOptions& opt) {
  if (opt.inputs.empty()) fail(ErrorKind::kInvalidArgument, "no input files given");
  if (!(opt.val_fraction >= 0 && opt.val_fraction < 1))
    fail(ErrorKind::kInvalidArgument, "val fraction {} must be in [0, 1)", opt.val_fraction);
  if (opt.shard_tokens < 1) fail(ErrorKind::kInvalidArgument, "shard tokens {} must be >= 1", opt.shard_tokens);
  if (opt.out_dir.empty()) fail(ErrorKind::kInvalidArgument, "no output directory given");
  if (opt.documents.doc_separator && opt.documents.doc_separator->find('\n') != std::string::npos)
    fail(ErrorKind::kInvalidArgument, "the document separator must be a single line");
  for (const std::string& in : opt.inputs) {
    if (is_directory(in)) fail(ErrorKind::kInvalidArgument, "input {} is a directory; pass files", in);
    if (!file_exists(in)) fail(ErrorKind::kIo, "input file {} does not exist", in);
  }
  if (fs::exists(opt.out_dir) && !is_directory(opt.out_dir))
    fail(ErrorKind::kIo, "output {} exists and is not a directory", opt.out_dir);
}

// Removes shard files of an earlier preparation that this one did not rewrite.
void remove_stale_shards(const std::string& dir, const std::vector<ShardEntry>& written) {
  std::set<std::string> keep;
  for (const ShardEntry& e : written) keep.insert(e.file);
  static const std::regex kShardName(R"((train|val)_[0-9]+\.bin)");
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && std::regex_match(name, kShardName) && !keep.count(name)) {
      std::error_code ec;
      fs::remove(entry.path(), ec);
    }
  }
}

}  // namespace

bool is_val_document(int64_t doc_index, uint64_t seed, double val_fraction) {
  const uint64_t h = mix64(mix64(seed) ^ uint64_t(doc_index));
  return double(h >> 11) * (1.0 / 9007199254740992.0) < val_fraction;
}

EosToken find_eos_token(const Tokenizer& tok, const std::string& tokenizer_path,
                        const std::optional<std::string>& override_token) {
  auto lookup = [&](const std::string& token, const std::string& from) {
    const auto id = tok.token_to_id(token);
    if (!id) fail(ErrorKind::kConfig, "tokenizer {} has no token \"{}\" ({})", tokenizer_path, token, from);
    return EosToken{*id, token};
  };
  if (override_token) return lookup(*override_token, "given as the EOS token");
  const fs::path dir = is_directory(tokenizer_path) ? fs::path(tokenizer_path) : fs::path(tokenizer_path).parent_path();
  const std::string config = (dir / "tokenizer_config.json").string();
  if (file_exists(config)) {
    const TokenizerConfig c = TokenizerConfig::load(config);
    if (c.eos_token) return lookup(*c.eos_token, "the eos_token of " + config);
  }
  for (const char* name : {"<｜end▁of▁sentence｜>", "<|end_of_text|>", "<|endoftext|>", "</s>", "<eos>"}) {
    const auto id = tok.token_to_id(name);
    if (id && tok.is_special(*id)) return EosToken{*id, name};
  }
  fail(ErrorKind::kConfig,
       "tokenizer {} has no end-of-sequence token: no eos_token in a tokenizer_config.json beside it and none of the "
       "usual special tokens; name one with --eos-token",
       tokenizer_path);
}

PrepareStats prepare_data(const PrepareOptions& opt) {
  check_options(opt);
  const double t0 = now_seconds();
  const Tokenizer tok = Tokenizer::load(opt.tokenizer);
  const EosToken eos = find_eos_token(tok, opt.tokenizer, opt.eos_token);
  PrepareStats st;
  st.vocab_size = tok.vocab_size();
  st.eos_id = eos.id;
  if (st.vocab_size > (int64_t(1) << 31))
    fail(ErrorKind::kUnsupported, "tokenizer {}: vocab size {} does not fit int32 ids", opt.tokenizer, st.vocab_size);
  for (const std::string& in : opt.inputs) st.input_bytes += int64_t(fs::file_size(in));

  std::error_code ec;
  fs::create_directories(opt.out_dir, ec);
  if (ec) fail(ErrorKind::kIo, "cannot create output directory {}: {}", opt.out_dir, ec.message());
  // No index while shards are being replaced: a directory is usable only once index.json is back.
  fs::remove(path_join(opt.out_dir, kIndexFile), ec);

  DatasetIndex index;
  std::error_code abs_ec;
  const fs::path tok_abs = fs::weakly_canonical(opt.tokenizer, abs_ec);
  index.tokenizer_path = abs_ec ? opt.tokenizer : tok_abs.string();
  index.vocab_size = st.vocab_size;
  index.eos_id = eos.id;
  index.eos_token = eos.token;
  index.dtype = token_dtype_name(token_bytes_for_vocab(st.vocab_size));
  index.seed = opt.seed;
  index.val_fraction = opt.val_fraction;
  index.inputs = opt.inputs;
  std::vector<ShardEntry> train_entries, val_entries;
  SplitWriter train(Split::kTrain, opt, st.vocab_size, eos.id, &train_entries);
  SplitWriter val(Split::kVal, opt, st.vocab_size, eos.id, &val_entries);

  // The last document is held back so that, at the end, it can be moved to whichever split is
  // still empty (see prepare.h).
  std::optional<std::vector<int32_t>> pending;
  int64_t pending_index = -1, train_docs = 0, val_docs = 0;
  auto route = [&](bool to_val) {
    (to_val ? val : train).add(*pending);
    (to_val ? val_docs : train_docs) += 1;
  };

  constexpr size_t kChunkBytes = size_t(1) << 20;  // text tokenized per encode_batch call
  constexpr size_t kChunkDocs = 4096;
  std::vector<std::string> texts;
  size_t chunk_bytes = 0;
  auto tokenize_chunk = [&] {
    std::vector<std::vector<int32_t>> ids = tok.encode_batch(texts, false, opt.threads);
    for (auto& d : ids) {
      if (pending) route(is_val_document(pending_index, opt.seed, opt.val_fraction));
      pending = std::move(d);
      pending_index = st.documents++;
    }
    texts.clear();
    chunk_bytes = 0;
  };

  Progress progress("prepare " + opt.out_dir, st.input_bytes >> 10, "KiB");
  int64_t bytes_before = 0;
  for (const std::string& in : opt.inputs) {
    DocumentReader reader(in, opt.documents);
    std::string doc;
    while (reader.next(doc)) {
      chunk_bytes += doc.size();
      texts.push_back(std::move(doc));
      if (chunk_bytes >= kChunkBytes || texts.size() >= kChunkDocs) {
        tokenize_chunk();
        if (opt.progress) progress.update((bytes_before + int64_t(reader.bytes_done())) >> 10);
      }
    }
    st.empty_documents += reader.empty_skipped();
    bytes_before += int64_t(reader.bytes_total());
  }
  tokenize_chunk();
  if (st.documents == 0)
    fail(ErrorKind::kInvalidArgument, "no documents in the {} input file(s) ({} empty): nothing to prepare",
         opt.inputs.size(), st.empty_documents);
  bool last_to_val = is_val_document(pending_index, opt.seed, opt.val_fraction);
  if (opt.val_fraction > 0 && st.documents >= 2 && val_docs == 0) last_to_val = true;
  if (train_docs == 0) last_to_val = false;
  route(last_to_val);
  train.finish();
  val.finish();
  if (opt.progress) {
    progress.update(st.input_bytes >> 10);
    progress.finish();
  }

  index.shards = train_entries;
  index.shards.insert(index.shards.end(), val_entries.begin(), val_entries.end());
  index.save(opt.out_dir);  // last: it commits the directory
  remove_stale_shards(opt.out_dir, index.shards);
  st.train = index.totals(Split::kTrain);
  st.val = index.totals(Split::kVal);
  st.seconds = now_seconds() - t0;
  return st;
}

}  // namespace frugal::data
