// frugal export-gguf MODEL_DIR OUT.gguf --type f32|bf16|q8_0|q4_0
// Writes a model folder as a llama.cpp `deepseek2` GGUF with its tokenizer embedded
// (io/gguf_export.h, tokenizer/gguf_vocab.h), atomically.
#include <cstdio>

#include "cli/commands.h"
#include "core/error.h"
#include "core/file.h"
#include "core/gguf_writer.h"
#include "io/gguf_export.h"
#include "io/hf_config.h"
#include "tokenizer/gguf_vocab.h"

namespace frugal::cli {

namespace {

void register_export_gguf(CLI::App& app) {
  struct Opts {
    std::string in, out, type = "f32";
    bool force = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* c = app.add_subcommand("export-gguf", "write a model folder as a llama.cpp deepseek2 GGUF file");
  c->add_option("MODEL_DIR", o->in, "Hugging Face model folder")->required();
  c->add_option("OUT", o->out, "output .gguf file")->required();
  c->add_option("--type", o->type, "f32 | bf16 | q8_0 | q4_0 (projections; norms and router stay F32)")
      ->check(CLI::IsMember({"f32", "bf16", "q8_0", "q4_0"}));
  c->add_flag("--force", o->force, "overwrite OUT if it exists");
  c->callback([o] {
    if (file_exists(o->out) && !o->force)
      fail(ErrorKind::kInvalidArgument, "{} exists (use --force to overwrite)", o->out);
    GgufWriter w;
    const int64_t n = add_gguf_model(o->in, o->type, w);
    const DeepSeekConfig cfg = load_hf_config(o->in);
    const std::string note = add_gguf_vocab(w, o->in, cfg.vocab_size, cfg.bos_token_id, cfg.eos_token_id);
    const std::string bytes = w.serialize();
    write_file_atomic(o->out, bytes);
    std::fprintf(stderr, "wrote %s: %lld tensors (%s), %.1f MB; %s\n", o->out.c_str(), static_cast<long long>(n),
                 o->type.c_str(), double(bytes.size()) / 1e6, note.c_str());
  });
}

}  // namespace

CommandRegistrar reg_export_gguf(31, &register_export_gguf);

}  // namespace frugal::cli
