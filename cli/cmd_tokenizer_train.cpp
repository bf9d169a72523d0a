// frugal tokenizer train --input FILE... --vocab-size N --out DIR [--min-frequency 2] [--digits grouped|individual]
//   Trains a byte-level BPE with the DeepSeek-V3 pre-tokenizer and writes DIR/tokenizer.json and
//   DIR/tokenizer_config.json (DeepSeek special tokens and chat template). Threads: the global
//   --threads option (frugal --threads 8 tokenizer train ...).
#include <cstdio>

#include "cli/commands.h"
#include "core/sys.h"
#include "tokenizer/bpe_trainer.h"

namespace frugal::cli {

void register_tokenizer(CLI::App& app) {
  struct Opts {
    std::vector<std::string> inputs;
    std::string out, digits = "grouped";
    int64_t vocab_size = 0, min_frequency = 2;
    bool quiet = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* t = app.add_subcommand("tokenizer", "tokenizer tools (train)");
  t->require_subcommand(1);
  CLI::App* c = t->add_subcommand("train", "train a byte-level BPE tokenizer (DeepSeek-V3 format) on text files");
  c->add_option("--input", o->inputs, "UTF-8 text files to train on")->required()->expected(1, -1);
  c->add_option("--vocab-size", o->vocab_size, "vocabulary size, byte tokens and special tokens included")->required();
  c->add_option("--out", o->out, "output directory (created if missing)")->required();
  c->add_option("--min-frequency", o->min_frequency, "merge only pairs seen at least this often")
      ->default_val(2)
      ->check(CLI::PositiveNumber);
  c->add_option("--digits", o->digits,
                "grouped: runs of digits split in threes, as DeepSeek-V3 (default); individual: one digit per "
                "token, as Qwen (lets a small model learn arithmetic)")
      ->check(CLI::IsMember({"grouped", "individual"}));
  c->add_flag("--quiet", o->quiet, "no progress lines");
  c->callback([o] {
    tok::BpeTrainOptions opt;
    opt.vocab_size = o->vocab_size;
    opt.min_frequency = o->min_frequency;
    opt.threads = num_threads();
    opt.progress = !o->quiet;
    opt.digits = o->digits == "individual" ? tok::DigitSplit::kIndividual : tok::DigitSplit::kGrouped;
    const tok::TrainStats st = tok::train_tokenizer_files(o->inputs, o->out, opt);
    std::fprintf(stderr, "read %.1f MB (%lld distinct words) in %.2f s, %lld merges in %.2f s\n", double(st.bytes) / 1e6,
                 (long long)st.distinct_words, st.count_seconds, (long long)st.merges, st.merge_seconds);
    if (st.vocab_size < o->vocab_size)
      std::fprintf(stderr,
                   "note: the corpus supports only %lld tokens (no pair left occurring --min-frequency %lld times); "
                   "the vocabulary is smaller than --vocab-size %lld\n",
                   (long long)st.vocab_size, (long long)o->min_frequency, (long long)o->vocab_size);
    std::printf("wrote %s/tokenizer.json and tokenizer_config.json (vocab size %lld)\n", o->out.c_str(),
                (long long)st.vocab_size);
  });
}

}  // namespace frugal::cli
