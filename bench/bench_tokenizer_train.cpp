// BPE trainer speed: word counting MB/s on a ~10 MB corpus (english_1mb.txt.gz repeated with each
// copy's words varied, so the corpus is not just ten identical megabytes), then training to vocab
// 8192 and 32000: seconds, merges/s, peak RSS. Usage:
//   bench_tokenizer_train [TEXT (default tests/data/tokenizer/english_1mb.txt.gz)] [MB (default 10)]
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/file.h"
#include "core/sys.h"
#include "tokenizer/bpe_trainer.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/word_counter.h"

int main(int argc, char** argv) {
  std::string root = __FILE__;
  root = root.substr(0, root.rfind("/bench/"));
  const std::string text_path = argc > 1 ? argv[1] : root + "/tests/data/tokenizer/english_1mb.txt.gz";
  const double target_mb = argc > 2 ? std::atof(argv[2]) : 10.0;
  const std::string base = frugal::tok::read_tokenizer_file(text_path, nullptr);  // gunzips by magic
  std::string corpus;
  // Copy k shifts every ASCII letter by k (a rotation), so each copy adds new words.
  for (int k = 0; double(corpus.size()) < target_mb * 1e6; ++k) {
    std::string copy = base;
    for (char& c : copy) {
      if (c >= 'a' && c <= 'z') c = char('a' + (c - 'a' + k) % 26);
    }
    corpus += copy;
  }
  const std::string path = "/tmp/frugal_bench_tokenizer_train.txt";
  frugal::write_file_atomic(path, corpus);
  const double mb = double(corpus.size()) / 1e6;
  std::printf("corpus          %.1f MB  (%s, varied copies)  threads %d\n", mb, text_path.c_str(),
              frugal::num_threads());

  const frugal::tok::PreTokenizer pt = frugal::tok::deepseek_v3_pre_tokenizer();
  for (int threads : {1, 0}) {
    frugal::tok::CountOptions co;
    co.threads = threads;
    double t0 = frugal::now_seconds();
    const auto wc = frugal::tok::count_words_in_files(pt, {path}, co);
    const double s = frugal::now_seconds() - t0;
    std::printf("count words     %.2f s  %.1f MB/s  (%s)  %zu distinct words\n", s, mb / s,
                threads == 1 ? "1 thread" : "all threads", wc.counts.size());
  }
  frugal::tok::CountOptions co;
  const auto wc = frugal::tok::count_words_in_files(pt, {path}, co);
  for (int64_t vocab : {272, 8192, 32000}) {  // 272: no merges, the index set-up alone
    frugal::tok::BpeTrainOptions opt;
    opt.vocab_size = vocab;
    double t0 = frugal::now_seconds();
    const auto bpe = frugal::tok::train_bpe(wc, opt);
    const double s = frugal::now_seconds() - t0;
    t0 = frugal::now_seconds();
    const std::string j = frugal::tok::trained_tokenizer_json(bpe);
    const double sj = frugal::now_seconds() - t0;
    std::printf("train vocab %-5lld %.2f s  %zu merges  %.0f merges/s  (json %.2f s, %.1f MB)\n", (long long)vocab, s,
                bpe.merges.size(), double(bpe.merges.size()) / s, sj, double(j.size()) / 1e6);
  }
  // The whole command as the CLI runs it.
  frugal::tok::BpeTrainOptions opt;
  opt.vocab_size = 32000;
  const auto st = frugal::tok::train_tokenizer_files({path}, "/tmp/frugal_bench_tokenizer_train_out", opt);
  std::printf("end to end 32000: count %.2f s + merges %.2f s = %.2f s\n", st.count_seconds, st.merge_seconds,
              st.count_seconds + st.merge_seconds);
  std::printf("peak RSS        %.0f MB\n", double(frugal::peak_rss_bytes()) / 1e6);
  std::remove(path.c_str());
  return 0;
}
