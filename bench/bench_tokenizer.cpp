// Tokenizer speed: load time, single-threaded encode MB/s and tokens/s on ~1 MB of English, batch
// encode across threads, decode speed, and peak memory. Usage:
//   bench_tokenizer [TOKENIZER (default tests/data/tokenizer/deepseek_v3)] [TEXT (default english_1mb.txt.gz)]
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <sstream>
#include <thread>

#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_impl.h"

using Clock = std::chrono::steady_clock;

static double secs_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

int main(int argc, char** argv) {
  // The repository root, from this file's path (CMake compiles it by absolute path).
  std::string root = __FILE__;
  root = root.substr(0, root.rfind("/bench/"));
  const std::string data = root + "/tests/data/tokenizer";
  const std::string tok_path = argc > 1 ? argv[1] : data + "/deepseek_v3";
  const std::string text_path = argc > 2 ? argv[2] : data + "/english_1mb.txt.gz";
  const std::string text = frugal::tok::read_tokenizer_file(text_path, nullptr);  // gunzips by magic

  auto t0 = Clock::now();
  const frugal::Tokenizer tok = frugal::Tokenizer::load(tok_path);
  const double load_s = secs_since(t0);
  std::printf("load            %.3f s  (%s)\n", load_s, tok_path.c_str());

  const double mb = double(text.size()) / 1e6;
  // Cold pass (empty word cache), then the best of three warm passes.
  t0 = Clock::now();
  auto ids = tok.encode(text);
  const double cold_s = secs_since(t0);
  double best = 1e9;
  for (int r = 0; r < 3; ++r) {
    t0 = Clock::now();
    ids = tok.encode(text);
    best = std::min(best, secs_since(t0));
  }
  std::printf("encode 1 thread %.2f MB/s cold, %.2f MB/s warm; %.0f tokens/s warm (%zu tokens, %.2f MB)\n",
              mb / cold_s, mb / best, double(ids.size()) / best, ids.size(), mb);

  // Batch: the text split into lines-groups of ~4 KB, encoded on all threads.
  std::vector<std::string> docs;
  std::istringstream in(text);
  std::string line, cur;
  while (std::getline(in, line)) {
    cur += line + "\n";
    if (cur.size() > 4096) docs.push_back(std::move(cur)), cur.clear();
  }
  if (!cur.empty()) docs.push_back(cur);
  std::vector<std::string> many;
  for (int k = 0; k < 8; ++k) many.insert(many.end(), docs.begin(), docs.end());
  const double many_mb = mb * 8;
  const int hw = int(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<int> counts{1};
  for (int c = 2; c < hw; c *= 2) counts.push_back(c);
  if (hw > 1) counts.push_back(hw);
  for (int threads : counts) {
    tok.encode_batch(many, false, threads);  // warm each thread's cache
    t0 = Clock::now();
    auto out = tok.encode_batch(many, false, threads);
    const double s = secs_since(t0);
    std::printf("batch %2d threads %.2f MB/s\n", threads, many_mb / s);
  }

  t0 = Clock::now();
  const std::string back = tok.decode(ids);
  std::printf("decode          %.2f MB/s (round trip %s)\n", mb / secs_since(t0), back == text ? "exact" : "DIFFERS");

  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("peak RSS        %.1f MB\n", double(ru.ru_maxrss) / 1024.0);
  return 0;
}
