// frugal logits MODEL_DIR --ids 1,2,3 --out FILE.npy
// One forward pass over the ids; writes float32 logits of every position, shape [n_ids, vocab].
#include <cstdio>

#include "cli/commands.h"
#include "core/error.h"
#include "io/hf_loader.h"
#include "io/npy.h"
#include "model/transformer.h"

namespace frugal::cli {

void register_logits(CLI::App& app) {
  struct Opts {
    std::string model, ids, out, attn = "auto";
    bool check_tensors = false;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* c = app.add_subcommand("logits", "write the logits of every position of one forward pass (.npy)");
  c->add_option("MODEL_DIR", o->model, "Hugging Face checkpoint directory or .gguf file")->required();
  c->add_flag("--check-tensors", o->check_tensors, "scan every weight for NaN/Inf while loading (slow)");
  c->add_option("--ids", o->ids, "comma-separated token ids")->required();
  c->add_option("--out", o->out, "output .npy file, float32 [n_ids, vocab_size]")->required();
  c->add_option("--attn", o->attn, "attention form: auto|naive|absorb")
      ->check(CLI::IsMember({"auto", "naive", "absorb"}));
  c->callback([o] {
    std::vector<int32_t> ids = parse_ids(o->ids);
    LoadOptions lo;
    lo.check_finite = o->check_tensors;
    auto m = load_model(o->model, lo);
    Transformer model(m->config, m->weights);
    const int64_t T = int64_t(ids.size()), V = m->config.vocab_size;
    if (m->config.max_position_embeddings > 0 && T > m->config.max_position_embeddings)
      fail(ErrorKind::kInvalidArgument, "--ids: {} tokens exceed the model context of {} (max_position_embeddings)",
           T, m->config.max_position_embeddings);
    Tensor logits = Tensor::zeros(DType::kF32, {T, V});
    LatentKvCache cache = model.make_cache(T);
    ForwardOptions fo;
    fo.attn = o->attn == "naive" ? AttnImpl::kNaive : o->attn == "absorb" ? AttnImpl::kAbsorb : AttnImpl::kAuto;
    model.forward(ids.data(), T, cache, logits.data_as<float>(), fo);
    npy_write(o->out, logits);
    std::fprintf(stderr, "wrote %s: float32 [%lld, %lld]\n", o->out.c_str(), (long long)T, (long long)V);
  });
}

}  // namespace frugal::cli
