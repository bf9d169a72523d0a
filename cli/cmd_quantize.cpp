// frugal quantize IN_DIR OUT --type fp8-block|q8_0|q4_0 [--exclude REGEX]
// Writes a copy of a Hugging Face model folder with its projection weights quantized (io/quantize.h).
#include <cstdio>

#include "cli/commands.h"
#include "io/quantize.h"

namespace frugal::cli {

namespace {

void register_quantize(CLI::App& app) {
  struct Opts {
    std::string in, out, type, exclude;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* c = app.add_subcommand("quantize", "write a copy of a model with its projection weights quantized");
  c->add_option("IN_DIR", o->in, "Hugging Face model folder (F32/BF16/F16 weights)")->required();
  c->add_option("OUT", o->out, "new model folder (must not exist)")->required();
  c->add_option("--type", o->type, "fp8-block (DeepSeek-V3 128x128 scales) | q8_0 | q4_0 (GGUF blocks)")
      ->required()
      ->check(CLI::IsMember({"fp8-block", "q8_0", "q4_0"}));
  c->add_option("--exclude", o->exclude, "leave tensors whose name matches this regex unquantized");
  c->callback([o] {
    QuantizeOptions opt;
    opt.type = o->type;
    opt.exclude = o->exclude;
    const QuantizeReport r = quantize_model(o->in, o->out, opt);
    std::fprintf(stderr, "wrote %s: %lld tensors quantized to %s, %lld copied; weights %.1f MB -> %.1f MB\n",
                 o->out.c_str(), static_cast<long long>(r.quantized), o->type.c_str(), static_cast<long long>(r.copied),
                 double(r.bytes_in) / 1e6, double(r.bytes_out) / 1e6);
  });
}

}  // namespace

CommandRegistrar reg_quantize(30, &register_quantize);

}  // namespace frugal::cli
