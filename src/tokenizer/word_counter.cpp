#include "tokenizer/word_counter.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <exception>
#include <memory>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/progress.h"

namespace frugal::tok {

// Copied from tests/data/tokenizer/deepseek_v3/tokenizer.json ("pre_tokenizer").
const char* const kDeepSeekV3PreTokenizerJson = R"JSON({"type": "Sequence", "pretokenizers": [
{"type": "Split", "pattern": {"Regex": "\\p{N}{1,3}"}, "behavior": "Isolated", "invert": false},
{"type": "Split", "pattern": {"Regex": "[一-龥぀-ゟ゠-ヿ]+"}, "behavior": "Isolated", "invert": false},
{"type": "Split", "pattern": {"Regex": "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"}, "behavior": "Isolated", "invert": false},
{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]})JSON";

std::string training_pre_tokenizer_json(DigitSplit digits) {
  nlohmann::json j = nlohmann::json::parse(kDeepSeekV3PreTokenizerJson);
  if (digits == DigitSplit::kIndividual) j["pretokenizers"][0]["pattern"]["Regex"] = "\\p{N}";
  return j.dump();
}

PreTokenizer deepseek_v3_pre_tokenizer() {
  return PreTokenizer::from_json(nlohmann::json::parse(kDeepSeekV3PreTokenizerJson), "DeepSeek-V3 pre_tokenizer");
}

void count_words(const PreTokenizer& pt, std::string_view text, WordCounts& wc) {
  std::vector<std::string_view> pieces;
  std::deque<std::string> storage;
  pt.split(text, pieces, storage);
  for (std::string_view p : pieces) {
    if (p.empty()) continue;
    auto it = wc.counts.find(std::string(p));  // TODO(perf): heterogeneous lookup
    if (it == wc.counts.end()) wc.counts.emplace(p, 1);
    else ++it->second;
  }
  wc.words += int64_t(pieces.size());
  wc.bytes += int64_t(text.size());
}

namespace {

struct File {
  std::FILE* f = nullptr;
  ~File() {
    if (f) std::fclose(f);
  }
};

// Splits [0, n) of `buf` into up to `parts` ranges ending after a newline where possible.
std::vector<std::pair<size_t, size_t>> split_ranges(std::string_view buf, size_t parts) {
  std::vector<std::pair<size_t, size_t>> out;
  size_t begin = 0;
  const size_t step = std::max<size_t>(1, buf.size() / std::max<size_t>(1, parts));
  while (begin < buf.size()) {
    size_t end = std::min(buf.size(), begin + step);
    if (end < buf.size()) {
      const size_t nl = buf.find('\n', end);
      end = nl == std::string_view::npos ? buf.size() : nl + 1;
    }
    out.emplace_back(begin, end);
    begin = end;
  }
  return out;
}

}  // namespace

WordCounts count_words_in_files(const PreTokenizer& pt, const std::vector<std::string>& files,
                                const CountOptions& opt) {
  if (files.empty()) fail(ErrorKind::kInvalidArgument, "no input files");
  int64_t total = 0;
  for (const auto& path : files) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
      fail(ErrorKind::kIo, "cannot open input file {}: {}", path, std::strerror(errno));
    if (!S_ISREG(st.st_mode)) fail(ErrorKind::kIo, "input {} is not a regular file", path);
    total += int64_t(st.st_size);
  }
  size_t threads = opt.threads > 0 ? size_t(opt.threads) : std::max(1u, std::thread::hardware_concurrency());
  threads = std::min<size_t>(threads, 64);
  const size_t block = std::max<size_t>(opt.chunk_bytes, 4096) * threads;
  std::unique_ptr<Progress> progress;
  // Megabytes for big inputs, kilobytes for small ones (the line counts whole units).
  const int64_t unit = total >= 10000000 ? 1000000 : 1000;
  if (opt.progress) progress = std::make_unique<Progress>("counting words", total / unit, unit == 1000 ? "kB" : "MB");

  WordCounts wc;
  std::vector<WordCounts> local(threads);
  std::string buf, carry;
  int64_t done = 0;
  auto process = [&](std::string_view text) {
    auto ranges = split_ranges(text, threads);
    std::vector<std::exception_ptr> errors(ranges.size());
    std::vector<std::thread> pool;
    for (size_t t = 0; t < ranges.size(); ++t) {
      auto job = [&, t] {
        try {
          count_words(pt, text.substr(ranges[t].first, ranges[t].second - ranges[t].first), local[t]);
        } catch (...) {
          errors[t] = std::current_exception();
        }
      };
      if (ranges.size() == 1) job();
      else pool.emplace_back(job);
    }
    for (auto& th : pool) th.join();
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
    for (size_t t = 0; t < ranges.size(); ++t) {
      for (auto& [w, c] : local[t].counts) wc.counts[w] += c;
      wc.words += local[t].words;
      wc.bytes += local[t].bytes;
      local[t] = WordCounts();
    }
  };
  for (const auto& path : files) {
    File f;
    f.f = std::fopen(path.c_str(), "rb");
    if (!f.f) fail(ErrorKind::kIo, "cannot open input file {}: {}", path, std::strerror(errno));
    carry.clear();
    for (;;) {
      buf = carry;
      const size_t have = buf.size();
      buf.resize(std::max(block, have + block / 2));
      const size_t n = std::fread(buf.data() + have, 1, buf.size() - have, f.f);
      if (std::ferror(f.f)) fail(ErrorKind::kIo, "cannot read input file {}: {}", path, std::strerror(errno));
      buf.resize(have + n);
      done += int64_t(n);
      const bool eof = n == 0 || std::feof(f.f);
      size_t cut = buf.size();
      if (!eof) {
        // Keep the last partial line for the next block, unless a line is longer than the block.
        const size_t nl = buf.rfind('\n');
        if (nl != std::string::npos) cut = nl + 1;
        else if (buf.size() < 8 * block) cut = 0;
      }
      carry.assign(buf, cut, std::string::npos);
      if (cut > 0) process(std::string_view(buf).substr(0, cut));
      if (progress) progress->update(done / unit);
      if (eof) {
        if (!carry.empty()) process(carry);
        break;
      }
    }
  }
  if (progress) progress->finish();
  return wc;
}

}  // namespace frugal::tok
