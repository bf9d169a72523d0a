// frugal data prepare --tokenizer DIR --input FILE... --out DIR [--format auto|text|jsonl]
//                     [--jsonl-key text] [--doc-separator LINE] [--val-fraction 0.01]
//                     [--shard-tokens N] [--seed S] [--eos-token TOKEN] [--quiet]
//   Tokenizes text / JSONL files into token shards + index.json (src/data/prepare.h).
// frugal data inspect PATH
//   Opens a prepared directory, a shard (.bin) or a .npy of ids, checks every shard (header, CRC32,
//   ids < vocab) and prints what it holds.
#include <cstdio>

#include "cli/commands.h"
#include "core/sys.h"
#include "data/prepare.h"
#include "data/token_source.h"

namespace frugal::cli {

namespace {

void register_prepare(CLI::App* data) {
  struct Opts {
    data::PrepareOptions p;
    std::string format = "auto", separator, eos_token;
    bool quiet = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* c = data->add_subcommand("prepare", "tokenize text / JSONL files into token shards with an index.json");
  c->add_option("--tokenizer", o->p.tokenizer, "tokenizer.json (or .gz) or a directory holding one")->required();
  c->add_option("--input", o->p.inputs, "input files (text or JSONL)")->required()->expected(1, -1);
  c->add_option("--out", o->p.out_dir, "output directory (created if missing)")->required();
  c->add_option("--format", o->format, "input format: auto (by extension: .jsonl/.json -> jsonl), text or jsonl")
      ->default_val("auto")
      ->check(CLI::IsMember({"auto", "text", "jsonl"}));
  c->add_option("--jsonl-key", o->p.documents.jsonl_key, "JSONL field holding the document text")
      ->default_val("text");
  c->add_option("--doc-separator", o->separator,
                "text files: a line exactly equal to this separates documents (e.g. % for fortune files); "
                "without it one file is one document");
  c->add_option("--val-fraction", o->p.val_fraction, "fraction of documents held out for validation")
      ->default_val(0.01)
      ->check(CLI::Range(0.0, 0.999999));
  c->add_option("--shard-tokens", o->p.shard_tokens, "tokens per shard file")
      ->default_val(int64_t(100'000'000))
      ->check(CLI::PositiveNumber);
  c->add_option("--seed", o->p.seed, "seed of the train/validation split")->default_val(0);
  c->add_option("--eos-token", o->eos_token,
                "end-of-document token (default: eos_token of tokenizer_config.json, else a usual special token)");
  c->add_flag("--quiet", o->quiet, "no progress line");
  c->callback([o, c] {
    data::PrepareOptions p = o->p;
    p.documents.format = data::parse_input_format(o->format);
    if (c->count("--doc-separator")) p.documents.doc_separator = o->separator;
    if (c->count("--eos-token")) p.eos_token = o->eos_token;
    p.threads = num_threads();
    p.progress = !o->quiet;
    const data::PrepareStats st = data::prepare_data(p);
    std::printf("wrote %s: train %lld tokens (%lld documents, %lld shards), val %lld tokens (%lld documents, %lld "
                "shards); vocab %lld, eos %d; %lld empty documents skipped\n",
                p.out_dir.c_str(), (long long)st.train.tokens, (long long)st.train.documents,
                (long long)st.train.shards, (long long)st.val.tokens, (long long)st.val.documents,
                (long long)st.val.shards, (long long)st.vocab_size, st.eos_id, (long long)st.empty_documents);
    std::fprintf(stderr, "%.1f MB in %.2f s: %.0f tokens/s on %d threads\n", double(st.input_bytes) / 1e6,
                 st.seconds, st.tokens_per_second(), p.threads);
  });
}

void register_inspect_data(CLI::App* data) {
  auto path = std::make_shared<std::string>();
  CLI::App* c = data->add_subcommand("inspect", "check token data (prepared directory, .bin shard or .npy) and "
                                                "print what it holds");
  c->add_option("path", *path, "prepared directory, shard file or .npy vector")->required();
  c->callback([path] {
    const data::TokenSource train = data::TokenSource::open(*path);
    const auto val = data::TokenSource::open_val(*path);
    std::printf("%s\n", train.describe().c_str());
    if (val) std::printf("%s\n", val->describe().c_str());
    std::printf("vocab size %lld, eos id %d, largest id %d, fingerprint %08x; all checks passed\n",
                (long long)train.vocab_size(), train.eos_id(), std::max(train.max_id(), val ? val->max_id() : -1),
                train.fingerprint());
  });
}

void register_data(CLI::App& app) {
  CLI::App* data = app.add_subcommand("data", "training data tools (prepare, inspect)");
  data->require_subcommand(1);
  register_prepare(data);
  register_inspect_data(data);
}

static CommandRegistrar reg_data(20, &register_data);

}  // namespace

}  // namespace frugal::cli
